"""API keys: an "admin" key that may change the gallery and a "recognize" key that may only ask questions.

Keys come from ``FACEPRINT_ADMIN_KEY`` / ``FACEPRINT_RECOGNIZE_KEY`` or a JSON/TOML file named by
``FACEPRINT_API_KEYS_FILE`` (``{"admin": "...", "recognize": "..."}``); ``generate_key_file`` writes a fresh pair.
The file may also give keys that act only on one collection of the gallery:
``{"collections": {"staff": {"admin": "...", "recognize": "..."}}}``."""

from __future__ import annotations

import hmac
import json
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceprint.errors import InvalidCollectionError
from faceprint.gallery.collections import check_collection
from faceprint.web.settings import ConfigurationError

ADMIN = "admin"
RECOGNIZE = "recognize"
ROLES = (ADMIN, RECOGNIZE)
MIN_KEY_LENGTH = 16


@dataclass(frozen=True)
class ApiKeys:
    """The configured keys by role; no keys at all means the API is open (development on loopback)."""

    keys: Mapping[str, str]
    collections: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Keys that act only on one collection: collection -> role -> key."""

    @property
    def configured(self) -> bool:
        return bool(self.keys) or bool(self.collections)

    def role_of(self, key: str) -> str | None:
        """The role of ``key`` (compared in constant time), or None for an unknown key."""
        found = None
        for role, expected in self.keys.items():
            if hmac.compare_digest(key.encode(), expected.encode()):
                found = role
        return found

    def collection_role_of(self, key: str) -> tuple[str, str] | None:
        """The collection and role of a key that acts on one collection only, or None."""
        found = None
        for collection, roles in self.collections.items():
            for role, expected in roles.items():
                if hmac.compare_digest(key.encode(), expected.encode()):
                    found = (collection, role)
        return found

    def known(self, key: str) -> bool:
        """Whether ``key`` is any configured key, of the whole gallery or of one collection."""
        return self.role_of(key) is not None or self.collection_role_of(key) is not None


def _check(role: str, key: Any, where: str) -> str:
    if not isinstance(key, str) or len(key.strip()) < MIN_KEY_LENGTH:
        raise ConfigurationError(f"the {role} key in {where} must be text of at least {MIN_KEY_LENGTH} characters")
    return key.strip()


def read_key_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """The keys of a JSON or TOML file with ``admin`` and/or ``recognize`` members."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"cannot read the API key file {path}: {error.strerror}") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"the API key file {path} is not valid {path.suffix[1:] or 'JSON'}: {error}") from None
    if not isinstance(data, dict) or not set(data) & {*ROLES, "collections"}:
        raise ConfigurationError(f"the API key file {path} must hold an object with 'admin' and/or 'recognize' keys")
    unknown = set(data) - {*ROLES, "collections"}
    if unknown:
        raise ConfigurationError(f"the API key file {path} has unknown members: {', '.join(sorted(unknown))}")
    return {role: _check(role, key, str(path)) for role, key in data.items() if role in ROLES}


def read_collection_keys(path: str | os.PathLike[str]) -> dict[str, dict[str, str]]:
    """The ``collections`` member of a key file: collection -> role -> key, each name and key checked."""
    path = Path(path).expanduser()
    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    members = data.get("collections", {})
    if not isinstance(members, dict):
        raise ConfigurationError(f"'collections' in the API key file {path} must map collection names to keys")
    result: dict[str, dict[str, str]] = {}
    for name, roles in members.items():
        try:
            collection = check_collection(name)
        except InvalidCollectionError as error:
            raise ConfigurationError(f"the API key file {path}: {error.message}") from None
        if not isinstance(roles, dict) or not roles or set(roles) - set(ROLES):
            raise ConfigurationError(
                f"the API key file {path}: collection {name!r} must hold 'admin' and/or 'recognize' keys"
            )
        result[collection] = {role: _check(role, key, f"{path} (collection {name})") for role, key in roles.items()}
    return result


def load_keys(settings: Mapping[str, Any]) -> ApiKeys:
    """The keys from the settings (``FACEPRINT_API_KEYS_FILE`` first, then the single-key variables)."""
    keys: dict[str, str] = {}
    collections: dict[str, dict[str, str]] = {}
    if settings.get("FACEPRINT_API_KEYS_FILE"):
        keys.update(read_key_file(settings["FACEPRINT_API_KEYS_FILE"]))
        collections = read_collection_keys(settings["FACEPRINT_API_KEYS_FILE"])
    for role, variable in ((ADMIN, "FACEPRINT_ADMIN_KEY"), (RECOGNIZE, "FACEPRINT_RECOGNIZE_KEY")):
        if settings.get(variable):
            keys[role] = _check(role, settings[variable], variable)
    if len(keys) == 2 and keys[ADMIN] == keys[RECOGNIZE]:
        raise ConfigurationError("the admin and recognize keys must differ")
    every = [*keys.values(), *(key for roles in collections.values() for key in roles.values())]
    if len(set(every)) != len(every):
        raise ConfigurationError("every API key must differ: one key is given for two roles or collections")
    return ApiKeys(keys, collections)


def default_key_file() -> Path:
    """``keys.json`` in the per-user data folder (``$XDG_DATA_HOME/faceprint`` or ~/.local/share/faceprint)."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "faceprint" / "keys.json"


def generate_key_file(path: Path | None = None) -> Path:
    """Write a new admin and recognize key to ``path`` (readable by this user only) unless it exists."""
    path = path or default_key_file()
    if path.exists():
        read_key_file(path)  # refuse to run on a damaged file rather than overwrite it
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = {role: secrets.token_urlsafe(32) for role in ROLES}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(keys, handle, indent=2)
        handle.write("\n")
    return path
