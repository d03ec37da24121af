"""The hash functions of RFC 9162 §2.1, domain separated for leaves and interior nodes."""

from __future__ import annotations

import hashlib
from typing import Final

HASH_SIZE: Final = 32
"""Length in bytes of every leaf hash, node hash and root (SHA-256)."""

EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
"""MTH({}) of RFC 9162 §2.1.1: the root of a tree with no leaves."""

LEAF_PREFIX: Final = b"\x00"
NODE_PREFIX: Final = b"\x01"
# Bound once so the hot loops skip the module attribute lookup; an immutable reference.
SHA256: Final = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 9162 leaf hash ``SHA-256(0x00 || data)``.

    Args:
        data: The leaf's bytes; for Covenant, the canonical digest of an audit record.

    Returns:
        The 32-byte leaf hash.
    """
    return SHA256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash ``SHA-256(0x01 || left || right)``.

    Args:
        left: Hash of the left subtree.
        right: Hash of the right subtree.

    Returns:
        The 32-byte node hash.
    """
    return SHA256(NODE_PREFIX + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """Return the RFC's split point ``k``: the largest power of two strictly below ``n``.

    Args:
        n: A count of leaves, at least 2.
    """
    return 1 << ((n - 1).bit_length() - 1)
