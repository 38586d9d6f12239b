"""Pipes: the typed, one-way connections between jobs.

A pipe knows how to turn a value into bytes (:meth:`BasePipe.pack`, or pickling
around :meth:`PicklePipe.pack`) and back, how many blocks its consumer takes per run
(``BLOCK_COUNT``), and what stands in for a block that never arrived (a *dummy*).
It does no I/O: the job runtime moves the bytes.

Subclass a pipe to change any of these::

    class ReducePipe(PicklePipe):
        BLOCK_COUNT = 5

Optional pipes (``OptionalMixIn``) never hold up a run; their class attributes
choose what the consumer sees when no new value has arrived (see
:mod:`fission.runtime.optional`).
"""

from __future__ import annotations

import functools
import json
import math
import pickle
import struct
from collections.abc import Callable
from typing import Any, ClassVar

from fission.core.base import PIPES
from fission.errors import ConfigError, JobError

DUMMY_MODES = ("prev", "zero")
DELETE_MODES = ("oldest", "newest")


class _PipeMeta(type):
    """Routes ``SomePipe(id, ...)`` through the registry, so one id is one object."""

    def __call__(cls, id: int, *args: Any, **kwargs: Any) -> Any:  # noqa: A002 - the seed's name
        return PIPES.get_or_create(cls, id, args, kwargs)


