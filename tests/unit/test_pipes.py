"""Pipes: one object per id, validated class attributes, packing and dummies."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fission.core.base import PIPES, reset
from fission.core.pipes import (
    BasePipe,
    BytesPipe,
    JSONPipe,
    OptionalBytesPipe,
    OptionalJSONPipe,
    OptionalPicklePipe,
    PicklePipe,
)
from fission.errors import ConfigError, JobError, PipeTypeError


class ReducePipe(PicklePipe):
    BLOCK_COUNT = 5


# -- the registry ---------------------------------------------------------------------------


def test_same_id_same_class_is_the_same_object():
    first = PicklePipe(7)
    assert PicklePipe(7) is first
    assert first.id == 7
    assert len(PIPES) == 1


def test_same_id_other_class_is_a_pipe_type_error_naming_id_and_classes():
    PicklePipe(7)
    with pytest.raises(PipeTypeError) as caught:
        JSONPipe(7)
    assert isinstance(caught.value, ConfigError)
    message = str(caught.value)
    assert "7" in message and "PicklePipe" in message and "JSONPipe" in message


def test_a_subclass_is_another_class():
    PicklePipe(8)
    with pytest.raises(PipeTypeError, match=r"8.*PicklePipe.*ReducePipe"):
        ReducePipe(8)


def test_bytes_pipe_with_another_block_size_is_an_error():
    first = BytesPipe(5, 1024)
    assert BytesPipe(5, 1024) is first
    with pytest.raises(PipeTypeError) as caught:
        BytesPipe(5, 2048)
    assert "5" in str(caught.value) and "1024" in str(caught.value) and "2048" in str(caught.value)
    assert BytesPipe(5, 1024).block_size == 1024


def test_arguments_may_be_left_out_on_the_second_mention():
    first = BytesPipe(6, 16)
    assert BytesPipe(6) is first


@pytest.mark.parametrize("bad", ["7", True, False, -1, 1.0, None, 2**32])
def test_bad_ids_are_config_errors(bad):
    with pytest.raises(ConfigError):
        PicklePipe(bad)
    assert len(PIPES) == 0


def test_reset_forgets_every_pipe():
    first = PicklePipe(7)
    reset()
    assert len(PIPES) == 0
    assert JSONPipe(7) is not first


# -- class attributes -----------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, -1, "3", 2.0, True, None])
def test_bad_block_count_is_a_config_error_naming_the_pipe(count):
    bad = type("BadCount", (PicklePipe,), {"BLOCK_COUNT": count})
    with pytest.raises(ConfigError, match=r"pipe 9\b.*BLOCK_COUNT"):
        bad(9)
    assert len(PIPES) == 0, "a pipe that failed its checks must not be registered"


@pytest.mark.parametrize("name", ["RETAIN_BLOCKS", "RETAIN_BYTES"])
@pytest.mark.parametrize("bound", [0, -5, "64M", 1.5, True])
def test_bad_retention_bounds_are_a_config_error_naming_the_pipe(name, bound):
    bad = type("BadBound", (PicklePipe,), {name: bound})
    with pytest.raises(ConfigError, match=rf"pipe 9\b.*{name} must be an int >= 1"):
        bad(9)


def test_retention_must_hold_a_whole_window_and_replay_count_no_longer_limits_hwm():
    narrow = type("Narrow", (PicklePipe,), {"BLOCK_COUNT": 8, "RETAIN_BLOCKS": 4})
    with pytest.raises(ConfigError, match=r"pipe 2\b: RETAIN_BLOCKS \(4\) must be at least "
                                          r"BLOCK_COUNT \(8\)"):
        narrow(2)
    small = type("Small", (PicklePipe,), {"HWM": 4})  # REPLAY_COUNT 64 > HWM: accepted now
    assert small(3).RETAIN_BLOCKS == 16384 and small(3).RETAIN_BYTES == 64 * 2**20


def test_bytes_pipe_block_count_argument_is_checked():
    with pytest.raises(ConfigError, match=r"pipe 3\b.*BLOCK_COUNT"):
        BytesPipe(3, 4, 0)
    with pytest.raises(ConfigError, match=r"pipe 4\b.*block_size"):
        BytesPipe(4, 0)
    assert BytesPipe(5, 4, 3).BLOCK_COUNT == 3


@pytest.mark.parametrize("mode", ["oldest", "newest"])
def test_delete_modes_oldest_and_newest_are_accepted(mode):
    pipe = type("Opt", (OptionalPicklePipe,), {"OPTIONAL_DELETE_MODE": mode})(11)
    assert pipe.OPTIONAL_DELETE_MODE == mode


@pytest.mark.parametrize("mode", ["middle", "OLDEST", "", None])
def test_other_delete_modes_are_config_errors(mode):
    bad = type("Opt", (OptionalPicklePipe,), {"OPTIONAL_DELETE_MODE": mode})
    with pytest.raises(ConfigError, match=r"pipe 12\b.*OPTIONAL_DELETE_MODE"):
        bad(12)


@pytest.mark.parametrize(("attribute", "value"), [
    ("OPTIONAL_BUFFER_SIZE", -1),
    ("OPTIONAL_BUFFER_SIZE", "2"),
    ("OPTIONAL_STORE", "yes"),
    ("BLOCK_COUNT", 2),
])
def test_bad_optional_attributes_are_config_errors(attribute, value):
    bad = type("Opt", (OptionalPicklePipe,), {attribute: value})
    with pytest.raises(ConfigError, match=r"pipe 13\b"):
        bad(13)


def test_bad_dummy_mode_and_hwm_are_config_errors():
    with pytest.raises(ConfigError, match=r"pipe 14\b.*DUMMY_MODE"):
        type("P", (PicklePipe,), {"DUMMY_MODE": "last"})(14)
    with pytest.raises(ConfigError, match=r"pipe 15\b.*HWM"):
        type("P", (PicklePipe,), {"HWM": 0})(15)


def test_optional_pipes_are_optional_and_plain_ones_are_not():
    assert OptionalPicklePipe(1).optional and OptionalJSONPipe(2).optional
    assert OptionalBytesPipe(3, 8).optional
    assert not PicklePipe(4).optional and not BytesPipe(5, 8).optional


# -- packing and dummies --------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_pickle_and_json_pipes_round_trip(value):
    for pipe in (PicklePipe(1), JSONPipe(2)):
        assert pipe.block_decoder()(memoryview(pipe.block_encoder()(value))) == value


def test_pickle_pipe_carries_python_objects():
    pipe = PicklePipe(1)
    value = {"t": (1, 2), "s": {3}, "b": b"\x00"}
    assert pipe.block_decoder()(pipe.block_encoder()(value)) == value


class _Stripping(PicklePipe):
    """The original's contract: pack returns the object to pickle, unpack gets it back."""

    def pack(self, value):
        return {"text": value.strip()}

    def unpack(self, data):
        return data["text"].upper()


def test_pickle_pipe_pack_and_unpack_are_hooks_around_pickling():
    pipe = _Stripping(1)
    data = pipe.block_encoder()("  plus \n")
    assert pickle.loads(data) == {"text": "plus"}
    assert pipe.block_decoder()(memoryview(data)) == "PLUS"


def test_pickle_pipe_hooks_default_to_the_value_itself():
    pipe = PicklePipe(1)
    assert pipe.pack([1, 2]) == [1, 2]
    assert pipe.unpack({"a": 1}) == {"a": 1}


def test_bytes_pipe_carries_exactly_block_size_bytes():
    pipe = BytesPipe(1, 4)
    assert pipe.unpack(pipe.pack(b"abcd")) == b"abcd"
    assert pipe.pack(bytearray(b"wxyz")) == b"wxyz"
    with pytest.raises(JobError, match=r"pipe 1\b.*4 bytes.*3 bytes"):
        pipe.pack(b"abc")


def test_dummies():
    pickle_pipe, bytes_pipe = PicklePipe(1), BytesPipe(2, 6)
    zero_pipe = type("Z", (PicklePipe,), {"DUMMY_MODE": "zero"})(3)
    # 'prev' (the default) repeats the previous value, or zero() before there is one.
    assert pickle_pipe.dummy("last", True) == "last"
    assert pickle_pipe.dummy(None, False) is None
    # BytesPipe defaults to 'zero': block_size zero bytes, whatever came before.
    assert bytes_pipe.zero() == bytes(6)
    assert bytes_pipe.dummy(b"abcdef", True) == bytes(6)
    assert zero_pipe.dummy("last", True) is None


class _RawPipe(BasePipe):
    """A pipe of the original's kind: a block size and no pack/unpack of its own."""

    BLOCK_SIZE = 4


def test_a_base_pipe_without_pack_carries_bytes_as_they_are():
    pipe = _RawPipe(1)
    assert pipe.block_encoder()(bytearray(b"wxyz")) == b"wxyz"
    assert pipe.block_decoder()(memoryview(b"abcd")) == b"abcd"
    with pytest.raises(JobError, match=r"pipe 1 \(_RawPipe\) carries bytes and got a int"):
        pipe.block_encoder()(7)
