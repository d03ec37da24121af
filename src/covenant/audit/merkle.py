"""RFC 9162 Merkle tree hashing for Covenant's append-only audit log.

Every audit record's SHA-256 digest is a leaf of one append-only Merkle tree, the same
construction Certificate Transparency v2 uses (RFC 9162 §2.1), so that a signed
checkpoint (tree size + root hash) commits to the whole history and auditors can check
two things without trusting the log operator:

* *inclusion*: a given record is in the tree a checkpoint names (§2.1.3);
* *consistency*: a later checkpoint extends an earlier one, i.e. nothing that was
  logged has been rewritten or dropped since (§2.1.4).

Hashing is domain separated so that a leaf can never be passed off as an interior node
(the second-preimage attack on naive Merkle trees)::

    leaf hash  = SHA-256(0x00 || leaf bytes)
    node hash  = SHA-256(0x01 || left || right)
    empty root = SHA-256("")

Storage choice: :class:`MerkleTree` keeps one contiguous ``bytearray`` per tree level.
Level 0 holds every leaf hash; level ``k`` holds the hash of every *complete*, aligned
subtree of ``2**k`` leaves, appended the moment its last leaf arrives. That costs about
two hashes (64 bytes) per leaf in total, with no per-hash Python object, and buys:

* ``append`` in amortized O(1) node hashes (each node is hashed exactly once, ever);
* ``root()`` in O(log n): the right edge of the tree is the last entry of every level
  whose bit is set in the tree size, so the root is a fold over at most 64 hashes;
* ``root_at``, ``inclusion_proof`` and ``consistency_proof`` in O(log n) for any past
  size, because every subtree the RFC recursion asks for is either a stored complete
  subtree (one slice) or a right edge built from O(log n) of them.

The verification functions at the bottom need nothing but the proof and the checkpoint
values, so an auditor can run them with no copy of the log.

The tree is not thread safe; the audit writer owns it from one task.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Final

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleTree",
    "ProofError",
    "leaf_hash",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE: Final = 32
"""Length in bytes of every leaf hash, node hash and root (SHA-256)."""

EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
"""MTH({}) of RFC 9162 §2.1.1: the root of a tree with no leaves."""

_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"
# Bound once so the hot loops skip the module attribute lookup; an immutable reference.
_sha256: Final = hashlib.sha256


class ProofError(ValueError):
    """A Merkle proof, or the checkpoint values it is checked against, did not verify.

    The message names the check that failed (a size out of range, a node of the wrong
    length, too many or too few proof nodes, or the recomputed root differing from the
    expected one), because "proof invalid" alone gives an auditor nothing to act on.
    """


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 9162 leaf hash ``SHA-256(0x00 || data)``.

    Args:
        data: The leaf's bytes; for Covenant, the canonical digest of an audit record.

    Returns:
        The 32-byte leaf hash.
    """
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash ``SHA-256(0x01 || left || right)``.

    Args:
        left: Hash of the left subtree.
        right: Hash of the right subtree.

    Returns:
        The 32-byte node hash.
    """
    return _sha256(_NODE_PREFIX + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """Return the RFC's split point ``k``: the largest power of two strictly below ``n``.

    Args:
        n: A count of leaves, at least 2.
    """
    return 1 << ((n - 1).bit_length() - 1)


def _check_hash(value: bytes, what: str) -> None:
    """Raise ProofError unless ``value`` is a 32-byte hash; ``what`` names it."""
    if not isinstance(value, bytes | bytearray | memoryview) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes of SHA-256, got {value!r:.80}")


def _check_count(value: int, what: str) -> None:
    """Raise ProofError unless ``value`` is a non-negative int; ``what`` names it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProofError(f"{what} must be a non-negative integer, got {value!r}")


