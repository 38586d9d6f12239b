"""The block header every message on a pipe starts with.

One block is one ZeroMQ message: this 16-byte header followed by the payload the
pipe packed. The header carries what the receiver needs to align inputs and what a
sender needs to keep blocks until they are acknowledged:

====== ===== ==============================================================
offset bytes field
====== ===== ==============================================================
0      1     format version (:data:`VERSION`)
1      1     :class:`Flags`
2      2     incarnation of the producing job (bumped when it is restarted)
4      4     pipe id
8      8     sequence number (for ``END``: the number of blocks sent)
====== ===== ==============================================================

A block with the ``HEAD`` flag (its producer has ``HEAD = True``) has a 5-byte head
field between header and payload: the head's size in bytes (1 to 4), then its bits as
a little-endian uint32. Blocks of other jobs carry no such field and pay nothing.

This module is the only place that packs or reads a header, so the format has one
definition. The job loop gets its per-output encoders from :func:`block_encoder` and
:func:`headed_encoder`: closures made once per output, with the pipe id and the
producer's incarnation bound, so a block costs one header pack and one join. A pipe may
hand its payload over as several buffers (``parts``, as ``ArrayPipe`` does: its array
header and the array itself), which are joined with the header in one copy.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from enum import IntFlag
from typing import Any

from fission.errors import WireError

VERSION = 1
HEADER = struct.Struct("<BBHIQ")
HEADER_SIZE = HEADER.size
_SEQ = struct.Struct("<Q")  # the header's last field
_SEQ_OFFSET = HEADER_SIZE - _SEQ.size


class Flags(IntFlag):
    NONE = 0
    #: The producer has finished; no block follows on this pipe.
    END = 1
    #: A head field (:data:`HEAD_FIELD`) precedes the payload.
    HEAD = 2


#: The flags as plain ints, for the per-block path (IntFlag operators are slow).
END = int(Flags.END)
HEAD = int(Flags.HEAD)
HEAD_FIELD = struct.Struct("<BI")
HEAD_FIELD_SIZE = HEAD_FIELD.size


def encode(pipe: int, seq: int, payload: bytes, flags: int = 0, incarnation: int = 0) -> bytes:
    """One block as bytes: header then payload."""
    return HEADER.pack(VERSION, flags, incarnation, pipe, seq) + payload


def block_encoder(pipe: int, incarnation: int, pack: Callable[[Any], Any],
                  parts: bool = False) -> Callable[[int, Any], bytes]:
    """``encode(seq, value)``: the block of output ``pipe`` carrying ``pack(value)``.

    With ``parts``, ``pack`` returns a sequence of buffers that follow the header in
    this order; they are copied once, into the block.
    """
    header = HEADER.pack
    if parts:
        join = b"".join

        def encode_parts(seq: int, value: Any) -> bytes:
            return join((header(VERSION, 0, incarnation, pipe, seq), *pack(value)))
        return encode_parts

    def encode_block(seq: int, value: Any) -> bytes:
        return header(VERSION, 0, incarnation, pipe, seq) + pack(value)
    return encode_block


def headed_encoder(pipe: int, incarnation: int, pack: Callable[[Any], Any],
                   parts: bool = False) -> Callable[[int, Any, int, int], bytes]:
    """``encode(seq, value, bits, size)``: :func:`block_encoder`'s block with the ``HEAD``
    flag and a head field of ``size`` bytes holding ``bits``."""
    header, head = HEADER.pack, HEAD_FIELD.pack

    def encode_headed(seq: int, value: Any, bits: int, size: int) -> bytes:
        payload: Sequence[Any] = pack(value) if parts else (pack(value),)
        return b"".join((header(VERSION, HEAD, incarnation, pipe, seq), head(size, bits),
                         *payload))
    return encode_headed


def seq_of(frame: bytes) -> int:
    """The sequence number of a block (one this process made: no checks)."""
    return _SEQ.unpack_from(frame, _SEQ_OFFSET)[0]


def decode(frame: bytes, pipe: int) -> tuple[int, int, int, memoryview]:
    """``(flags, incarnation, seq, payload)`` of a block that arrived on ``pipe``.

    Raises :class:`WireError` for anything else: a message shorter than a header,
    another format version, or a block of another pipe.
    """
    if len(frame) < HEADER_SIZE:
        raise WireError(f"a {len(frame)}-byte message is shorter than a block header")
    version, flags, incarnation, pipe_id, seq = HEADER.unpack_from(frame)
    if version != VERSION:
        raise WireError(f"block format version {version} is not {VERSION}")
    if pipe_id != pipe:
        raise WireError(f"a block of pipe {pipe_id} arrived on pipe {pipe}")
    return flags, incarnation, seq, memoryview(frame)[HEADER_SIZE:]


def pack_head(bits: int, size: int) -> bytes:
    """The head field of a block: ``size`` bytes of head holding ``bits``."""
    return HEAD_FIELD.pack(size, bits)


def split_head(payload: memoryview) -> tuple[int, int, memoryview]:
    """``(bits, size, payload)`` of a block sent with the HEAD flag.

    Raises :class:`WireError` if the block is too short for a head field or its size
    is not 1 to 4 bytes.
    """
    if len(payload) < HEAD_FIELD_SIZE:
        raise WireError(f"a {len(payload)}-byte payload is shorter than a head field")
    size, bits = HEAD_FIELD.unpack_from(payload)
    if not 1 <= size <= 4 or bits >> (8 * size):
        raise WireError(f"a head field of {size} bytes holding {bits:#x} is not a head")
    return bits, size, payload[HEAD_FIELD_SIZE:]
