"""The embedded log: an append-only, partitioned log in one SQLite file (WAL).

Why SQLite: one file, no server, safe for several processes on one machine, and a
transaction that covers both "append these outputs" and "store this offset" is
exactly the atomic consume→produce the runtime needs.

Design choices, written down because they are promises:

* Durability: ``synchronous=FULL`` — ``publish`` returns after the commit is on disk.
* Ordering: per (topic, partition); offsets are dense and assigned under the
  write lock (``BEGIN IMMEDIATE``), so there are no gaps and no reordering.
* Groups: one live member owns *all* partitions of a group (embedded means one
  machine; parallelism comes from Kafka). Ownership is a row with a generation
  number; a new member takes over when the owner's process is gone (checked by
  pid, since every member is on this machine) or its heartbeat is older than the
  lease. ``commit`` checks the generation inside its transaction, so a stale
  owner is fenced and can never write.
* Calls run on the event loop thread: they are short, local transactions; a
  writer waits for the lock at most ``busy_timeout_ms``.

The modules, one concept each: ``_connection`` (the schema, the pragmas and the
write transaction), ``_log`` (appending and fetching rows), ``_publish`` (group
commit of concurrent publishes), ``_bus`` (the ``Bus``), ``_membership`` (group
ownership and fencing) and ``_consumer`` (the group member).
"""

from __future__ import annotations

from covenant.bus.sqlite._bus import SqliteBus
from covenant.bus.sqlite._consumer import SqliteGroupConsumer
from covenant.bus.sqlite._membership import LEASE_MS

__all__ = ["LEASE_MS", "SqliteBus", "SqliteGroupConsumer"]
