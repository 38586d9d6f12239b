"""The block header: 16 bytes, versioned, and rejected when it is not one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fission.errors import FissionError, WireError
from fission.wire.frame import (
    HEADER,
    HEADER_SIZE,
    VERSION,
    Flags,
    block_encoder,
    decode,
    encode,
    headed_encoder,
    seq_of,
    split_head,
)


def test_the_header_is_16_bytes():
    assert HEADER_SIZE == 16
    assert len(encode(1, 2, b"")) == 16


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1), st.integers(0, 2**16 - 1),
       st.sampled_from([Flags.NONE, Flags.END]),
       st.binary(max_size=64))
def test_encode_then_decode(pipe, seq, incarnation, flags, payload):
    frame = encode(pipe, seq, payload, flags=flags, incarnation=incarnation)
    got_flags, got_incarnation, got_seq, got_payload = decode(frame, pipe)
    assert (got_flags, got_incarnation, got_seq) == (flags, incarnation, seq)
    assert bytes(got_payload) == payload == frame[HEADER_SIZE:]


@pytest.mark.parametrize("size", [0, 1, 15])
def test_a_short_message_is_a_wire_error(size):
    with pytest.raises(WireError, match=f"{size}-byte"):
        decode(encode(1, 2, b"")[:size], 1)


def test_another_version_is_a_wire_error():
    frame = HEADER.pack(VERSION + 1, 0, 0, 1, 0) + b"payload"
    with pytest.raises(WireError, match="version"):
        decode(frame, 1)


def test_a_block_of_another_pipe_is_a_wire_error():
    with pytest.raises(WireError, match="pipe 7 arrived on pipe 1"):
        decode(encode(7, 0, b"x"), 1)


def test_wire_error_is_a_fission_error_and_a_value_error():
    assert issubclass(WireError, FissionError) and issubclass(WireError, ValueError)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1), st.integers(0, 2**16 - 1),
       st.binary(max_size=64))
def test_a_block_encoder_makes_what_encode_makes(pipe, seq, incarnation, payload):
    frame = block_encoder(pipe, incarnation, bytes)(seq, payload)
    assert frame == encode(pipe, seq, payload, incarnation=incarnation)
    assert seq_of(frame) == seq


@given(st.lists(st.binary(max_size=16), max_size=4))
def test_parts_are_joined_behind_the_header(parts):
    frame = block_encoder(3, 1, tuple, parts=True)(9, parts)
    assert frame == encode(3, 9, b"".join(parts), incarnation=1)


def test_a_headed_block_carries_its_head_field_before_the_payload():
    frame = headed_encoder(3, 2, bytes)(5, b"abc", 0x1FF, 2)
    flags, incarnation, seq, payload = decode(frame, 3)
    assert (flags, incarnation, seq) == (Flags.HEAD, 2, 5)
    assert split_head(payload)[:2] == (0x1FF, 2) and bytes(split_head(payload)[2]) == b"abc"
