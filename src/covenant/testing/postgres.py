"""A throwaway PostgreSQL server run as a local process.

For tests on machines without a Docker engine: ``initdb`` into a fresh temporary
folder, then the postmaster itself in the foreground (not ``pg_ctl``, which would
detach it from the process group that ``stop`` signals) on a free loopback port
with the Unix socket inside that folder (so nothing touches
``/var/run/postgresql``), trust authentication for the superuser ``postgres``,
and everything removed on ``stop``.

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
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from covenant.testing._process import free_port
from covenant.testing._service import LocalService, in_workdir

_INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, postgres) were not found; "
    "apt-get install postgresql (or pass bindir=)"
)


def find_bindir() -> Path:
    """The folder with ``initdb`` and ``postgres``: ``pg_config --bindir`` first, then
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
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    raise RuntimeError(_INSTALL_HINT)


class LocalPostgres(LocalService):
    """Start and stop one throwaway server; usable as a context manager.

    Args:
        bindir: folder with the server binaries (found with ``find_bindir``).
        parent: where the temporary folder goes (default: the system's temp folder;
            when running as root it must be reachable by the ``postgres`` user).
        database: the database created at start, which ``dsn`` names.
    """

    name = "PostgreSQL"
    start_timeout_s = 60.0
    stop_timeout_s = 30.0
    # The immediate shutdown (``pg_ctl stop -m immediate``): no checkpoint, since
    # the data is thrown away a moment later.
    stop_signal = signal.SIGQUIT

    def __init__(
        self, *, bindir: Path | None = None, parent: Path | None = None, database: str = "covenant"
    ) -> None:
        super().__init__()
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

    @property
    def output_file(self) -> Path:
        return in_workdir(self.workdir, "server.log", owner="the server")

    def prepare(self) -> None:
        """A fresh folder (handed to ``postgres`` when we are root) and initdb."""
        bindir = self.bindir = self.bindir or find_bindir()
        workdir = self.workdir = Path(tempfile.mkdtemp(prefix="covenant-pg-", dir=self.parent))
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
        self._server(
            bindir / "initdb",
            "-D",
            str(workdir / "data"),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )

    def command(self) -> list[str]:
        """The postmaster in the foreground, so stopping its group stops it."""
        if self.bindir is None or self.workdir is None:
            raise RuntimeError("prepare() first")
        settings = {
            "listen_addresses": "127.0.0.1",
            "fsync": "off",
            "full_page_writes": "off",
            "synchronous_commit": "off",
            "max_connections": "200",
        }
        return [
            str(self.bindir / "postgres"),
            "-D",
            str(self.workdir / "data"),
            "-p",
            str(self.port),
            "-k",
            str(self.workdir),
            *(arg for name, value in settings.items() for arg in ("-c", f"{name}={value}")),
        ]

    def popen_options(self) -> dict[str, Any]:
        return {"cwd": self.workdir, **self._as_user}

    def is_ready(self) -> bool:
        """What ``pg_ctl start -w`` waits for: the postmaster marks its pid file
        "ready" once it accepts connections (line 8, PostgreSQL 10 and later)."""
        if self.workdir is None:
            return False
        try:
            lines = (self.workdir / "data" / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready"

    def on_ready(self) -> None:
        self.create_database(self.database)

    def _server(self, *command: str | Path) -> None:
        done = subprocess.run(
            [str(c) for c in command],
            cwd=self.workdir,
            capture_output=True,
            text=True,
            **self._as_user,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{Path(command[0]).name} failed ({done.returncode}): {done.stderr.strip()}"
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

    def cleanup(self) -> None:
        """Remove the server's folder; the server is gone by now."""
        workdir, self.workdir = self.workdir, None
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
