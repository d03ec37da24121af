"""Key → partition, the same way the Kafka Java client does it.

Both logs use Kafka's murmur2, so a subject lands in the same partition number on
the embedded log and on Kafka and an export from one lines up with the other.
This version unpacks the 4-byte words in one call; it is about twice as fast as
aiokafka's pure-Python one on the hot path of every write, and a unit test checks
it against aiokafka's on random keys.
"""

from __future__ import annotations

import struct

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (``org.apache.kafka.common.utils.Utils.murmur2``), unsigned."""
    length = len(data)
    h = 0x9747B28C ^ length
    words = length // 4
    for k in struct.unpack_from(f"<{words}I", data):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = words * 4
    extra = length - tail
    if extra == 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra >= 1:
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default partition for a non-null key."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions
