"""ArrayPipe: numpy arrays as header + buffer, no pickle."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
from childprocess import child_env
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fission.core.pipes import ArrayPipe
from fission.emulate import emulate
from fission.errors import ConfigError, JobError

DTYPES = st.one_of(hnp.integer_dtypes(endianness="="), hnp.unsigned_integer_dtypes(),
                   hnp.floating_dtypes(endianness="="), hnp.complex_number_dtypes(),
                   hnp.boolean_dtypes(), hnp.datetime64_dtypes(), hnp.byte_string_dtypes(),
                   hnp.integer_dtypes(endianness=">"))


@given(hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)))
def test_round_trip_of_any_dtype_and_shape(array):
    pipe = ArrayPipe(1)
    back = pipe.unpack(memoryview(pipe.pack(array)))
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("view", [
    lambda a: a.T, lambda a: a[::2, 1:], lambda a: a[:, ::-1], lambda a: np.asfortranarray(a),
])
def test_non_contiguous_arrays_arrive_as_they_looked(view):
    array = view(np.arange(48, dtype=np.float32).reshape(6, 8))
    pipe = ArrayPipe(2)
    back = pipe.unpack(pipe.pack(array))
    np.testing.assert_array_equal(back, array)
    assert back.flags.c_contiguous


def test_the_payload_is_the_buffer_not_a_pickle():
    array = np.arange(1000, dtype="<f8")
    packed = ArrayPipe(3).pack(array)
    assert packed.endswith(array.tobytes())
    assert len(packed) - array.nbytes < 32
    assert b"numpy" not in packed and pickle.PROTO not in packed[:2]


def test_received_arrays_are_read_only_views_unless_writable():
    packed = ArrayPipe(4).pack(np.ones(4))
    view = ArrayPipe(4).unpack(packed)
    assert not view.flags.writeable

    class Writable(ArrayPipe):
        WRITABLE = True

    copy = Writable(5).unpack(packed)
    copy[0] = 7
    assert copy.flags.writeable and copy[0] == 7


def test_declared_dtype_and_shape_are_checked_and_make_the_zero_dummy():
    pipe = ArrayPipe(6, dtype="int16", shape=(2, 3))
    assert pipe.zero().shape == (2, 3) and pipe.zero().dtype == np.int16
    pipe.pack(np.zeros((2, 3), np.int16))
    with pytest.raises(JobError, match="carries int16 arrays; got float64"):
        pipe.pack(np.zeros((2, 3)))
    with pytest.raises(JobError, match=r"shape \(2, 3\); got \(3, 2\)"):
        pipe.pack(np.zeros((3, 2), np.int16))
    assert ArrayPipe(7).zero() is None
    with pytest.raises(ConfigError, match="pipe 8: dtype 'nonsense' is not a numpy dtype"):
        ArrayPipe(8, dtype="nonsense")


def test_object_and_structured_arrays_are_refused():
    with pytest.raises(JobError, match="PicklePipe"):
        ArrayPipe(9).pack(np.array([{"a": 1}], dtype=object))
    with pytest.raises(JobError, match="PicklePipe"):
        ArrayPipe(9).pack(np.zeros(2, dtype=[("x", "i4"), ("y", "f8")]))


def test_each_pipe_checks_its_own_dtype_and_shape_whatever_another_pipe_sent():
    """A pipe's header cache holds only kinds it accepted: another pipe's are checked anew."""
    free, strict = ArrayPipe(11), ArrayPipe(12, dtype="int16", shape=(2, 3))
    encode_free, encode_strict = free.block_encoder(), strict.block_encoder()
    for _ in range(2):
        encode_free(np.zeros((2, 3)))
        with pytest.raises(JobError, match="carries int16 arrays; got float64"):
            encode_strict(np.zeros((2, 3)))
    encode_strict(np.zeros((2, 3), np.int16))
    with pytest.raises(JobError, match="carries int16 arrays; got float64"):
        strict.pack(np.zeros((2, 3)))


def test_alternating_kinds_round_trip_from_bytes_and_views_and_a_used_pipe_pickles():
    pipe = ArrayPipe(13)
    encode, decode = pipe.block_encoder(), pipe.block_decoder()
    arrays = [np.arange(6.0).reshape(2, 3), np.arange(4, dtype="<i2"), np.array(7, "u1"),
              np.zeros((0, 2), "c16"), np.array([0, 1, 2], dtype="M8[s]")]
    for array in arrays * 2:
        packed = encode(array)
        for data in (packed, memoryview(packed), memoryview(b"head" + packed)[4:]):
            back = decode(data)
            assert back.dtype == array.dtype and back.shape == array.shape
            np.testing.assert_array_equal(back, array)
    copy = pickle.loads(pickle.dumps(pipe))
    assert "_array_codec" not in copy.__dict__
    np.testing.assert_array_equal(copy.unpack(encode(arrays[0])), arrays[0])
    with pytest.raises((TypeError, ValueError)):
        decode(encode(arrays[0])[:-8])  # a block cut short is an error, not a short array


def test_through_the_emulator_with_the_block_header():
    assert np.array_equal(emulate(ArrayPipe(10))(np.eye(3)).unpacked, np.eye(3))


def _probe(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True,
                            text=True, timeout=20, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.timeout(30)
def test_numpy_is_imported_only_when_an_array_pipe_is_used():
    assert _probe("import sys\nfrom fission.core.pipes import ArrayPipe\nArrayPipe(1)\n"
                  "print('numpy' in sys.modules)") == "False"


@pytest.mark.timeout(30)
def test_without_numpy_an_array_pipe_says_what_to_install():
    out = _probe("import sys\nsys.modules['numpy'] = None  # as if numpy were not installed\n"
                 "from fission.core.pipes import ArrayPipe\n"
                 "try:\n    ArrayPipe(3).pack([1])\nexcept Exception as e:\n"
                 "    print(type(e).__name__, e)")
    assert out == ("ConfigError pipe 3 is an ArrayPipe, which needs numpy: pip install numpy "
                   "(on every node too)")


@given(hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)))
def test_the_parts_encoder_gives_the_packed_block_in_pieces(array):
    pipe = ArrayPipe(5)
    assert b"".join(pipe.block_parts_encoder()(array)) == pipe.pack(array)


def test_a_subclass_that_packs_itself_has_no_parts_encoder_nor_zero_copy_input():
    class Custom(ArrayPipe):
        def pack(self, value):
            return b"x"

        def unpack(self, data):
            return bytes(data)

    assert Custom(6).block_parts_encoder() is None and not Custom(6).zero_copy_input()
    assert ArrayPipe(7).zero_copy_input()
