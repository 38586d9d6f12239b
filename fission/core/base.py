"""The registry that makes ``PicklePipe(7)`` the same object wherever it is written.

A config file names each pipe twice, once at its producing job and once at its
consuming job, and the tutorial promises that both spellings are one object. The
registry is a single module-level instance that is cleared in place by
:func:`reset`, never rebound, so every module that imported it sees the same state.
"""

from __future__ import annotations

from typing import Any

from fission.errors import ConfigError, PipeTypeError

_MAX_PIPE_ID = 2**32 - 1


class PipeRegistry:
    """Maps pipe ids to the one pipe object created for each id."""

    def __init__(self) -> None:
        self._pipes: dict[int, tuple[Any, tuple, dict]] = {}

    def get_or_create(self, cls: type, pipe_id: object, args: tuple, kwargs: dict) -> Any:
        """Return the pipe registered under ``pipe_id``, creating it on first use.

        A repeat call must name the same class; arguments may be left out, but if
        given they must equal the first call's, since one pipe cannot have two shapes.
        """
        if isinstance(pipe_id, bool) or not isinstance(pipe_id, int):
            raise ConfigError(
                f"{cls.__name__}({pipe_id!r}): a pipe id must be an int, "
                f"got {type(pipe_id).__name__}"
            )
        if not 0 <= pipe_id <= _MAX_PIPE_ID:
            raise ConfigError(
                f"{cls.__name__}({pipe_id}): a pipe id must be between 0 and {_MAX_PIPE_ID}"
            )
        known = self._pipes.get(pipe_id)
        if known is None:
            pipe = type.__call__(cls, pipe_id, *args, **kwargs)
            self._pipes[pipe_id] = (pipe, args, kwargs)
            return pipe
        pipe, first_args, first_kwargs = known
        if type(pipe) is not cls:
            raise PipeTypeError(
                f"pipe {pipe_id} is already a {type(pipe).__name__}; it cannot also be a "
                f"{cls.__name__}. Give one of them another id."
            )
        if (args or kwargs) and (args, kwargs) != (first_args, first_kwargs):
            raise PipeTypeError(
                f"pipe {pipe_id} was created as "
                f"{_call_repr(cls, pipe_id, first_args, first_kwargs)} and again as "
                f"{_call_repr(cls, pipe_id, args, kwargs)}; one pipe has one shape."
            )
        return pipe

    def clear(self) -> None:
        self._pipes.clear()

    def __len__(self) -> int:
        return len(self._pipes)


def _call_repr(cls: type, pipe_id: int, args: tuple, kwargs: dict) -> str:
    parts = [repr(pipe_id), *map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())]
    return f"{cls.__name__}({', '.join(parts)})"


PIPES = PipeRegistry()


def reset() -> None:
    """Forget every pipe created so far (tests load several networks in one process)."""
    PIPES.clear()
