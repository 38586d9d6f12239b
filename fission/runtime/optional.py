"""Optional inputs: values that reach a job's ``run`` without ever holding it up.

A person typing an operator, or a slow control loop, cannot keep pace with a data
stream, so an optional pipe is not aligned: whatever has arrived when a run starts
is used. Its pipe's class attributes choose the loss behaviour:

- arriving values wait in a buffer of ``OPTIONAL_BUFFER_SIZE`` (0: no limit); each run
  takes the oldest one waiting;
- when the buffer is full, ``OPTIONAL_DELETE_MODE = 'oldest'`` drops the oldest value
  waiting to make room, ``'newest'`` drops the value arriving;
- when nothing is waiting, ``OPTIONAL_STORE = True`` repeats the last value taken
  (``OPTIONAL_DEFAULT`` before the first), ``False`` hands out ``OPTIONAL_DEFAULT``:
  each value then reaches exactly one run.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from fission.core.pipes import OptionalMixIn


class OptionalInput:
    def __init__(self, pipe: OptionalMixIn) -> None:
        self._default = pipe.OPTIONAL_DEFAULT
        self._store = pipe.OPTIONAL_STORE
        self._limit = pipe.OPTIONAL_BUFFER_SIZE
        self._drop_newest = pipe.OPTIONAL_DELETE_MODE == "newest"
        self._waiting: deque[Any] = deque()
        self._current = pipe.OPTIONAL_DEFAULT
        #: Values dropped because the buffer was full.
        self.dropped = 0

    def offer(self, value: Any) -> None:
        """A value arrived on the pipe."""
        if self._limit and len(self._waiting) >= self._limit:
            self.dropped += 1
            if self._drop_newest:
                return
            self._waiting.popleft()
        self._waiting.append(value)

    def take(self) -> Any:
        """The value for the run about to start."""
        if self._waiting:
            value = self._waiting.popleft()
            if self._store:
                self._current = value
            return value
        return self._current if self._store else self._default