class BasePipe(metaclass=_PipeMeta):
    """A connection from exactly one producing job to exactly one consuming job.

    Class attributes a subclass may override:

    - ``BLOCK_COUNT``: how many consecutive blocks the consumer's ``run`` receives at
      once, as a list (1 means the value itself).
    - ``DUMMY_MODE``: what replaces a block lost upstream: ``"prev"`` repeats the last
      value received (or :meth:`zero` before the first), ``"zero"`` uses :meth:`zero`.
    - ``HWM``: blocks the sending and the receiving side each buffer before a
      producer waits for its consumer (backpressure).
    - ``QUEUE_BYTES``: the bytes of blocks each of those two queues holds at most
      (default 32 MiB): its mark is as many blocks as fit, at least 1, at most ``HWM``,
      sized by the first block sent on the sending side, by :meth:`block_bytes` on the
      receiving side (fission/runtime/queues.py). ZeroMQ counts messages only; without
      this, 256 blocks of 50 MB would queue 12 GB on each side.
    - ``RETAIN_BLOCKS`` and ``RETAIN_BYTES``: the most blocks, and bytes of blocks,
      the producer keeps to send them again to the replacement of a consumer that
      failed (``run``, and ``simulate`` for a consumer that may restart). A block is
      kept until it is acknowledged: its consumer's snapshot covers it, or everything
      computed from it has reached the sinks (fission/backends/acks.py). When this is
      full the producer waits for acknowledgements (backpressure); it never drops a
      kept block. The defaults (16384 blocks, 64 MiB) cost a Raspberry Pi at most
      64 MiB per output pipe. The floor: it never waits while it keeps fewer blocks than
      its consumers need before they can acknowledge the first, whatever their bytes
      (at least one; under ``run`` the product of the ``BLOCK_COUNT``s down to a sink,
      under ``simulate`` for a consumer that may restart its ``BLOCK_COUNT`` times four
      snapshot intervals and one): only that can exceed ``RETAIN_BYTES``.
    - ``REPLAY_COUNT``: deprecated, accepted for compatibility and otherwise unused:
      a fixed window of replayed blocks lost blocks when a failover needed more;
      retention follows acknowledgements now, bounded by ``RETAIN_*``.
    """

    BLOCK_COUNT: ClassVar[int] = 1
    DUMMY_MODE: ClassVar[str] = "prev"
    HWM: ClassVar[int] = 256
    QUEUE_BYTES: ClassVar[int] = 32 * 2**20
    REPLAY_COUNT: ClassVar[int] = 64
    RETAIN_BLOCKS: ClassVar[int] = 16384
    RETAIN_BYTES: ClassVar[int] = 64 * 2**20
    optional: ClassVar[bool] = False

    def __init__(self, id: int) -> None:  # noqa: A002 - the seed's name
        self.id = id
        self._check()

    def _check(self) -> None:
        count = self.BLOCK_COUNT
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigError(f"pipe {self.id}: BLOCK_COUNT must be an int >= 1 (got {count!r})")
        if self.DUMMY_MODE not in DUMMY_MODES:
            raise ConfigError(
                f"pipe {self.id}: DUMMY_MODE must be one of {DUMMY_MODES} (got {self.DUMMY_MODE!r})"
            )
        if isinstance(self.HWM, bool) or not isinstance(self.HWM, int) or self.HWM < 1:
            raise ConfigError(f"pipe {self.id}: HWM must be an int >= 1 (got {self.HWM!r})")
        queue = self.QUEUE_BYTES
        if isinstance(queue, bool) or not isinstance(queue, int) or queue < 1:
            raise ConfigError(f"pipe {self.id}: QUEUE_BYTES must be an int >= 1 (got {queue!r}); "
                              "it bounds the bytes each of the pipe's socket queues holds")
        for name in ("RETAIN_BLOCKS", "RETAIN_BYTES"):
            bound = getattr(self, name)
            if isinstance(bound, bool) or not isinstance(bound, int) or bound < 1:
                raise ConfigError(f"pipe {self.id}: {name} must be an int >= 1 (got {bound!r}); "
                                  "it bounds what the producer keeps for replays")
        if self.RETAIN_BLOCKS < self.BLOCK_COUNT:
            raise ConfigError(
                f"pipe {self.id}: RETAIN_BLOCKS ({self.RETAIN_BLOCKS}) must be at least "
                f"BLOCK_COUNT ({self.BLOCK_COUNT}): the producer waits for acknowledgements "
                "once it keeps RETAIN_BLOCKS blocks, and its consumer needs a whole window")
        replay = self.REPLAY_COUNT
        if isinstance(replay, bool) or not isinstance(replay, int) or replay < 0:
            raise ConfigError(f"pipe {self.id}: REPLAY_COUNT must be an int >= 0 (got {replay!r})")

    def pack(self, value: Any) -> bytes:
        """Turn one value into the bytes of a block.

        By default the value must already be bytes (or a bytearray or memoryview), as in
        the original FISSION, whose ``BasePipe`` passed them through unchanged.
        """
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        raise JobError(
            f"pipe {self.id} ({type(self).__name__}) carries bytes and got a "
            f"{type(value).__name__}: return bytes from run, or define pack() on the pipe class"
        )

    def unpack(self, data: bytes | memoryview) -> Any:
        """Turn the bytes of a block back into its value (by default: the bytes)."""
        return bytes(data)

    def block_encoder(self) -> Callable[[Any], bytes]:
        """The function the runtime calls to turn each value into a block's bytes.

        For most pipes that is :meth:`pack` itself; :class:`PicklePipe` pickles around it.
        """
        return self.pack

    def block_decoder(self) -> Callable[[bytes | memoryview], Any]:
        """The function the runtime calls to turn a block's bytes back into a value."""
        return self.unpack

    def block_parts_encoder(self) -> Callable[[Any], tuple[Any, ...]] | None:
        """A function that turns a value into the buffers of a block's payload, in order,
        which the runtime copies once, behind the block header; None (the default): the
        runtime uses :meth:`block_encoder`. Big payloads save a copy this way."""
        return None

    def zero_copy_input(self) -> bool:
        """Whether the runtime hands this pipe's decoder a view of the received message
        instead of a copy (worth it for big blocks that the decoder does not copy)."""
        return False

    def block_bytes(self) -> int | None:
        """The size of every block's payload, if the pipe knows it before any is sent
        (None: it does not). A consumer's receive queue is bounded by ``QUEUE_BYTES``
        only through this (fission/runtime/queues.py)."""
        return None

    def zero(self) -> Any:
        """The neutral value used by the 'zero' dummy mode."""
        return None

    def dummy(self, previous: Any, has_previous: bool) -> Any:
        """The value that stands in for a block that never arrived."""
        if self.DUMMY_MODE == "prev" and has_previous:
            return previous
        return self.zero()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id})"


