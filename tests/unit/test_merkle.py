"""Tests for covenant.audit.merkle against RFC 9162 §2.1 written out literally.

The reference below is the RFC's recursive definitions (MTH, PATH, SUBPROOF) over index
ranges of one fixed leaf list, memoized per range so that checking every tree size,
every leaf index and every (old, new) pair up to 300 stays fast. It uses hashlib
directly, never the module under test, so a shared mistake cannot hide. The published
RFC 6962 / Certificate Transparency vectors anchor both to the outside world.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from covenant.audit.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MerkleTree,
    ProofError,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 300


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _record(i: int) -> bytes:
    return f"audit-record-{i}".encode()


class NaiveReference:
    """RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 as written, over ranges of fixed leaves."""

    def __init__(self, leaves: list[bytes]) -> None:
        self._leaves = leaves
        self._mth: dict[tuple[int, int], bytes] = {}

    @staticmethod
    def _k(n: int) -> int:
        """The largest power of two smaller than n (n > 1), found the slow, obvious way."""
        k = 1
        while k * 2 < n:
            k *= 2
        return k

    def mth(self, start: int, end: int) -> bytes:
        """MTH(D[start:end])."""
        key = (start, end)
        cached = self._mth.get(key)
        if cached is not None:
            return cached
        n = end - start
        if n == 0:
            value = _sha256(b"")
        elif n == 1:
            value = _sha256(b"\x00" + self._leaves[start])
        else:
            k = self._k(n)
            value = _sha256(b"\x01" + self.mth(start, start + k) + self.mth(start + k, end))
        self._mth[key] = value
        return value

    def path(self, m: int, start: int, end: int) -> list[bytes]:
        """PATH(m, D[start:end]), m relative to start."""
        n = end - start
        if n == 1:
            return []
        k = self._k(n)
        if m < k:
            return [*self.path(m, start, start + k), self.mth(start + k, end)]
        return [*self.path(m - k, start + k, end), self.mth(start, start + k)]

    def subproof(self, m: int, start: int, end: int, b: bool) -> list[bytes]:
        """SUBPROOF(m, D[start:end], b), m relative to start."""
        n = end - start
        if m == n:
            return [] if b else [self.mth(start, end)]
        k = self._k(n)
        if m <= k:
            return [*self.subproof(m, start, start + k, b), self.mth(start + k, end)]
        return [*self.subproof(m - k, start + k, end, False), self.mth(start, start + k)]

    def consistency(self, m: int, n: int) -> list[bytes]:
        """PROOF(m, D[n]) for 0 < m < n."""
        return self.subproof(m, 0, n, True)


@pytest.fixture(scope="module")
def records() -> list[bytes]:
    return [_record(i) for i in range(MAX_SIZE)]


@pytest.fixture(scope="module")
def ref(records: list[bytes]) -> NaiveReference:
    return NaiveReference(records)


@pytest.fixture(scope="module")
def big_tree(records: list[bytes]) -> MerkleTree:
    tree = MerkleTree()
    for r in records:
        tree.append(r)
    return tree


def _flip(h: bytes, position: int = 0) -> bytes:
    b = bytearray(h)
    b[position % len(b)] ^= 0x01
    return bytes(b)


def _rejects(check: Callable[[], None]) -> bool:
    try:
        check()
    except ProofError:
        return True
    return False


# --- Published vectors (RFC 6962 test data of the CT / transparency-dev projects) ---

CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
_H96 = "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
_H5F = "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
_H6B = "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
_HBC = "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
_HCA = "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
_HD3 = "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"
_H0E = "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
_HB0 = "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"
CT_INCLUSION = [  # (index, size, path)
    (0, 1, []),
    (0, 8, [_H96, _H5F, _H6B]),
    (5, 8, [_HBC, _HCA, _HD3]),
    (2, 3, [CT_ROOTS[1].hex()]),
    (1, 5, [CT_ROOTS[0].hex(), _H5F, _HBC]),
]
CT_CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (1, 8, [_H96, _H5F, _H6B]),
    (6, 8, [_H0E, _HCA, _HD3]),
    (2, 5, [_H5F, _HBC]),
    (6, 7, [_H0E, _HB0, _HD3]),
]


@pytest.fixture(scope="module")
def ct_tree() -> MerkleTree:
    tree = MerkleTree()
    for leaf in CT_LEAVES:
        tree.append(leaf)
    return tree


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    expected = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    tree = MerkleTree()
    assert expected == EMPTY_ROOT
    assert tree.size == 0
    assert tree.root() == expected
    assert tree.root_at(0) == expected
    assert MerkleTree.from_leaf_hashes([]).root() == expected


def test_hash_functions_are_domain_separated() -> None:
    a, b = _sha256(b"a"), _sha256(b"b")
    assert leaf_hash(b"") == _sha256(b"\x00")
    assert leaf_hash(b"abc") == _sha256(b"\x00abc")
    assert node_hash(a, b) == _sha256(b"\x01" + a + b)
    # A two-leaf tree's root must not be the leaf hash of the concatenated leaves.
    assert node_hash(leaf_hash(b"x"), leaf_hash(b"y")) != leaf_hash(leaf_hash(b"x") + b"y")
    assert HASH_SIZE == 32


def test_published_roots(ct_tree: MerkleTree) -> None:
    tree = MerkleTree()
    for n, leaf in enumerate(CT_LEAVES, start=1):
        tree.append(leaf)
        assert tree.root() == CT_ROOTS[n - 1], n
        assert ct_tree.root_at(n) == CT_ROOTS[n - 1], n


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_published_inclusion_proofs(
    ct_tree: MerkleTree, index: int, size: int, path: list[str]
) -> None:
    proof = ct_tree.inclusion_proof(index, size)
    assert [p.hex() for p in proof] == path
    verify_inclusion(
        leaf_hash=leaf_hash(CT_LEAVES[index]),
        index=index,
        size=size,
        proof=proof,
        root=CT_ROOTS[size - 1],
    )


@pytest.mark.parametrize(("old", "new", "path"), CT_CONSISTENCY)
def test_published_consistency_proofs(
    ct_tree: MerkleTree, old: int, new: int, path: list[str]
) -> None:
    proof = ct_tree.consistency_proof(old, new)
    assert [p.hex() for p in proof] == path
    verify_consistency(
        old_size=old,
        new_size=new,
        old_root=CT_ROOTS[old - 1],
        new_root=CT_ROOTS[new - 1],
        proof=proof,
    )


# --- Exhaustive agreement with the naive reference, sizes 1..300 ---


def test_root_after_every_append(records: list[bytes], ref: NaiveReference) -> None:
    tree = MerkleTree()
    for n, record in enumerate(records, start=1):
        tree.append(record)
        assert tree.size == n
        assert tree.root() == ref.mth(0, n), n


def test_root_at_every_size(big_tree: MerkleTree, ref: NaiveReference) -> None:
    for n in range(MAX_SIZE + 1):
        assert big_tree.root_at(n) == ref.mth(0, n), n


def test_leaf_hashes_are_stored(big_tree: MerkleTree, records: list[bytes]) -> None:
    for i, record in enumerate(records):
        assert big_tree.leaf_hash_at(i) == leaf_hash(record)


def test_extend_and_from_leaf_hashes_match_appends(
    big_tree: MerkleTree, records: list[bytes]
) -> None:
    hashes = [leaf_hash(r) for r in records]
    assert MerkleTree.from_leaf_hashes(hashes).root() == big_tree.root()
    tree = MerkleTree()
    for chunk_start in range(0, MAX_SIZE, 37):  # uneven chunks, crossing level boundaries
        tree.extend(hashes[chunk_start : chunk_start + 37])
        assert tree.root() == big_tree.root_at(tree.size)
    assert tree.size == MAX_SIZE
    tree.extend(iter([]))
    assert tree.root() == big_tree.root()


def _trees_of_every_size(records: list[bytes]) -> Iterator[tuple[int, MerkleTree]]:
    """Yield a tree holding exactly n leaves, for n = 1..MAX_SIZE, built incrementally."""
    tree = MerkleTree()
    for n, record in enumerate(records, start=1):
        tree.append(record)
        yield n, tree


def test_inclusion_proofs_every_size_and_index(
    records: list[bytes], ref: NaiveReference, big_tree: MerkleTree
) -> None:
    for n, tree in _trees_of_every_size(records):
        root = ref.mth(0, n)
        for i in range(n):
            expected = ref.path(i, 0, n)
            proof = tree.inclusion_proof(i, n)
            assert proof == expected, (i, n)
            assert big_tree.inclusion_proof(i, n) == expected, (i, n)
            verify_inclusion(
                leaf_hash=leaf_hash(records[i]), index=i, size=n, proof=proof, root=root
            )


def test_consistency_proofs_every_pair(
    records: list[bytes], ref: NaiveReference, big_tree: MerkleTree
) -> None:
    for n, tree in _trees_of_every_size(records):
        new_root = ref.mth(0, n)
        for m in range(n + 1):
            proof = tree.consistency_proof(m, n)
            expected = ref.consistency(m, n) if 0 < m < n else []
            assert proof == expected, (m, n)
            if n % 7 == 0:  # also from a larger tree, for a spread of sizes
                assert big_tree.consistency_proof(m, n) == expected, (m, n)
            verify_consistency(
                old_size=m, new_size=n, old_root=ref.mth(0, m), new_root=new_root, proof=proof
            )


# --- Rejection of tampered proofs ---


def test_inclusion_rejects_tampering(records: list[bytes], big_tree: MerkleTree) -> None:
    for n in range(1, MAX_SIZE + 1):
        root = big_tree.root_at(n)
        for i in range(n):
            proof = big_tree.inclusion_proof(i, n)
            leaf = leaf_hash(records[i])

            def check(
                *,
                leaf: bytes = leaf,
                index: int = i,
                size: int = n,
                proof: list[bytes] = proof,
                root: bytes = root,
            ) -> Callable[[], None]:
                return lambda: verify_inclusion(
                    leaf_hash=leaf, index=index, size=size, proof=proof, root=root
                )

            for j in range(len(proof)):
                bad = list(proof)
                bad[j] = _flip(bad[j], i + j)
                assert _rejects(check(proof=bad)), ("flipped node", j, i, n)
            assert _rejects(check(leaf=_flip(leaf))), ("leaf", i, n)
            assert _rejects(check(root=_flip(root))), ("root", i, n)
            for other in {i - 1, i + 1, i ^ 1, n - 1 - i, n}:
                if 0 <= other != i:
                    assert _rejects(check(index=other)), ("index", other, i, n)
            for other_size in (n - 1, n + 1):
                if 1 <= other_size <= MAX_SIZE:
                    other_root = big_tree.root_at(other_size)
                    assert _rejects(check(size=other_size, root=other_root)), (other_size, i, n)
            if proof:
                assert _rejects(check(proof=proof[:-1])), ("truncated end", i, n)
                assert _rejects(check(proof=proof[1:])), ("truncated start", i, n)
            assert _rejects(check(proof=[*proof, root])), ("extra node at end", i, n)
            assert _rejects(check(proof=[root, *proof])), ("extra node at start", i, n)


def test_consistency_rejects_tampering(big_tree: MerkleTree) -> None:
    roots = [big_tree.root_at(n) for n in range(MAX_SIZE + 1)]
    for n in range(2, MAX_SIZE + 1):
        for m in range(1, n):
            proof = big_tree.consistency_proof(m, n)

            def check(
                *,
                old_size: int = m,
                new_size: int = n,
                old_root: bytes = roots[m],
                new_root: bytes = roots[n],
                proof: list[bytes] = proof,
            ) -> Callable[[], None]:
                return lambda: verify_consistency(
                    old_size=old_size,
                    new_size=new_size,
                    old_root=old_root,
                    new_root=new_root,
                    proof=proof,
                )

            # One flipped node per pair (which node rotates with m) keeps this affordable;
            # every node of every proof is flipped for the sizes up to 64.
            positions = range(len(proof)) if n <= 64 else [m % len(proof)]
            for j in positions:
                bad = list(proof)
                bad[j] = _flip(bad[j], m + j)
                assert _rejects(check(proof=bad)), ("flipped node", j, m, n)
            assert _rejects(check(old_root=roots[n], new_root=roots[m])), ("swapped", m, n)
            assert _rejects(check(old_root=_flip(roots[m]))), ("old root", m, n)
            assert _rejects(check(new_root=_flip(roots[n]))), ("new root", m, n)
            assert _rejects(check(proof=proof[:-1])), ("truncated end", m, n)
            assert _rejects(check(proof=proof[1:])), ("truncated start", m, n)
            assert _rejects(check(proof=[*proof, roots[n]])), ("extra node at end", m, n)
            assert _rejects(check(proof=[roots[m], *proof])), ("extra node at start", m, n)
            if m > 1:
                assert _rejects(check(old_size=m - 1, old_root=roots[m - 1])), ("old-1", m, n)
            if m + 1 < n:
                assert _rejects(check(old_size=m + 1, old_root=roots[m + 1])), ("old+1", m, n)
            if n + 1 <= MAX_SIZE:
                assert _rejects(check(new_size=n + 1, new_root=roots[n + 1])), ("new+1", m, n)
            if n - 1 > m:
                assert _rejects(check(new_size=n - 1, new_root=roots[n - 1])), ("new-1", m, n)


# --- Edge cases and argument checking ---


def test_consistency_trivial_cases(big_tree: MerkleTree) -> None:
    root5 = big_tree.root_at(5)
    verify_consistency(old_size=5, new_size=5, old_root=root5, new_root=root5, proof=[])
    verify_consistency(old_size=0, new_size=5, old_root=EMPTY_ROOT, new_root=root5, proof=[])
    verify_consistency(old_size=0, new_size=0, old_root=EMPTY_ROOT, new_root=EMPTY_ROOT, proof=[])
    with pytest.raises(ProofError, match="same tree size"):
        verify_consistency(
            old_size=5, new_size=5, old_root=root5, new_root=big_tree.root_at(6), proof=[]
        )
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(old_size=5, new_size=5, old_root=root5, new_root=root5, proof=[root5])
    with pytest.raises(ProofError, match="empty tree's root"):
        verify_consistency(old_size=0, new_size=5, old_root=root5, new_root=root5, proof=[])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(
            old_size=0, new_size=5, old_root=EMPTY_ROOT, new_root=root5, proof=[root5]
        )
    with pytest.raises(ProofError, match="is empty"):
        verify_consistency(
            old_size=3, new_size=5, old_root=big_tree.root_at(3), new_root=root5, proof=[]
        )
    with pytest.raises(ProofError, match="larger than new tree size"):
        verify_consistency(old_size=6, new_size=5, old_root=root5, new_root=root5, proof=[])


def test_verify_messages_name_the_failure(big_tree: MerkleTree, records: list[bytes]) -> None:
    root = big_tree.root_at(10)
    proof = big_tree.inclusion_proof(3, 10)
    leaf = leaf_hash(records[3])
    with pytest.raises(ProofError, match="outside a tree of size 10"):
        verify_inclusion(leaf_hash=leaf, index=10, size=10, proof=proof, root=root)
    with pytest.raises(ProofError, match="more than"):
        verify_inclusion(leaf_hash=leaf, index=3, size=10, proof=[*proof, root], root=root)
    with pytest.raises(ProofError, match="fewer than"):
        verify_inclusion(leaf_hash=leaf, index=3, size=10, proof=proof[:-1], root=root)
    with pytest.raises(ProofError, match="not the expected root"):
        verify_inclusion(leaf_hash=leaf, index=3, size=10, proof=proof, root=_flip(root))
    with pytest.raises(ProofError, match="inclusion proof node 1 must be 32 bytes"):
        verify_inclusion(leaf_hash=leaf, index=3, size=10, proof=[proof[0], b"short"], root=root)
    with pytest.raises(ProofError, match="leaf hash must be 32 bytes"):
        verify_inclusion(leaf_hash=b"", index=3, size=10, proof=proof, root=root)
    with pytest.raises(ProofError, match="leaf index must be a non-negative integer"):
        verify_inclusion(leaf_hash=leaf, index=-1, size=10, proof=proof, root=root)
    with pytest.raises(ProofError, match="tree size must be a non-negative integer"):
        verify_inclusion(leaf_hash=leaf, index=0, size=True, proof=proof, root=root)
    cproof = big_tree.consistency_proof(3, 10)
    with pytest.raises(ProofError, match="gives old root"):
        verify_consistency(
            old_size=3,
            new_size=10,
            old_root=_flip(big_tree.root_at(3)),
            new_root=root,
            proof=cproof,
        )
    with pytest.raises(ProofError, match="gives new root"):
        verify_consistency(
            old_size=3,
            new_size=10,
            old_root=big_tree.root_at(3),
            new_root=_flip(root),
            proof=cproof,
        )
    with pytest.raises(ProofError, match="consistency proof node 0 must be 32 bytes"):
        verify_consistency(
            old_size=3, new_size=10, old_root=big_tree.root_at(3), new_root=root, proof=[b"x"]
        )
    assert issubclass(ProofError, ValueError)


def test_tree_rejects_out_of_range_arguments(big_tree: MerkleTree) -> None:
    tree = MerkleTree.from_leaf_hashes([leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")])
    with pytest.raises(ValueError, match="leaf hash must be 32 bytes"):
        tree.append_leaf_hash(b"too short")
    with pytest.raises(ValueError, match="leaf hash must be 32 bytes"):
        tree.extend([leaf_hash(b"d"), b"bad"])
    assert tree.size == 4  # the good leaf before the bad one stays
    for bad_size in (-1, 5, True):
        with pytest.raises(ValueError, match=r"outside 0\.\.4"):
            tree.root_at(bad_size)
    with pytest.raises(ValueError, match="outside a tree of size 4"):
        tree.inclusion_proof(4, 4)
    with pytest.raises(ValueError, match="outside a tree of size 0"):
        tree.inclusion_proof(0, 0)
    with pytest.raises(ValueError, match=r"outside 0\.\.4"):
        tree.inclusion_proof(0, 5)
    with pytest.raises(ValueError, match="larger than new size"):
        tree.consistency_proof(3, 2)
    with pytest.raises(ValueError, match=r"outside 0\.\.4"):
        tree.consistency_proof(1, 9)
    with pytest.raises(ValueError, match="outside a tree of size 4"):
        tree.leaf_hash_at(4)
    assert tree.consistency_proof(0, 4) == []
    assert tree.consistency_proof(4, 4) == []
    assert repr(tree) == f"MerkleTree(size=4, root={tree.root().hex()})"


def test_large_power_of_two_boundaries() -> None:
    """Sizes around 2**k exercise the level arithmetic beyond the exhaustive range."""
    data = [_sha256(i.to_bytes(4, "big")) for i in range(1025)]
    ref = NaiveReference(data)
    tree = MerkleTree()
    for d in data:
        tree.append(d)
    for n in (511, 512, 513, 1023, 1024, 1025):
        assert tree.root_at(n) == ref.mth(0, n)
        for i in (0, n // 2, n - 1):
            assert tree.inclusion_proof(i, n) == ref.path(i, 0, n)
        for m in (1, n // 2, n - 1):
            if 0 < m < n:
                assert tree.consistency_proof(m, n) == ref.consistency(m, n)


# --- Property tests ---

_leaf_lists = st.lists(st.binary(max_size=40), min_size=1, max_size=200)


@settings(max_examples=150, deadline=None)
@given(leaves=_leaf_lists, data=st.data())
def test_inclusion_roundtrip_and_bit_flip(leaves: list[bytes], data: st.DataObject) -> None:
    tree = MerkleTree()
    for leaf in leaves:
        tree.append(leaf)
    size = data.draw(st.integers(1, len(leaves)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = tree.inclusion_proof(index, size)
    root = tree.root_at(size)
    assert root == NaiveReference(leaves).mth(0, size)
    verify_inclusion(
        leaf_hash=leaf_hash(leaves[index]), index=index, size=size, proof=proof, root=root
    )
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1), label="node")
        bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label="bit")
        bad = list(proof)
        flipped = bytearray(bad[j])
        flipped[bit // 8] ^= 1 << (bit % 8)
        bad[j] = bytes(flipped)
        with pytest.raises(ProofError):
            verify_inclusion(
                leaf_hash=leaf_hash(leaves[index]), index=index, size=size, proof=bad, root=root
            )


@settings(max_examples=150, deadline=None)
@given(leaves=_leaf_lists, data=st.data())
def test_consistency_roundtrip_and_bit_flip(leaves: list[bytes], data: st.DataObject) -> None:
    tree = MerkleTree.from_leaf_hashes(leaf_hash(leaf) for leaf in leaves)
    new = data.draw(st.integers(1, len(leaves)), label="new")
    old = data.draw(st.integers(0, new), label="old")
    proof = tree.consistency_proof(old, new)
    old_root, new_root = tree.root_at(old), tree.root_at(new)
    verify_consistency(
        old_size=old, new_size=new, old_root=old_root, new_root=new_root, proof=proof
    )
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1), label="node")
        bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label="bit")
        bad = list(proof)
        flipped = bytearray(bad[j])
        flipped[bit // 8] ^= 1 << (bit % 8)
        bad[j] = bytes(flipped)
        with pytest.raises(ProofError):
            verify_consistency(
                old_size=old, new_size=new, old_root=old_root, new_root=new_root, proof=bad
            )


@settings(max_examples=100, deadline=None)
@given(
    leaves=st.lists(st.binary(max_size=8), max_size=150),
    cuts=st.lists(st.integers(0, 150), max_size=6),
)
def test_any_chunking_gives_the_same_tree(leaves: list[bytes], cuts: list[int]) -> None:
    hashes = [leaf_hash(leaf) for leaf in leaves]
    one_by_one = MerkleTree()
    for h in hashes:
        one_by_one.append_leaf_hash(h)
    chunked = MerkleTree()
    bounds = sorted({0, len(hashes), *(c for c in cuts if c <= len(hashes))})
    for lo, hi in itertools.pairwise(bounds):
        chunked.extend(hashes[lo:hi])
        assert chunked.root() == one_by_one.root_at(hi)
    assert chunked.size == one_by_one.size == len(leaves)
    assert chunked.root() == one_by_one.root() == NaiveReference(leaves).mth(0, len(leaves))
