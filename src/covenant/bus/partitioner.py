"""Key → partition, the same way the Kafka Java client does it.

Both logs use murmur2 so a subject lands in the same partition number on the
embedded log and on Kafka; an export from one lines up with the other.
"""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default partition for a non-null key."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions
