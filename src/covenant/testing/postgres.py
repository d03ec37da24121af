"""A throwaway PostgreSQL server run as a local process.

For tests on machines without a Docker engine: ``initdb`` into a fresh temporary
folder, ``pg_ctl start`` on a free loopback port with the Unix socket inside that
folder (so nothing touches ``/var/run/postgresql``), trust authentication for the
superuser ``postgres``, and everything removed on ``stop``.

PostgreSQL refuses to run as root. When we are root, the folder is handed to the
``postgres`` system user and the server commands run as that user; the client
commands (``createdb``) need no such care.

The server trades durability against *machine* crashes for speed (``fsync=off``):
it only ever holds test data. A crash of a client — the case the fault tests kill
— is unaffected, since every commit still reaches the server before it returns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from covenant.testing._process import free_port

_INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found; "
    "apt-get install postgresql (or pass bindir=)"
)


def find_bindir() -> Path:
    """The folder with ``initdb`` and ``pg_ctl``: ``pg_config --bindir`` first, then
    the newest ``/usr/lib/postgresql/*/bin`` (Debian keeps them off ``PATH``), then
    ``PATH``.

    Raises:
        RuntimeError: with an install hint, when there is none.
    """
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip():
            candidates.append(Path(found.stdout.strip()))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    versions.sort(key=lambda p: int(v) if (v := Path(p).parent.name).isdigit() else 0)
    candidates.extend(Path(p) for p in reversed(versions))
    initdb = shutil.which("initdb")
    if initdb is not None:
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise RuntimeError(_INSTALL_HINT)


class LocalPostgres:
    """Start and stop one throwaway server; usable as a context manager.

    Args:
        bindir: folder with the server binaries (found with ``find_bindir``).
        parent: where the temporary folder goes (default: the system's temp folder;
            when running as root it must be reachable by the ``postgres`` user).
        database: the database created at start, which ``dsn`` names.
    """

    def __init__(
        self, *, bindir: Path | None = None, parent: Path | None = None, database: str = "covenant"
    ) -> None:
        self.bindir = bindir
        self.parent = parent
        self.database = database
        self.port = 0
        self.workdir: Path | None = None
        self._as_user: dict[str, Any] = {}

    @property
    def dsn(self) -> str:
        """Connection URL of the database created at start."""
        return self.dsn_for(self.database)

    def dsn_for(self, database: str) -> str:
        """Connection URL of ``database`` on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, *, timeout_s: int = 60) -> None:
        """initdb, start, and create ``database``; idempotent while running."""
        if self.workdir is not None:
            return
        bindir = self.bindir = self.bindir or find_bindir()
        workdir = Path(tempfile.mkdtemp(prefix="covenant-pg-", dir=self.parent))
        self.workdir = workdir
        try:
            if os.geteuid() == 0:
                try:
                    user = pwd.getpwnam("postgres")
                except KeyError:
                    raise RuntimeError(
                        "PostgreSQL refuses to run as root and there is no 'postgres' user "
                        "to run it as; apt-get install postgresql creates one"
                    ) from None
                os.chown(workdir, user.pw_uid, user.pw_gid)
                self._as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
            self.port = free_port()
            data = workdir / "data"
            self._server(
                bindir / "initdb",
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
            options = (
                f"-p {self.port} -k {workdir} -c listen_addresses=127.0.0.1"
                " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
                " -c max_connections=200"
            )
            self._server(
                bindir / "pg_ctl",
                "start",
                "-w",
                "-t",
                str(timeout_s),
                "-D",
                str(data),
                "-l",
                str(workdir / "server.log"),
                "-o",
                options,
            )
            self.create_database(self.database)
        except BaseException:
            self.stop()
            raise

    def _server(self, *command: str | Path) -> None:
        done = subprocess.run(
            [str(c) for c in command],
            cwd=self.workdir,
            capture_output=True,
            text=True,
            **self._as_user,
        )
        if done.returncode != 0:
            log = self.workdir / "server.log" if self.workdir else None
            tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
            raise RuntimeError(
                f"{Path(command[0]).name} failed ({done.returncode}): {done.stderr.strip()}\n{tail}"
            )

    def create_database(self, name: str) -> str:
        """Create database ``name`` (a fresh one per test is cheap) and return its URL."""
        if self.bindir is None or self.workdir is None:
            raise RuntimeError("the server is not running; call start() first")
        done = subprocess.run(
            [
                str(self.bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                name,
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"createdb {name} failed: {done.stderr.strip()}")
        return self.dsn_for(name)

    def stop(self) -> None:
        """Stop the server at once and remove its folder; stopping twice is harmless."""
        workdir, self.workdir = self.workdir, None
        if workdir is None:
            return
        data = workdir / "data"
        if self.bindir is not None and (data / "postmaster.pid").exists():
            subprocess.run(
                [str(self.bindir / "pg_ctl"), "stop", "-m", "immediate", "-w", "-D", str(data)],
                cwd=workdir,
                capture_output=True,
                **self._as_user,
            )
        shutil.rmtree(workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
