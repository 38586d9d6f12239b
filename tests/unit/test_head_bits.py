"""The Head class, head_reduce, and the head field of the block header."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fission.core.head import FINISH_BIT, Head
from fission.core.jobs import PythonJob
from fission.errors import WireError
from fission.wire.frame import HEAD, decode, encode, pack_head, split_head


def test_bits_are_numbered_from_the_most_significant() -> None:
    head = Head(0b1000_0001)
    assert head[0] and head[7] and head[-1] and head[-8]
    assert not head[1] and not head[6]
    head[3] = True
    assert head == 0b1001_0001
    head[0] = False
    assert head.head == 0b0001_0001
    assert str(head) == "HEAD: 00010001"
    assert head[4:8] == Head(0b0001)
    assert head.bit_conversion == [0, 0, 0, 1, 0, 0, 0, 1]


def test_bit_1_is_reserved_and_indexes_are_checked() -> None:
    head = Head()
    with pytest.raises(ValueError, match="reserved"):
        head[1] = True
    with pytest.raises(ValueError, match="reserved"):
        head[-7] = 1
    head[1] = False  # clearing it is harmless
    with pytest.raises(IndexError):
        head[8]
    with pytest.raises(IndexError):
        Head(0, 2)[-17]
    with pytest.raises(ValueError, match="does not fit"):
        Head(256)
    with pytest.raises(ValueError, match="1 to 4 bytes"):
        Head(0, 5)


def test_operations_keep_the_size_and_stay_in_range() -> None:
    a, b = Head(0b1100_0000), Head(0b1010_0000)
    assert a | b == 0b1110_0000 and a & b == 0b1000_0000 and a ^ b == 0b0110_0000
    assert a | 1 == 0b1100_0001 and 1 | a == 0b1100_0001
    assert ~a == 0b0011_1111
    assert a << 1 == 0b1000_0000 and a >> 6 == 0b11
    assert len(Head(1, 1) | Head(1, 3)) == 3
    grown = Head(0b1)
    grown.head_size = 1
    assert (grown.head, len(grown)) == (0b1_0000_0000, 2)
    grown.head_size = -5
    assert (grown.head, len(grown)) == (0b1, 1)
    assert Head(b"\x01\x02", 2) == 0x0102
    assert Head(7).to_bytes() == b"\x07"


def test_head_reduce_ors_every_input_and_finish_sets_its_bit() -> None:
    class Job(PythonJob):
        def run(self, *values):
            return None

    job = Job()
    job.in_heads = [Head(0b1000_0000), [Head(0b1), Head(0b10)], Head()]
    assert job.head_reduce() == 0b1000_0011
    job.finish()
    assert job.head[FINISH_BIT] and job.finished


@given(st.integers(1, 4).flatmap(lambda size: st.tuples(st.just(size),
                                                        st.integers(0, 2 ** (8 * size) - 1))),
       st.binary(max_size=32))
def test_the_head_field_round_trips(size_bits, payload) -> None:
    size, bits = size_bits
    frame = encode(9, 3, pack_head(bits, size) + payload, flags=HEAD)
    flags, _incarnation, seq, rest = decode(frame, 9)
    assert flags & HEAD and seq == 3
    got_bits, got_size, got_payload = split_head(rest)
    assert (got_bits, got_size, bytes(got_payload)) == (bits, size, payload)


def test_a_bad_head_field_is_a_wire_error() -> None:
    with pytest.raises(WireError, match="shorter than a head field"):
        split_head(memoryview(b"\x01\x00"))
    with pytest.raises(WireError, match="not a head"):
        split_head(memoryview(pack_head(256, 1)))
