"""Fast verification of export files: raw Avro blocks, whole batches at a time.

The exact verifier (``covenant.audit.verify``) decodes every record into Python objects
and handles one at a time: clear, but about 10 µs a record. This scanner checks the same
things for a file the exporter wrote, at the speed of the hashing, by never building a
per-record object it does not need:

* it reads raw container blocks and walks each record's bytes by hand, keeping only two
  slices per audited record: its position prefix (the Avro encoding of topic, partition
  and offset) and its value;
* a record's leaf bytes are ``position prefix + 0x40 + SHA-256(value)`` (32-byte Avro
  ``bytes``), exactly the bytes ``LeavesAppended`` carries for that leaf, so a whole
  batch's positions and digests are checked against the batch's leaves region with one
  ``bytes`` comparison (the event ids in between are predicted from the values, which is
  right for every decodable record; a batch where the guess misses, e.g. one holding
  garbage, is compared leaf by leaf instead);
* hashing runs in list comprehensions per batch and the tree is grown a level at a time
  (``_Frontier``), so each SHA-256 is one C call with no Python frame around it.

It only ever *vouches*: any surprise (a mismatch, an odd encoding, a cut block) makes it
return None, and ``verify_file`` then runs the exact verifier, which names the first
discrepancy. So the scanner needs no error reporting, and a file it accepts is one the
exact verifier accepts (the tests run both on every tampered file).
"""

from __future__ import annotations

import hashlib
import io
from itertools import chain, repeat
from pathlib import Path
from typing import Any, Final, cast

import fastavro
from fastavro.read import block_reader

from covenant.audit.exportfile import EXPORT_FORMAT
from covenant.audit.records import (
    AuditBatch,
    AuditError,
    Checkpoint,
    audit_codec,
    decode_audit,
    leaf_bytes,
    zigzag,
)
from covenant.audit.results import Progress, VerifyResult
from covenant.audit.walk import WalkError, raw_varint, walk_one, walk_records
from covenant.events.audit import LeavesAppended
from covenant.events.avro import avro_schema
from covenant.events.codec import MAGIC, Codec, schema_fingerprint
from covenant.signing import SignatureError, key_id_for
from covenant.topics import AUDIT

__all__ = ["scan_file"]

_sha256: Final = hashlib.sha256
_NODE: Final = b"\x01"
_LEAF: Final = b"\x00"
_DIGEST_TAG: Final = b"\x40"  # Avro length prefix of 32 bytes
_EVENT_TAG: Final = b"\x02"  # union branch 1 (string) of eventId
_EVENT_ID: Final = slice(10, 47)  # length byte + 36-char UUID after the 10-byte header


class _Frontier:
    """RFC 9162 tree roots, grown a whole batch at a time.

    ``levels[k]`` holds the completed subtree hashes of size ``2**k`` not yet paired; after
    ``extend`` every level holds at most one, and the root folds them right to left (the
    same right edge ``MerkleTree.root`` folds).
    """

    def __init__(self) -> None:
        self.levels: list[list[bytes]] = [[]]
        self.size = 0

    def extend(self, hashes: list[bytes]) -> None:
        """Append leaf hashes; each level's new pairs are hashed in one comprehension."""
        self.size += len(hashes)
        self.levels[0] += hashes
        k = 0
        while k < len(self.levels):
            level = self.levels[k]
            if len(level) > 1:
                m = len(level) & ~1
                parents = [
                    _sha256(_NODE + a + b).digest()
                    for a, b in zip(level[0:m:2], level[1:m:2], strict=True)
                ]
                del level[:m]
                if k + 1 == len(self.levels):
                    self.levels.append([])
                self.levels[k + 1] += parents
            k += 1

    def root(self) -> bytes:
        """Root of the tree of every leaf so far (the empty root for none)."""
        acc: bytes | None = None
        for level in self.levels:
            if level:
                acc = level[0] if acc is None else _sha256(_NODE + level[0] + acc).digest()
        return acc if acc is not None else _sha256(b"").digest()


