"""The block header: 16 bytes, versioned, and rejected when it is not one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fission.errors import FissionError, WireError
from fission.wire.frame import HEADER, HEADER_SIZE, VERSION, Flags, decode_header, encode


def test_the_header_is_16_bytes():
    assert HEADER_SIZE == 16
    assert len(encode(1, 2, b"")) == 16


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1), st.integers(0, 2**16 - 1),
       st.sampled_from([Flags.NONE, Flags.END, Flags.DUMMY, Flags.END | Flags.DUMMY]),
       st.binary(max_size=64))
def test_encode_then_decode(pipe, seq, incarnation, flags, payload):
    frame = encode(pipe, seq, payload, flags=flags, incarnation=incarnation)
    assert decode_header(frame) == (flags, incarnation, pipe, seq)
    assert frame[HEADER_SIZE:] == payload


@pytest.mark.parametrize("size", [0, 1, 15])
def test_a_short_message_is_a_wire_error(size):
    with pytest.raises(WireError, match=f"{size}-byte"):
        decode_header(encode(1, 2, b"")[:size])


def test_another_version_is_a_wire_error():
    frame = HEADER.pack(VERSION + 1, 0, 0, 1, 0) + b"payload"
    with pytest.raises(WireError, match="version"):
        decode_header(frame)


def test_wire_error_is_a_fission_error_and_a_value_error():
    assert issubclass(WireError, FissionError) and issubclass(WireError, ValueError)
