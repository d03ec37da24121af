"""Walking ``covenant.audit.ExportedRecord`` bytes by hand, for the fast scanner.

fastavro decodes a record into a dict in about 1.6 µs; the scanner needs only two
slices of most records (the position prefix and the value), so it walks the bytes
itself. Every walk here is an exact Avro binary parse of the export schema
(``topic string, partition int, offset long, key [null, bytes], value bytes,
timestampMs long``): where a standard reader would read something else, or fail, these
functions raise ``WalkError`` instead of guessing, and the scanner leaves the file to
the exact verifier.
"""

from __future__ import annotations

from covenant.audit.records import AuditError

__all__ = ["WalkError", "length", "raw_varint", "skip_long", "walk_one", "walk_records"]


class WalkError(AuditError):
    """Bytes the walker will not vouch for (malformed, or a shape it has no fast path
    for); never an error for the user: the exact verifier reads the file instead."""

    def __init__(self, message: str = "bytes the fast scanner does not vouch for") -> None:
        super().__init__(message)


def raw_varint(data: bytes, i: int) -> tuple[int, int]:
    """The varint at ``i`` before zig-zag decoding: (raw value, index after it)."""
    shift = n = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i
        shift += 7
        if shift > 63:
            raise WalkError


def length(data: bytes, i: int) -> tuple[int, int]:
    """A byte-string length at ``i``: (length, index after it); negative is an error."""
    n, i = raw_varint(data, i)
    if n & 1:
        raise WalkError
    return n >> 1, i


def walk_records(
    data: bytes,
    i: int,
    count: int,
    prefixes: list[bytes],
    values: list[bytes],
    last: dict[bytes, int],
) -> int:
    """Walk ``count`` ExportedRecords from ``i``; append position prefixes and values.

    The hot loop of the scanner, so every field has a branch for its common width and a
    general fallback, and the walk is an exact Avro parse (a standard reader must see
    the same records, or the file is not one to vouch for). Also checks that offsets
    grow within each partition: ``last`` maps a topic+partition prefix to its last
    offset varint read as a little-endian integer, which orders canonical varints like
    the offsets themselves. Returns the index after the records.
    """
    from_bytes = int.from_bytes
    add_prefix = prefixes.append
    add_value = values.append
    # A poll returns each partition's records together and usually at consecutive
    # offsets, so the next record's position prefix is predicted: the previous one with
    # the offset's zig-zag varint plus 2 (while its first byte cannot carry). A match
    # is one slice and one integer comparison for topic, partition, offset and order.
    tp = b""  # topic+partition prefix of the run, its width, and the shift past it
    width = shift = step = plen = cur = 0
    want = -1  # predicted little-endian integer of the next prefix; -1 for none
    for _ in range(count):
        p = data[i : i + plen]
        if from_bytes(p, "little") == want:
            cur = want
            i += plen
        else:
            s = i
            if width and data.startswith(tp, i):
                i += width
                floor = cur >> shift
            else:
                n = data[i]
                if n & 0x81:  # a topic name of 64+ bytes, or a negative length
                    raise WalkError
                i += 1 + (n >> 1)
                if data[i] & 0x81:  # partition 64+ (several bytes) or negative
                    i = skip_long(data, i)
                else:
                    i += 1
                if width:
                    last[tp] = cur >> shift
                tp = data[s:i]
                width = i - s
                shift = 8 * width
                step = 2 << shift
                floor = last.get(tp, -1)
            k = i
            if data[i] & 1:  # negative offset
                raise WalkError
            i += 1
            while data[i - 1] & 0x80:
                i += 1
            if from_bytes(data[k:i], "little") <= floor:
                raise WalkError
            plen = i - s
            p = data[s:i]
            cur = from_bytes(p, "little")
        want = cur + step if cur >> shift & 0x7F < 0x7D else -1
        add_prefix(p)
        n = data[i]
        if n == 2:  # key: union branch 1, bytes of under 64 bytes in one length byte
            n = data[i + 1]
            if n & 0x81:
                n, i = length(data, i + 1)
                i += n
            else:
                i += 2 + (n >> 1)
        elif n:
            raise WalkError
        else:
            i += 1
        n = data[i]  # value length: one or two bytes for values under 8 KiB
        if n < 0x80:
            i += 1
        elif data[i + 1] < 0x80:
            n = (n & 0x7F) | (data[i + 1] << 7)
            i += 2
        else:
            n, i = raw_varint(data, i)
        if n & 1:
            raise WalkError
        n = i + (n >> 1)
        add_value(data[i:n])
        # timestampMs: six bytes for any time between 2004 and 2039
        if from_bytes(data[n : n + 6], "little") & 0x808080808080 == 0x008080808080:
            i = n + 6
        else:
            i = skip_long(data, n)
    if width:
        last[tp] = cur >> shift
    return i


def skip_long(data: bytes, i: int) -> int:
    """Index after the non-negative varint at ``i``."""
    n, i = raw_varint(data, i)
    if n & 1:
        raise WalkError
    return i


def walk_one(data: bytes, i: int) -> tuple[str, int, int, bytes, int]:
    """Decode one ExportedRecord at ``i`` fully: (topic, partition, offset, value, next)."""
    n, i = length(data, i)
    topic = data[i : i + n].decode()
    i += n
    partition, i = raw_varint(data, i)
    offset, i = raw_varint(data, i)
    if (partition | offset) & 1:
        raise WalkError
    if data[i] == 2:
        n, i = length(data, i + 1)
        i += n
    elif data[i]:
        raise WalkError
    else:
        i += 1
    n, i = length(data, i)
    value = data[i : i + n]
    _, i = raw_varint(data, i + n)
    return topic, partition >> 1, offset >> 1, value, i
