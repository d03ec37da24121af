"""Checking inclusion and consistency proofs with nothing but the checkpoint values."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from covenant.audit.merkle._hashing import EMPTY_ROOT, HASH_SIZE, NODE_PREFIX, SHA256
from covenant.errors import AuditError


class ProofError(AuditError, ValueError):
    """A Merkle proof, or the checkpoint values it is checked against, did not verify.

    The message names the check that failed (a size out of range, a node of the wrong
    length, too many or too few proof nodes, or the recomputed root differing from the
    expected one), because "proof invalid" alone gives an auditor nothing to act on.
    """


def _check_hash(value: bytes, what: str) -> None:
    """Raise ProofError unless ``value`` is a 32-byte hash; ``what`` names it."""
    if not isinstance(value, bytes | bytearray | memoryview) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes of SHA-256, got {value!r:.80}")


def _check_count(value: int, what: str) -> None:
    """Raise ProofError unless ``value`` is a non-negative int; ``what`` names it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProofError(f"{what} must be a non-negative integer, got {value!r}")


def _walk(
    nodes: Sequence[bytes], fn: int, sn: int, *, counted: str, needs: str
) -> Iterator[tuple[bytes, bool]]:
    """Each proof node, with whether it is the left sibling of the hash so far.

    The index arithmetic that RFC 9162 §2.1.3.2 and §2.1.4.2 share: ``fn`` and ``sn``
    start where the verifier's algorithm says; the caller combines the hashes. Raises
    ProofError, as ``"<counted>, more than <needs>"`` or ``"…, fewer than …"``, when
    the proof has more or fewer nodes than those indices need.
    """
    for node in nodes:
        if sn == 0:
            raise ProofError(f"{counted}, more than {needs}")
        left = bool(fn & 1) or fn == sn
        if left and not fn & 1:
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        yield node, left
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"{counted}, fewer than {needs}")


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
    r = bytes(leaf_hash)
    for p, left in _walk(
        proof,
        index,
        size - 1,
        counted=f"inclusion proof has {len(proof)} nodes",
        needs=f"leaf {index} of a tree of size {size} needs",
    ):
        r = SHA256(NODE_PREFIX + p + r if left else NODE_PREFIX + r + p).digest()
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
    for c, left in _walk(
        path[1:],
        fn,
        sn,
        counted=f"consistency proof has {len(proof)} nodes",
        needs=f"sizes {old_size} -> {new_size} need",
    ):
        if left:
            fr = SHA256(NODE_PREFIX + c + fr).digest()
            sr = SHA256(NODE_PREFIX + c + sr).digest()
        else:
            sr = SHA256(NODE_PREFIX + sr + c).digest()
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