class MerkleTree:
    """An append-only RFC 9162 Merkle tree over leaf hashes.

    The tree stores leaf *hashes*, not leaf data: the audit log keeps the records, and
    the tree only has to commit to them. See the module docstring for the storage
    layout and its costs.

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
        self.append_leaf_hash(_sha256(_LEAF_PREFIX + data).digest())

    def append_leaf_hash(self, leaf_hash: bytes) -> None:
        """Append an already computed leaf hash.

        Completes, and hashes once, every subtree this leaf closes: one node hash per
        leaf on average, at most log2(size) for a single call.

        Args:
            leaf_hash: The 32-byte RFC 9162 leaf hash of the new leaf.

        Raises:
            ValueError: ``leaf_hash`` is not 32 bytes long.
        """
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf_hash)}")
        levels = self._levels
        levels[0] += leaf_hash
        size = self._size + 1
        self._size = size
        self._root = None
        level = 0
        while not size & 1:
            # An even count at this level: its last two entries form a complete subtree
            # one level up, which is hashed now and never again.
            below = levels[level]
            level += 1
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += _sha256(_NODE_PREFIX + below[-64:]).digest()
            size >>= 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append many leaf hashes; the same result as ``append_leaf_hash`` in a loop.

        The loop body is inlined with local bindings because replaying a large log is
        the case that has to be fast.

        Args:
            leaf_hashes: 32-byte leaf hashes in log order.

        Raises:
            ValueError: A leaf hash is not 32 bytes long; leaves before it stay appended.
        """
        levels = self._levels
        leaves = levels[0]
        sha256 = _sha256
        prefix = _NODE_PREFIX
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
                acc = edge if acc is None else _sha256(_NODE_PREFIX + edge + acc).digest()
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
            mid = start + _largest_power_of_two_below(end - start)
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
            k = _largest_power_of_two_below(n)
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
        mid = start + _largest_power_of_two_below(n)
        return _sha256(
            _NODE_PREFIX + self._subtree_hash(start, mid) + self._subtree_hash(mid, end)
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


def verify_inclusion(
    *, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` sits at ``index`` in the tree with ``size`` and ``root``.

    RFC 9162 §2.1.3.2, needing nothing but the proof. ``size`` and ``root`` must come
    from the same signed checkpoint: the proof binds the leaf to the root, and the
    checkpoint's signature is what binds the root to the size.

    Args:
        leaf_hash: The 32-byte leaf hash being proven.
        index: The leaf's claimed position.
        size: The checkpoint's tree size.
        proof: The audit path, leaf's sibling first (as from ``inclusion_proof``).
        root: The checkpoint's root hash.

    Raises:
        ProofError: The proof does not verify; the message says which check failed.
    """
    _check_count(index, "leaf index")
    _check_count(size, "tree size")
    if index >= size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash(leaf_hash, "leaf hash")
    _check_hash(root, "root hash")
    for position, node in enumerate(proof):
        _check_hash(node, f"inclusion proof node {position}")
    fn, sn = index, size - 1
    r = bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            raise ProofError(
                f"inclusion proof has {len(proof)} nodes, more than leaf {index} of a "
                f"tree of size {size} needs"
            )
        if fn & 1 or fn == sn:
            r = _sha256(_NODE_PREFIX + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(_NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(
            f"inclusion proof has {len(proof)} nodes, fewer than leaf {index} of a "
            f"tree of size {size} needs"
        )
    if r != root:
        raise ProofError(
            f"inclusion proof for leaf {index} of tree size {size} gives root {r.hex()}, "
            f"not the expected root {bytes(root).hex()}"
        )


def verify_consistency(
    *, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (``new_size``, ``new_root``) extends (``old_size``, ``old_root``).

    RFC 9162 §2.1.4.2, needing nothing but the proof and the two checkpoints. The RFC
    covers ``0 < old_size < new_size``; the trivial cases are decided here as well:
    equal sizes need an empty proof and equal roots, and an empty old tree needs an
    empty proof and ``old_root`` equal to :data:`EMPTY_ROOT`.

    Args:
        old_size: The earlier checkpoint's tree size.
        new_size: The later checkpoint's tree size.
        old_root: The earlier checkpoint's root hash.
        new_root: The later checkpoint's root hash.
        proof: The consistency proof, as from ``consistency_proof``.

    Raises:
        ProofError: The proof does not verify; the message says which check failed.
    """
    _check_count(old_size, "old tree size")
    _check_count(new_size, "new tree size")
    if old_size > new_size:
        raise ProofError(f"old tree size {old_size} is larger than new tree size {new_size}")
    _check_hash(old_root, "old root hash")
    _check_hash(new_root, "new root hash")
    for position, node in enumerate(proof):
        _check_hash(node, f"consistency proof node {position}")
    if old_size == new_size:
        if proof:
            raise ProofError(
                f"consistency proof between equal sizes {old_size} must be empty, "
                f"got {len(proof)} nodes"
            )
        if old_root != new_root:
            raise ProofError(
                f"old and new roots differ for the same tree size {old_size}: "
                f"{bytes(old_root).hex()} != {bytes(new_root).hex()}"
            )
        return
    if old_size == 0:
        if proof:
            raise ProofError(
                f"consistency proof from the empty tree must be empty, got {len(proof)} nodes"
            )
        if old_root != EMPTY_ROOT:
            raise ProofError(
                f"old root {bytes(old_root).hex()} is not the empty tree's root {EMPTY_ROOT.hex()}"
            )
        return
    if not proof:
        raise ProofError(
            f"consistency proof from size {old_size} to {new_size} is empty; it needs nodes"
        )

    path = list(proof)
    if not old_size & (old_size - 1):
        # The old tree is a complete subtree of the new one, so the proof omits its root.
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = bytes(path[0])
    for c in path[1:]:
        if sn == 0:
            raise ProofError(
                f"consistency proof has {len(proof)} nodes, more than sizes "
                f"{old_size} -> {new_size} need"
            )
        if fn & 1 or fn == sn:
            fr = _sha256(_NODE_PREFIX + c + fr).digest()
            sr = _sha256(_NODE_PREFIX + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(_NODE_PREFIX + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(
            f"consistency proof has {len(proof)} nodes, fewer than sizes "
            f"{old_size} -> {new_size} need"
        )
    if fr != old_root:
        raise ProofError(
            f"consistency proof gives old root {fr.hex()} for size {old_size}, not the "
            f"expected {bytes(old_root).hex()}"
        )
    if sr != new_root:
        raise ProofError(
            f"consistency proof gives new root {sr.hex()} for size {new_size}, not the "
            f"expected {bytes(new_root).hex()}"
        )
