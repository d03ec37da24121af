"""Topics, committed offsets and consumer groups, through one admin client.

One long-lived client, started on first use (like the end-offsets reader): a
client per call cost a connection and a metadata round trip each time, and drain
polling asks many times a second. Its start waits for an unreachable broker
(``Reconnect``). Names here are the broker-side ones; the bus maps them to and
from its namespace.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from covenant.bus.kafka._connect import Reconnect, start_or_close


class Admin:
    """The bus's admin client.

    Args:
        bootstrap: ``host:port[,host:port]``.
        client_id: shows in broker logs and metrics.
        reconnect: how its start waits for the broker.
    """

    def __init__(self, bootstrap: str, client_id: str, reconnect: Reconnect) -> None:
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._reconnect = reconnect
        self._client: AIOKafkaAdminClient | None = None

    async def _started(self) -> AIOKafkaAdminClient:
        if self._client is None:
            self._client = await self._reconnect.run(self._start, what="start the admin client")
        return self._client

    async def _start(self) -> AIOKafkaAdminClient:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, client_id=self._client_id)
        await start_or_close(admin.start, admin.close)
        return admin

    async def create_missing(self, topics: Sequence[NewTopic]) -> None:
        """Create those of ``topics`` the cluster lacks; existing ones are left as
        they are, whatever their settings."""
        admin = await self._started()
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        if missing:
            # Another process may win the race; its declaration is the same.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)

    async def committed(self, group: str) -> dict[Any, Any]:
        """The group's committed offsets: ``TopicPartition`` → ``OffsetAndMetadata``."""
        admin = await self._started()
        return dict(await admin.list_consumer_group_offsets(group))

    async def groups(self) -> list[str]:
        """Every consumer group's broker-side name."""
        admin = await self._started()
        return [str(g[0]) for g in await admin.list_consumer_groups()]

    async def close(self) -> None:
        """Close the client if it was started; closing twice is harmless."""
        if self._client is not None:
            admin, self._client = self._client, None
            await admin.close()