class PicklePipe(BasePipe):
    """Carries any picklable Python object (pickle protocol 5, a fresh memo per block).

    Its :meth:`pack` and :meth:`unpack` are hooks around the pickling, as in the original
    FISSION: ``pack(value)`` returns the object that is pickled and sent, ``unpack(obj)``
    gets the unpickled object and returns what the consumer's ``run`` receives. Both pass
    the value through unchanged unless a subclass overrides them, e.g.::

        class StripPipe(PicklePipe):
            def pack(self, value):
                return value.strip()
    """

    def pack(self, value: Any) -> Any:
        """The object to pickle for ``value`` (``value`` itself unless overridden)."""
        return value

    def unpack(self, data: Any) -> Any:
        """The value ``run`` receives for the unpickled object ``data`` (itself by default)."""
        return data

    def block_encoder(self) -> Callable[[Any], bytes]:
        if type(self).pack is PicklePipe.pack:  # the hot path: no hook to call
            return functools.partial(pickle.dumps, protocol=5)
        hook, dumps = self.pack, pickle.dumps
        return lambda value: dumps(hook(value), protocol=5)

    def block_decoder(self) -> Callable[[bytes | memoryview], Any]:
        if type(self).unpack is PicklePipe.unpack:
            return pickle.loads
        hook, loads = self.unpack, pickle.loads
        return lambda data: hook(loads(data))