class _Scanner:
    """One pass over one export file; raises ``WalkError`` at the first surprise."""

    def __init__(self, public_key_pem: bytes, codec: Codec, progress: Progress | None) -> None:
        self._key = public_key_pem
        self._key_id = key_id_for(public_key_pem)
        self._codec = codec
        self._progress = progress
        self._tree = _Frontier()
        self._checkpoints = 0
        self._signed: Checkpoint | None = None
        self._audit_offset = -1
        self._last: dict[bytes, int] = {}
        # The batch being read: its leaves region (or None: compare leaf by leaf), the
        # LeavesAppended value, how many records are still to come, what was read so far.
        self._leaves: bytes | None = None
        self._batch_value = b""
        self._want = 0
        self._prefixes: list[bytes] = []
        self._values: list[bytes] = []
        schema = avro_schema(LeavesAppended)
        self._batch_header = MAGIC + schema_fingerprint(schema)
        # The same record cut after firstLeaf: reading with it stops where leaves start.
        self._batch_prefix = fastavro.parse_schema(dict(schema, fields=schema["fields"][:2]))
        self._audit_topic = zigzag(len(AUDIT.name.encode())) + AUDIT.name.encode()
        # The first batch is decoded by the codec, as the exact verifier would, so the
        # fast path is only ever taken with a codec that reads audit records.
        self._codec_checked = False

    def run(self, path: Path) -> VerifyResult:
        """Scan the file; the result when every check held, else ``WalkError``."""
        with path.open("rb") as fo:
            blocks = block_reader(fo)
            meta = blocks.metadata
            if meta.get("covenant.format") != EXPORT_FORMAT or blocks.codec not in (
                "null",
                "deflate",
            ):
                raise WalkError
            promised = int(meta.get("covenant.records", "-1"))
            read = 0
            for block in blocks:
                data = cast(Any, block).bytes_.getvalue()
                i = self._block(data, block.num_records)
                if i != len(data):
                    raise WalkError
                read += block.num_records
                if self._progress is not None:
                    self._progress(block.num_records)
        signed = self._signed
        size = signed.tree_size if signed is not None else 0
        if self._want or self._tree.size != size or read != promised:
            raise WalkError
        return VerifyResult(
            records=size,
            checkpoints=self._checkpoints,
            pending=0,
            tree_size=size,
            root_hash=signed.root_hash if signed is not None else None,
        )

    def _block(self, data: bytes, count: int) -> int:
        i = 0
        while count:
            if self._want:
                take = min(self._want, count)
                i = walk_records(data, i, take, self._prefixes, self._values, self._last)
                self._want -= take
                count -= take
                if not self._want:
                    self._close_batch()
            else:
                topic, _, offset, value, i = walk_one(data, i)
                count -= 1
                if topic != AUDIT.name or offset <= self._audit_offset:
                    raise WalkError
                self._audit_offset = offset
                self._audit(value)
        return i

    def _audit(self, value: bytes) -> None:
        if value.startswith(self._batch_header) and self._codec_checked:
            body = io.BytesIO(value)
            body.seek(10)
            head: Any = fastavro.schemaless_reader(body, self._batch_prefix, None)
            count, start = raw_varint(value, body.tell())
            if head["firstLeaf"] != self._tree.size or count & 1 or value[-1] != 0:
                raise WalkError
            self._want, self._batch_value = count >> 1, value
            self._leaves = value[start:-1]
            if not self._want:
                self._close_batch()
            return
        try:
            item = decode_audit(self._codec, value)
        except AuditError:
            raise WalkError from None
        if isinstance(item, AuditBatch):  # the first batch, or an older schema: leaf by leaf
            # The codec reads the current batch schema: later batches may take the fast path.
            self._codec_checked |= value.startswith(self._batch_header)
            if item.first_leaf != self._tree.size:
                raise WalkError
            self._want, self._batch_value, self._leaves = len(item.leaves), value, None
            if not self._want:
                self._close_batch()
            return
        if item.tree_size != self._tree.size or item.root_hash != self._tree.root():
            raise WalkError
        try:
            item.verify(self._key, key_id=self._key_id)
        except AuditError:
            raise WalkError from None
        self._checkpoints += 1
        self._signed = item

    def _close_batch(self) -> None:
        prefixes, values = self._prefixes, self._values
        sha256 = _sha256
        leaves = [
            p + _DIGEST_TAG + sha256(v).digest() for p, v in zip(prefixes, values, strict=True)
        ]
        expected = b"".join(
            chain.from_iterable(
                zip(leaves, repeat(_EVENT_TAG), map(bytes.__getitem__, values, repeat(_EVENT_ID)))
            )
        )
        if expected != self._leaves:
            self._compare_leaf_by_leaf(leaves)
        self._tree.extend([sha256(_LEAF + leaf).digest() for leaf in leaves])
        if any(tp.startswith(self._audit_topic) for tp in self._last):
            raise WalkError
        prefixes.clear()
        values.clear()

    def _compare_leaf_by_leaf(self, leaves: list[bytes]) -> None:
        """The batch's leaves region differs from the prediction: decode it and compare
        what the tree commits to (event ids, which it does not, may differ)."""
        try:
            item = decode_audit(self._codec, self._batch_value)
        except AuditError:
            raise WalkError from None
        if not isinstance(item, AuditBatch) or len(item.leaves) != len(leaves):
            raise WalkError
        for leaf, mine in zip(item.leaves, leaves, strict=True):
            if leaf_bytes(leaf.topic, leaf.partition, leaf.offset, leaf.digest) != mine:
                raise WalkError


def scan_file(
    path: Path,
    public_key_pem: bytes,
    *,
    codec: Codec | None = None,
    progress: Progress | None = None,
) -> VerifyResult | None:
    """Verify an export file fast; None when the exact verifier must decide.

    Args:
        path: the export file.
        public_key_pem: the audit signer's public key.
        codec: decodes audit records; the default knows exactly those.
        progress: advanced by records scanned.

    Returns:
        A successful ``VerifyResult``, or None for any file it cannot vouch for.

    Raises:
        AuditError: ``public_key_pem`` is not a readable Ed25519 public key.
    """
    try:
        scanner = _Scanner(public_key_pem, audit_codec(codec), progress)
    except SignatureError as exc:
        raise AuditError(f"cannot use the public key: {exc}") from None
    try:
        return scanner.run(path)
    except Exception:  # anything at all: the exact verifier reads the file again and says what
        return None
