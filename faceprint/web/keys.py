"""API keys: an "admin" key that may change the gallery and a "recognize" key that may only ask questions.

Keys come from ``FACEPRINT_ADMIN_KEY`` / ``FACEPRINT_RECOGNIZE_KEY`` or a JSON/TOML file named by
``FACEPRINT_API_KEYS_FILE`` (``{"admin": "...", "recognize": "..."}``); ``generate_key_file`` writes a fresh pair."""

from __future__ import annotations

import hmac
import json
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceprint.web.settings import ConfigurationError

ADMIN = "admin"
RECOGNIZE = "recognize"
ROLES = (ADMIN, RECOGNIZE)
MIN_KEY_LENGTH = 16


@dataclass(frozen=True)
class ApiKeys:
    """The configured keys by role; no keys at all means the API is open (development on loopback)."""

    keys: Mapping[str, str]

    @property
    def configured(self) -> bool:
        return bool(self.keys)

    def role_of(self, key: str) -> str | None:
        """The role of ``key`` (compared in constant time), or None for an unknown key."""
        found = None
        for role, expected in self.keys.items():
            if hmac.compare_digest(key.encode(), expected.encode()):
                found = role
        return found


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
    if not isinstance(data, dict) or not set(data) & set(ROLES):
        raise ConfigurationError(f"the API key file {path} must hold an object with 'admin' and/or 'recognize' keys")
    unknown = set(data) - set(ROLES)
    if unknown:
        raise ConfigurationError(f"the API key file {path} has unknown members: {', '.join(sorted(unknown))}")
    return {role: _check(role, key, str(path)) for role, key in data.items()}


def load_keys(settings: Mapping[str, Any]) -> ApiKeys:
    """The keys from the settings (``FACEPRINT_API_KEYS_FILE`` first, then the single-key variables)."""
    keys: dict[str, str] = {}
    if settings.get("FACEPRINT_API_KEYS_FILE"):
        keys.update(read_key_file(settings["FACEPRINT_API_KEYS_FILE"]))
    for role, variable in ((ADMIN, "FACEPRINT_ADMIN_KEY"), (RECOGNIZE, "FACEPRINT_RECOGNIZE_KEY")):
        if settings.get(variable):
            keys[role] = _check(role, settings[variable], variable)
    if len(keys) == 2 and keys[ADMIN] == keys[RECOGNIZE]:
        raise ConfigurationError("the admin and recognize keys must differ")
    return ApiKeys(keys)


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