class JSONPipe(BasePipe):
    """Carries JSON values: safe to read from any peer, and language neutral."""

    def pack(self, value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    def unpack(self, data: bytes | memoryview) -> Any:
        return json.loads(bytes(data))


class BytesPipe(BasePipe):
    """Carries raw blocks of exactly ``block_size`` bytes (audio frames, say).

    ``block_count`` sets ``BLOCK_COUNT`` for this pipe. A lost block is replaced by
    ``block_size`` zero bytes unless ``DUMMY_MODE`` says otherwise.
    """

    DUMMY_MODE: ClassVar[str] = "zero"

    def __init__(self, id: int, block_size: int, block_count: int = 1) -> None:  # noqa: A002
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
            raise ConfigError(f"pipe {id}: block_size must be an int >= 1 (got {block_size!r})")
        self.block_size = block_size
        self.BLOCK_COUNT = block_count
        super().__init__(id)

    def pack(self, value: Any) -> bytes:
        data = bytes(value)
        if len(data) != self.block_size:
            raise JobError(
                f"pipe {self.id} carries blocks of {self.block_size} bytes; got {len(data)} bytes"
            )
        return data

    def unpack(self, data: bytes | memoryview) -> bytes:
        return bytes(data)

    def block_bytes(self) -> int:
        return self.block_size

    def zero(self) -> bytes:
        return bytes(self.block_size)


class OptionalMixIn:
    """Makes a pipe optional: it never holds up its consumer's ``run``.

    - ``OPTIONAL_DEFAULT``: the value ``run`` sees before anything arrived.
    - ``OPTIONAL_STORE``: ``True`` keeps handing the last value received to every
      run until a newer one arrives; ``False`` hands each value to exactly one run,
      then falls back to ``OPTIONAL_DEFAULT``.
    - ``OPTIONAL_BUFFER_SIZE``: values waiting to be handed out (0 = no limit).
    - ``OPTIONAL_DELETE_MODE``: which value a full buffer drops, ``'oldest'`` or
      ``'newest'`` (the one just arriving).
    """

    OPTIONAL_DEFAULT: ClassVar[Any] = None
    OPTIONAL_STORE: ClassVar[bool] = False
    OPTIONAL_BUFFER_SIZE: ClassVar[int] = 0
    OPTIONAL_DELETE_MODE: ClassVar[str] = "oldest"
    optional: ClassVar[bool] = True

    def _check(self) -> None:
        super()._check()  # type: ignore[misc]
        pipe_id = self.id  # type: ignore[attr-defined]
        size = self.OPTIONAL_BUFFER_SIZE
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ConfigError(
                f"pipe {pipe_id}: OPTIONAL_BUFFER_SIZE must be an int >= 0, 0 meaning no limit "
                f"(got {size!r})"
            )
        if self.OPTIONAL_DELETE_MODE not in DELETE_MODES:
            raise ConfigError(
                f"pipe {pipe_id}: OPTIONAL_DELETE_MODE must be 'oldest' or 'newest' "
                f"(got {self.OPTIONAL_DELETE_MODE!r})"
            )
        if not isinstance(self.OPTIONAL_STORE, bool):
            raise ConfigError(
                f"pipe {pipe_id}: OPTIONAL_STORE must be True or False "
                f"(got {self.OPTIONAL_STORE!r})"
            )
        if self.BLOCK_COUNT != 1:  # type: ignore[attr-defined]
            raise ConfigError(f"pipe {pipe_id}: an optional pipe cannot have a BLOCK_COUNT")


class OptionalPicklePipe(OptionalMixIn, PicklePipe):
    """An optional :class:`PicklePipe`."""


class OptionalJSONPipe(OptionalMixIn, JSONPipe):
    """An optional :class:`JSONPipe`."""


class OptionalBytesPipe(OptionalMixIn, BytesPipe):
    """An optional :class:`BytesPipe`."""


class ArrayPipe(BasePipe):
    """Carries numpy arrays as their raw buffer: a small header, then the bytes.

    The header holds the dtype (with its byte order) and the shape, so any numeric,
    bool, complex, datetime or fixed-size string array of any shape arrives as it left;
    nothing is pickled. A non-contiguous array (a slice, a transpose) is made
    contiguous on the way out. ``unpack`` returns a read-only array over the received
    block itself, without copying it: call ``.copy()`` to change it in place, or set
    ``WRITABLE = True`` on a subclass to get a private, writable copy every time.

    ``dtype`` and ``shape``, when given, are checked on every block sent and make the
    dummy of ``DUMMY_MODE = "zero"`` an array of zeros of that kind (else ``None``).
    numpy is imported only when an ArrayPipe is used: networks without one do not need it.
    """

    WRITABLE: ClassVar[bool] = False

    def __init__(self, id: int, dtype: Any = None, shape: Any = None) -> None:  # noqa: A002
        super().__init__(id)
        self.dtype = None
        if dtype is not None:
            try:
                self.dtype = _numpy(id).dtype(dtype)
            except TypeError as error:
                raise ConfigError(f"pipe {id}: dtype {dtype!r} is not a numpy dtype "
                                  f"({error})") from None
        if shape is not None and not isinstance(shape, (tuple, list)):
            shape = (shape,)
        self.shape = None if shape is None else tuple(int(n) for n in shape)

    def pack(self, value: Any) -> bytes:
        return self._codec().encode(value)

    def unpack(self, data: bytes | memoryview) -> Any:
        return self._codec().decode(data)

    def block_encoder(self) -> Callable[[Any], bytes]:
        """This pipe's own encoder (its header cache), unless a subclass overrides pack."""
        if type(self).pack is ArrayPipe.pack:
            return self._codec().encode
        return self.pack

    def block_decoder(self) -> Callable[[bytes | memoryview], Any]:
        if type(self).unpack is ArrayPipe.unpack:
            return self._codec().decode
        return self.unpack

    def block_parts_encoder(self) -> Callable[[Any], tuple[Any, ...]] | None:
        """The array header and the array's buffer, unless a subclass overrides pack."""
        if type(self).pack is ArrayPipe.pack:
            return self._codec().encode_parts
        return None

    def zero_copy_input(self) -> bool:
        """The array is a view of the received message itself (its own decoder)."""
        return type(self).unpack is ArrayPipe.unpack

    def _codec(self) -> _ArrayCodec:
        codec = self.__dict__.get("_array_codec")
        if codec is None:
            codec = self.__dict__["_array_codec"] = _ArrayCodec(self, _numpy(self.id))
        return codec

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_array_codec", None)  # rebuilt where the pipe is used
        return state

    def _check_array(self, dtype: Any, shape: tuple[int, ...]) -> None:
        if dtype.hasobject or dtype.fields is not None:
            raise JobError(f"pipe {self.id} (ArrayPipe) carries plain arrays; got dtype "
                           f"{dtype}: send it through a PicklePipe instead")
        if self.dtype is not None and dtype != self.dtype:
            raise JobError(f"pipe {self.id} carries {self.dtype} arrays; got {dtype}")
        if self.shape is not None and shape != self.shape:
            raise JobError(f"pipe {self.id} carries arrays of shape {self.shape}; got {shape}")

    def block_bytes(self) -> int | None:
        """The raw buffer of a block (its small header aside), if dtype and shape are given."""
        if self.dtype is None or self.shape is None:
            return None
        return self.dtype.itemsize * math.prod(self.shape)

    def zero(self) -> Any:
        if self.dtype is None or self.shape is None:
            return None
        return _numpy(self.id).zeros(self.shape, self.dtype)


#: An ArrayPipe block starts with: length of the dtype code, number of dimensions; then
#: the dtype code (``numpy.dtype.str``), one little-endian uint64 per dimension, the buffer.
_ARRAY_META = struct.Struct("<BB")
#: Headers and layouts an ArrayPipe remembers: a stream of arrays of one kind (the usual
#: case) makes and parses its header once. Bounded, for streams whose shapes keep changing.
_ARRAY_CACHE_SIZE = 256


class _ArrayCodec:
    """Packs and unpacks one ArrayPipe's blocks: the per-block path of every array.

    It is the pipe's, made where the pipe is used (not pickled with it), so its caches
    hold only kinds of array the pipe has accepted: a kind found in :attr:`_headers`
    passed the pipe's ``dtype``/``shape`` check once and needs none again. The work per
    block is what raw numpy and pyzmq code would do: one copy of the buffer behind the
    header (``bytes.join``) on the way out, one ``ndarray`` over the received block, of
    the shape and dtype its header names, on the way in.
    """

    def __init__(self, pipe: ArrayPipe, np: Any) -> None:
        self._pipe = pipe
        self._np = np
        self._asarray, self._ndarray = np.asarray, np.ndarray
        self._writable = pipe.WRITABLE
        self._headers: dict[tuple[Any, tuple[int, ...]], bytes] = {}
        self._layouts: dict[bytes, tuple[tuple[int, ...], Any]] = {}

    def encode(self, value: Any) -> bytes:
        return b"".join(self.encode_parts(value))

    def encode_parts(self, value: Any) -> tuple[bytes, Any]:
        """The array header and a buffer of the array's bytes (no copy of a C-contiguous
        array; one of any other)."""
        array = self._asarray(value, order="C")
        kind = (array.dtype, array.shape)
        meta = self._headers.get(kind)
        if meta is None:
            meta = self._header(*kind)
        if array.dtype.kind in "mM":  # datetimes export no buffer: their bytes do
            return meta, memoryview(array.reshape(-1).view(self._np.uint8))
        return meta, array

    def decode(self, data: bytes | memoryview) -> Any:
        code_size, ndim = _ARRAY_META.unpack_from(data)
        size = _ARRAY_META.size + code_size + 8 * ndim
        key = bytes(data[:size])
        layout = self._layouts.get(key)
        if layout is None:
            layout = self._layout(key, code_size, ndim)
        array = self._ndarray(*layout, data, size)
        return array.copy() if self._writable else array

    def _header(self, dtype: Any, shape: tuple[int, ...]) -> bytes:
        """The array header of arrays of this kind, checked and remembered."""
        self._pipe._check_array(dtype, shape)
        code = dtype.str.encode()
        meta = (_ARRAY_META.pack(len(code), len(shape)) + code
                + struct.pack(f"<{len(shape)}Q", *shape))
        if len(self._headers) >= _ARRAY_CACHE_SIZE:
            self._headers.clear()
        self._headers[(dtype, shape)] = meta
        return meta

    def _layout(self, header: bytes, code_size: int, ndim: int) -> tuple[tuple[int, ...], Any]:
        start = _ARRAY_META.size
        dtype = self._np.dtype(header[start:start + code_size].decode())
        shape = struct.unpack_from(f"<{ndim}Q", header, start + code_size)
        if len(self._layouts) >= _ARRAY_CACHE_SIZE:
            self._layouts.clear()
        self._layouts[header] = layout = (shape, dtype)
        return layout


def _numpy(pipe_id: int) -> Any:
    try:
        import numpy
    except ImportError:
        raise ConfigError(f"pipe {pipe_id} is an ArrayPipe, which needs numpy: "
                          "pip install numpy (on every node too)") from None
    return numpy
