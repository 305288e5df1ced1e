"""A throw-away PostgreSQL 16 + pgvector server for tests, from the binaries inside the PyPI ``pgserver`` wheel.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` system user (created if
missing). It listens on 127.0.0.1 only, on a free port, with its socket and data in a private temporary folder
that ``stop`` deletes. Under pytest-xdist each worker starts its own server."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SERVER_OPTIONS = (
    # Durability is pointless for a test server that is deleted afterwards; this makes every commit cheap.
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 -c shared_buffers=32MB"
)


class ServerError(RuntimeError):
    """The test server could not be started; the message carries its log."""


def pgserver_bin() -> Path:
    """The ``bin`` folder of the PostgreSQL build inside the installed ``pgserver`` package (not imported)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ServerError("the pgserver package is not installed: pip install -e '.[dev]'")
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (bin_dir / tool).is_file():
            raise ServerError(f"{bin_dir / tool} is missing from the pgserver package")
    return bin_dir


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ensure_postgres_user() -> pwd.struct_passwd:
    """The ``postgres`` system user, created if this machine has none (tolerating a parallel creation)."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam("postgres")
    result = subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "postgres"],
        capture_output=True,
        text=True,
    )
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise ServerError(f"could not create the postgres user: {result.stderr.strip()}") from None


class PostgresServer:
    """One PostgreSQL server in a temporary folder; ``start`` then ``url``; ``stop`` removes everything."""

    def __init__(self) -> None:
        self.bin = pgserver_bin()
        self.user = ensure_postgres_user() if os.geteuid() == 0 else None
        # Under /tmp, short: the server's unix socket lives here too, and socket paths are limited to ~100 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="fp-pg-", dir="/tmp"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.started = False

    def _run(self, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run a PostgreSQL tool, as the postgres user when we are root."""
        kwargs: dict = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        kwargs["env"] = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        command = [str(arg) for arg in args]
        return subprocess.run(command, capture_output=True, text=True, cwd=self.root, timeout=timeout, **kwargs)

    def log_text(self) -> str:
        """The server's log so far (for failure messages)."""
        try:
            return self.log.read_text(errors="replace")[-6000:]
        except OSError:
            return "(no server log was written)"

    def start(self) -> None:
        """initdb, then pg_ctl start on a free port (retrying if another process took the port meanwhile)."""
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
            os.chmod(self.root, 0o700)
            if self._run(self.bin / "postgres", "--version").returncode != 0:
                # The postgres user cannot reach the virtualenv (e.g. a private home): use a copy it can read,
                # keeping the layout the binaries' RPATH expects ($ORIGIN/../../../pgserver.libs).
                package = self.bin.parent.parent
                copy = self.root / "site"
                shutil.copytree(package / "pginstall", copy / "pgserver" / "pginstall", symlinks=True)
                if (package.parent / "pgserver.libs").is_dir():
                    shutil.copytree(package.parent / "pgserver.libs", copy / "pgserver.libs", symlinks=True)
                for path in [copy, *copy.rglob("*")]:
                    os.lchown(path, self.user.pw_uid, self.user.pw_gid)
                self.bin = copy / "pgserver" / "pginstall" / "bin"
        result = self._run(
            self.bin / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "-N"
        )
        if result.returncode != 0:
            raise ServerError(f"initdb failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        for _attempt in range(5):
            self.port = free_port()
            options = f"-h 127.0.0.1 -p {self.port} -k {self.root} {SERVER_OPTIONS}"
            pg_ctl = (self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options)
            result = self._run(*pg_ctl, "-w", "-t", "60", "start")
            if result.returncode == 0:
                self.started = True
                return
            if "could not bind" not in self.log_text() and "already in use" not in self.log_text():
                break
            time.sleep(0.5)
        raise ServerError(
            f"pg_ctl start failed ({result.returncode}): {result.stdout}\n{result.stderr}\n"
            f"--- server log {self.log} ---\n{self.log_text()}"
        )

    def url(self, database: str = "postgres") -> str:
        """A URL for a database of this server, as the ``postgres`` superuser."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server (fast mode) and delete its folder."""
        try:
            if self.started:
                self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop", timeout=60)
                self.started = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
