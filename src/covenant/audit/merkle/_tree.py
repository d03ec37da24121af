"""The append-only tree: one ``bytearray`` per level, and the proofs served from it."""

from __future__ import annotations

from collections.abc import Iterable

from covenant.audit.merkle._hashing import (
    EMPTY_ROOT,
    HASH_SIZE,
    LEAF_PREFIX,
    NODE_PREFIX,
    SHA256,
    largest_power_of_two_below,
)


class MerkleTree:
    """An append-only RFC 9162 Merkle tree over leaf hashes.

    The tree stores leaf *hashes*, not leaf data: the audit log keeps the records, and
    the tree only has to commit to them. See the docstring of
    :mod:`covenant.audit.merkle` for the storage layout and its costs.

    Example:
        >>> tree = MerkleTree()
        >>> tree.append(b"record 0")
        >>> tree.size
        1
        >>> tree.root() == leaf_hash(b"record 0")
        True
    """

    __slots__ = ("_levels", "_root", "_size")

    def __init__(self) -> None:
        """Create an empty tree (size 0, root :data:`EMPTY_ROOT`)."""
        # _levels[k] holds, concatenated, the hashes of the complete aligned subtrees of
        # 2**k leaves, left to right; it has exactly self._size >> k entries.
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        self._root: bytes | None = EMPTY_ROOT

    @classmethod
    def from_leaf_hashes(cls, leaf_hashes: Iterable[bytes]) -> MerkleTree:
        """Build a tree from stored leaf hashes, e.g. when an auditor replays a log.

        Args:
            leaf_hashes: 32-byte leaf hashes in log order.

        Returns:
            A new tree holding those leaves.

        Raises:
            ValueError: A leaf hash is not 32 bytes long.
        """
        tree = cls()
        tree.extend(leaf_hashes)
        return tree

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, data: bytes) -> None:
        """Hash ``data`` as a leaf (``0x00`` prefix) and append it.

        Args:
            data: The leaf's bytes.
        """
        self.append_leaf_hash(SHA256(LEAF_PREFIX + data).digest())

    def append_leaf_hash(self, leaf_hash: bytes) -> None:
        """Append an already computed leaf hash.

        Completes, and hashes once, every subtree this leaf closes: one node hash per
        leaf on average, at most log2(size) for a single call.

        Args:
            leaf_hash: The 32-byte RFC 9162 leaf hash of the new leaf.

        Raises:
            ValueError: ``leaf_hash`` is not 32 bytes long.
        """
        self.extend((leaf_hash,))

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append many leaf hashes; the same result as ``append_leaf_hash`` in a loop.

        The loop body is inlined with local bindings because replaying a large log is
        the case that has to be fast; one leaf goes through here too, which costs no
        more than a call of its own would.

        Args:
            leaf_hashes: 32-byte leaf hashes in log order.

        Raises:
            ValueError: A leaf hash is not 32 bytes long; leaves before it stay appended.
        """
        levels = self._levels
        leaves = levels[0]
        sha256 = SHA256
        prefix = NODE_PREFIX
        size = self._size
        try:
            for h in leaf_hashes:
                if len(h) != HASH_SIZE:
                    raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(h)}")
                leaves += h
                size += 1
                n = size
                level = 0
                while not n & 1:
                    # An even count at this level: its last two entries form a complete
                    # subtree one level up, which is hashed now and never again.
                    below = levels[level]
                    level += 1
                    if level == len(levels):
                        levels.append(bytearray())
                    levels[level] += sha256(prefix + below[-64:]).digest()
                    n >>= 1
        finally:
            self._size = size
            self._root = None

    def leaf_hash_at(self, index: int) -> bytes:
        """Return the stored leaf hash at ``index``.

        Args:
            index: Leaf position, ``0 <= index < size``.

        Raises:
            ValueError: ``index`` is out of range.
        """
        self._check_index(index, self._size)
        return self._node(0, index)

    def root(self) -> bytes:
        """Return the root hash of the whole tree (MTH of RFC 9162 §2.1.1).

        O(log n): folds the right edge, the last entry of each level whose bit is set in
        the size, from the smallest subtree up. Cached until the next append.
        """
        root = self._root
        if root is not None:
            return root
        acc: bytes | None = None
        size = self._size
        for level, hashes in enumerate(self._levels):
            if size >> level & 1:
                edge = bytes(hashes[-HASH_SIZE:])
                acc = edge if acc is None else SHA256(NODE_PREFIX + edge + acc).digest()
        root = EMPTY_ROOT if acc is None else acc
        self._root = root
        return root

    def root_at(self, size: int) -> bytes:
        """Return the root the tree had when it held its first ``size`` leaves.

        Computed from the stored complete subtrees, which makes it O(log n); this is
        what serves a consistency check against an old checkpoint.

        Args:
            size: A past or current tree size, ``0 <= size <= self.size``.

        Raises:
            ValueError: ``size`` is negative or larger than the tree.
        """
        self._check_size(size)
        if size == self._size:
            return self.root()
        if size == 0:
            return EMPTY_ROOT
        return self._subtree_hash(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Return the audit path of leaf ``index`` in the tree of the first ``size`` leaves.

        PATH(m, D[n]) of RFC 9162 §2.1.3.1, ordered from the leaf's sibling up to the
        child of the root, as :func:`verify_inclusion` consumes it.

        Args:
            index: The leaf, ``0 <= index < size``.
            size: The tree size the proof is for, ``1 <= size <= self.size``.

        Raises:
            ValueError: ``index`` or ``size`` is out of range.
        """
        self._check_size(size)
        self._check_index(index, size)
        path: list[bytes] = []
        start, end = 0, size
        # Walk down from the root; collect each sibling, then reverse into leaf-first order.
        while end - start > 1:
            mid = start + largest_power_of_two_below(end - start)
            if index < mid:
                path.append(self._subtree_hash(mid, end))
                end = mid
            else:
                path.append(self._subtree_hash(start, mid))
                start = mid
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """Return the proof that the first ``old_size`` leaves are a prefix of ``new_size``.

        PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 9162 §2.1.4.1. For
        ``old_size == 0`` or ``old_size == new_size`` the proof is empty, which is what
        :func:`verify_consistency` expects in those trivial cases.

        Args:
            old_size: The earlier tree size, ``0 <= old_size <= new_size``.
            new_size: The later tree size, ``new_size <= self.size``.

        Raises:
            ValueError: The sizes are out of range or out of order.
        """
        self._check_size(new_size)
        self._check_size(old_size)
        if old_size > new_size:
            raise ValueError(f"old size {old_size} is larger than new size {new_size}")
        if old_size == 0 or old_size == new_size:
            return []
        proof: list[bytes] = []
        start, end = 0, new_size
        m = old_size  # the old tree's leaf count inside [start, end)
        complete = True  # SUBPROOF's b: is [start, start + m) the whole old tree?
        while True:
            n = end - start
            if m == n:
                if not complete:
                    proof.append(self._subtree_hash(start, end))
                break
            k = largest_power_of_two_below(n)
            if m <= k:
                proof.append(self._subtree_hash(start + k, end))
                end = start + k
            else:
                proof.append(self._subtree_hash(start, start + k))
                start += k
                m -= k
                complete = False
        proof.reverse()
        return proof

    def _node(self, level: int, index: int) -> bytes:
        """Return stored entry ``index`` of ``level`` (a complete subtree) as bytes."""
        offset = index * HASH_SIZE
        return bytes(self._levels[level][offset : offset + HASH_SIZE])

    def _subtree_hash(self, start: int, end: int) -> bytes:
        """Return MTH(D[start:end]) for ``0 <= start < end <= self.size``.

        A complete aligned subtree (a power-of-two length starting at a multiple of it)
        is one stored slice. Anything else is split as the RFC splits it; for the ranges
        the RFC recursion produces, the left part is always a stored subtree and only
        the right edge recurses, so this is O(log n).
        """
        n = end - start
        if not n & (n - 1) and not start % n:
            return self._node(n.bit_length() - 1, start // n)
        mid = start + largest_power_of_two_below(n)
        return SHA256(
            NODE_PREFIX + self._subtree_hash(start, mid) + self._subtree_hash(mid, end)
        ).digest()

    def _check_size(self, size: int) -> None:
        """Raise ValueError unless ``0 <= size <= self.size``."""
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= self._size:
            raise ValueError(f"size {size!r} is outside 0..{self._size} (the tree's size)")

    @staticmethod
    def _check_index(index: int, size: int) -> None:
        """Raise ValueError unless ``0 <= index < size``."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
            raise ValueError(f"leaf index {index!r} is outside a tree of size {size}")

    def __repr__(self) -> str:
        """Show the size and root, which is all that identifies a tree state."""
        return f"MerkleTree(size={self._size}, root={self.root().hex()})"
