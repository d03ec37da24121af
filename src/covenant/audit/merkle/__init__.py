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

The verification functions need nothing but the proof and the checkpoint values, so an
auditor can run them with no copy of the log.

The tree is not thread safe; the audit writer owns it from one task.

The package keeps one concept per private module: ``_hashing`` (the RFC's hash
functions), ``_tree`` (the append-only tree and the proofs it produces) and ``_verify``
(checking proofs against checkpoint values, with no tree at hand).
"""

from covenant.audit.merkle._hashing import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash
from covenant.audit.merkle._tree import MerkleTree
from covenant.audit.merkle._verify import ProofError, verify_consistency, verify_inclusion

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
