"""Who owns a consumer group on the embedded log, and fencing the one who lost it.

One row per group in ``group_owner`` names the live member and a generation
number. A member takes over when the owner's process is gone (checked by pid:
every member is on this machine) or its heartbeat is older than ``LEASE_MS``.
Each commit checks the generation inside its own transaction, so a stale owner
can never write, however late it notices.
"""

from __future__ import annotations

import os
import socket
import sqlite3

from covenant.bus.sqlite._connection import Transaction, now_ms
from covenant.errors import FencedError

LEASE_MS = 15_000


class Membership:
    """One member's claim on ``group``; its generation is set by ``try_acquire``."""

    def __init__(self, group: str, member: str) -> None:
        self.group = group
        self.member = member
        self.generation = -1
        self._last_heartbeat = 0

    def try_acquire(self, conn: sqlite3.Connection) -> bool:
        """Take the group unless a live member holds a fresh lease on it."""
        with Transaction(conn):
            row = conn.execute(
                "SELECT host, pid, generation, heartbeat_ms FROM group_owner WHERE group_id = ?",
                (self.group,),
            ).fetchone()
            generation = 0
            if row is not None:
                host, pid, generation, heartbeat = row
                if _alive(host, int(pid)) and now_ms() - int(heartbeat) < LEASE_MS:
                    return False
            self.generation = int(generation) + 1
            conn.execute(
                "INSERT OR REPLACE INTO group_owner VALUES (?, ?, ?, ?, ?, ?)",
                (
                    self.group,
                    self.member,
                    socket.gethostname(),
                    os.getpid(),
                    self.generation,
                    now_ms(),
                ),
            )
            self._last_heartbeat = now_ms()
            return True

    def heartbeat(self, conn: sqlite3.Connection) -> None:
        """Renew the lease, at most every fifth of it; raises ``FencedError`` when
        another member took the group meanwhile."""
        now = now_ms()
        if now - self._last_heartbeat < LEASE_MS // 5:
            return
        with Transaction(conn):
            self.check(conn)
            conn.execute(
                "UPDATE group_owner SET heartbeat_ms = ? WHERE group_id = ?", (now, self.group)
            )
        self._last_heartbeat = now

    def check(self, conn: sqlite3.Connection) -> None:
        """Inside the caller's transaction: raise ``FencedError`` unless we still
        own the group."""
        row = conn.execute(
            "SELECT generation FROM group_owner WHERE group_id = ?", (self.group,)
        ).fetchone()
        if row is None or int(row[0]) != self.generation:
            raise FencedError(
                f"group {self.group!r} was taken over by another member (generation "
                f"{None if row is None else row[0]}, ours {self.generation})"
            )

    def release(self, conn: sqlite3.Connection) -> None:
        """Give the group up, if it is still ours, so a successor need not wait."""
        with Transaction(conn):
            conn.execute(
                "DELETE FROM group_owner WHERE group_id = ? AND generation = ?",
                (self.group, self.generation),
            )


def _alive(host: str, pid: int) -> bool:
    """Whether a group owner still runs; owners on another host count as alive and
    fall back to the heartbeat lease."""
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
