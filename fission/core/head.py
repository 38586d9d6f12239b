"""The HEAD interface: a few bits that travel with every block, beside its value.

A job class with ``HEAD = True`` sees, before each run, the head of every input block
in ``self.in_heads`` (a list per input with a ``BLOCK_COUNT``) and their reduction in
``self.head`` (:meth:`HeadInterface.head_reduce`, bitwise OR unless overridden). What
it sends carries ``self.out_heads[i]`` if the run set one for output ``i`` (used once),
else ``self.head``, else an empty head. Jobs use heads to tell the jobs after them
about a block: a marker, a mode, a reset.

Bits are numbered from the most significant one: ``head[0]`` is the first bit of the
first byte, ``head[-1]`` the last bit of the last. Bit 1 is reserved for FISSION and
cannot be set; bit 2 (:data:`FINISH_BIT`) is set by :meth:`HeadInterface.finish` on
the job's last blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from typing import Any, ClassVar

#: The bit a job's last blocks carry after it called finish().
FINISH_BIT = 2
#: Bits FISSION keeps for itself: a job cannot set them.
RESERVED_BITS = frozenset({1})
#: The largest head, in bytes.
MAX_SIZE = 4


class Head:
    """A head of ``head_length`` bytes (1 to 4) with bit indexing and bit operations."""

    __slots__ = ("_size", "_value")

    def __init__(self, head: int | bytes | Head = 0, head_length: int = 1) -> None:
        if isinstance(head, Head):
            head = head.head
        elif isinstance(head, (bytes, bytearray)):
            head = int.from_bytes(head, "big")
        if isinstance(head_length, bool) or not isinstance(head_length, int) or not (
                1 <= head_length <= MAX_SIZE):
            raise ValueError(f"a head has 1 to {MAX_SIZE} bytes, not {head_length!r}")
        if not isinstance(head, int) or not 0 <= head < 1 << (8 * head_length):
            raise ValueError(f"{head!r} does not fit a head of {head_length} byte(s)")
        self._value, self._size = head, head_length

    # -- bits ----------------------------------------------------------------------

    def _position(self, index: int) -> int:
        """The bit's place counted from the least significant bit."""
        bits = 8 * self._size
        if not -bits <= index < bits:
            raise IndexError(f"bit {index} is outside a head of {bits} bits")
        return bits - 1 - index if index >= 0 else -index - 1

    def _index(self, index: int) -> int:
        """The bit's index counted from the most significant bit."""
        return 8 * self._size - 1 - self._position(index)

    def __getitem__(self, key: int | slice) -> Any:
        if isinstance(key, slice):
            bits = self.bit_conversion[key]
            return Head(reduce(lambda value, bit: value << 1 | bit, bits, 0), self._size)
        return bool(self._value >> self._position(key) & 1)

    def __setitem__(self, index: int, value: object) -> None:
        position = self._position(index)
        if value and self._index(index) in RESERVED_BITS:
            raise ValueError(f"bit {self._index(index)} of a head is reserved for FISSION")
        if value:
            self._value |= 1 << position
        else:
            self._value &= ~(1 << position)

    @property
    def bit_conversion(self) -> list[int]:
        """The bits as 0s and 1s, most significant first."""
        bits = 8 * self._size
        return [self._value >> (bits - 1 - i) & 1 for i in range(bits)]

    # -- value and size --------------------------------------------------------------

    @property
    def head(self) -> int:
        return self._value

    @property
    def head_size(self) -> int:
        return self._size

    @head_size.setter
    def head_size(self, change: int) -> None:
        """As the original: a positive number appends that many zero bytes, a negative
        one drops that many bytes from the end (a head keeps at least one)."""
        size = max(1, self._size + change)
        if size > MAX_SIZE:
            raise ValueError(f"a head has at most {MAX_SIZE} bytes; it has {self._size}")
        shift = 8 * (size - self._size)
        self._value = self._value << shift if shift >= 0 else self._value >> -shift
        self._size = size

    def __len__(self) -> int:
        return self._size

    def __int__(self) -> int:
        return self._value

    __index__ = __int__

    def __bool__(self) -> bool:
        return self._value != 0

    def to_bytes(self, length: int | None = None, byteorder: str = "big") -> bytes:
        return self._value.to_bytes(self._size if length is None else length, byteorder)

    # -- operations ------------------------------------------------------------------

    def _combine(self, other: object, operation: Callable[[int, int], int]) -> Head:
        if isinstance(other, Head):
            size = max(self._size, other._size)
            other_value = other._value
        elif isinstance(other, int) and not isinstance(other, bool):
            size, other_value = self._size, other
        else:
            return NotImplemented
        return Head(operation(self._value, other_value) & ((1 << 8 * size) - 1), size)

    def __and__(self, other: object) -> Head:
        return self._combine(other, int.__and__)

    def __or__(self, other: object) -> Head:
        return self._combine(other, int.__or__)

    def __xor__(self, other: object) -> Head:
        return self._combine(other, int.__xor__)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __lshift__(self, count: int) -> Head:
        return self._combine(0, lambda value, _: value << count)

    def __rshift__(self, count: int) -> Head:
        return self._combine(0, lambda value, _: value >> count)

    def __invert__(self) -> Head:
        return self._combine(0, lambda value, _: ~value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Head):
            return self._value == other._value
        if isinstance(other, int):
            return self._value == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)

    def __str__(self) -> str:
        return f"HEAD: {self._value:0{8 * self._size}b}"

    __repr__ = __str__


class HeadInterface:
    """What every job has of the HEAD interface (``BaseJob`` inherits it).

    ``finish()`` works in every job; heads travel only for jobs with ``HEAD = True``.
    """

    #: Whether this job reads and writes heads.
    HEAD: ClassVar[bool] = False
    #: The reduced head of the current run's inputs (what outputs carry by default).
    head: Head | int | None = None

    def head_reduce(self) -> Head:
        """One head from ``self.in_heads``: bitwise OR of all (of a window's, first)."""
        heads = [reduce(Head.__or__, entry, Head()) if isinstance(entry, list) else entry
                 for entry in getattr(self, "in_heads", ())]
        return reduce(Head.__or__, heads, Head())

    def finish(self) -> None:
        """End the network cleanly from inside this job, after the current run.

        What this run returns is still sent (with :data:`FINISH_BIT` in its head); then
        the job finishes as a finite source does, and the jobs after it finish once they
        have run everything it sent.
        """
        head = self.head if isinstance(self.head, Head) else Head(int(self.head or 0))
        head[FINISH_BIT] = True
        self.head = head
        self.finished = True
        end = self.__dict__.get("_fission_end")
        if end is not None:
            end()
