"""Socket queues bounded in bytes: the marks a pipe's sockets get from its first block."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fission.core.pipes import ArrayPipe, BytesPipe, PicklePipe
from fission.errors import ConfigError
from fission.runtime.queues import input_mark, marks


def test_big_blocks_get_a_mark_of_one_and_small_ones_the_pipes_hwm():
    assert marks(32 * 2**20, 256, 50_000_000) == 1  # 50 MB: one block per queue
    assert marks(32 * 2**20, 256, 4 * 2**20) == 8
    assert marks(32 * 2**20, 256, 100) == 256  # small blocks: HWM bounds, as before
    assert marks(32 * 2**20, 256, 0) == 256  # an empty block (an END) fits any number


@given(st.integers(1, 2**40), st.integers(1, 10**5), st.integers(1, 2**40))
def test_a_mark_is_between_one_and_hwm_and_its_blocks_fit_in_the_bytes(queue, hwm, size):
    mark = marks(queue, hwm, size)
    assert 1 <= mark <= hwm
    assert mark == 1 or mark * size <= queue  # more than one only if they all fit
    assert mark == hwm or (mark + 1) * size > queue  # as many as fit, up to HWM


def test_queue_bytes_is_checked_like_hwm():
    assert PicklePipe(20).QUEUE_BYTES == 32 * 2**20
    for bad in (0, -1, 2.5, True, "32M"):
        with pytest.raises(ConfigError, match=r"pipe 21\b: QUEUE_BYTES must be an int >= 1"):
            type("P", (PicklePipe,), {"QUEUE_BYTES": bad})(21)


def test_an_input_is_sized_from_what_its_pipe_knows_of_its_blocks_before_any_arrives():
    assert input_mark(ArrayPipe(30, "float64", 6_250_000)) == 1  # 50 MB arrays
    assert input_mark(ArrayPipe(31, "uint8", (1024, 1024))) == 32  # 1 MiB arrays
    assert input_mark(BytesPipe(32, 8 * 2**20)) == 4
    assert input_mark(BytesPipe(33, 512)) == 256
    assert input_mark(ArrayPipe(34)) == input_mark(PicklePipe(35)) == 256  # size unknown
