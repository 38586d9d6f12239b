"""Heads in the job process: what the loop adds for jobs with ``HEAD = True``.

The loop itself stays as it is for every job; heads change only the callables it is
built from, once, when the job starts:

- an input whose producer sends heads gets an ``unpack`` that splits off the head
  field (:func:`fission.wire.frame.split_head`): a HEAD job keeps the head with the
  value (:class:`Headed`), until the run; any other job drops it;
- a HEAD job's ``run`` is wrapped (:func:`headed_run`) to set ``in_heads`` and
  ``head`` from those values before the user's ``run`` sees the bare values;
- a HEAD job's blocks are sent with the head each output carries (:func:`out_head`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fission.core.head import Head
from fission.core.jobs import BaseJob
from fission.core.pipes import BasePipe
from fission.wire.frame import split_head


class Headed:
    """A value with the head of the block that carried it (until the run takes it)."""

    __slots__ = ("head", "value")

    def __init__(self, head: Head, value: Any) -> None:
        self.head, self.value = head, value


def carries_heads(pipe: BasePipe) -> bool:
    """Whether the producer of ``pipe`` sends heads (set when the network is built)."""
    return bool(getattr(pipe, "carries_heads", False))


def input_unpack(pipe: BasePipe, keep: bool) -> Callable[[Any], Any]:
    """The ``unpack`` of an input: the pipe's own, behind a head field if one comes."""
    unpack = pipe.block_decoder()
    if not carries_heads(pipe):
        return unpack
    if keep:
        def unpack_headed(payload: memoryview) -> Headed:
            bits, size, rest = split_head(payload)
            return Headed(Head(bits, size), unpack(rest))
        return unpack_headed

    def unpack_without_head(payload: memoryview) -> Any:
        return unpack(split_head(payload)[2])
    return unpack_without_head


def _split(value: Any) -> tuple[Head, Any]:
    """A value and its head; a value that came without one (a dummy, a default, a
    producer without HEAD) has an empty head."""
    if isinstance(value, Headed):
        return value.head, value.value
    return Head(), value


def headed_run(job: BaseJob) -> Callable[..., Any]:
    """``job.run`` behind the setting of ``job.in_heads`` and ``job.head`` for each run."""
    run = job.run
    first = 1 if job.CONSOLE else 0  # the console's line has no head
    windowed = [pipe.BLOCK_COUNT > 1 for pipe in job.inputs]
    in_heads = job.in_heads

    def run_with_heads(*values: Any) -> Any:
        plain = list(values)
        for index, window in enumerate(windowed):
            value = values[first + index]
            if window:
                pairs = [_split(item) for item in value]
                in_heads[index] = [head for head, _ in pairs]
                plain[first + index] = [item for _, item in pairs]
            else:
                in_heads[index], plain[first + index] = _split(value)
        job.head = job.head_reduce()
        return run(*plain)

    return run_with_heads


def out_head(job: BaseJob, index: int) -> tuple[int, int]:
    """``(bits, size)`` output ``index`` carries now: its ``out_heads`` entry (used once),
    else ``job.head``, else an empty head."""
    chosen = job.out_heads[index]
    if chosen is not None:
        job.out_heads[index] = None
    else:
        chosen = job.head
    if chosen is None:
        return 0, 1
    if not isinstance(chosen, Head):
        bits = int(chosen)
        chosen = Head(bits, max(1, (bits.bit_length() + 7) // 8))
    return chosen.head, len(chosen)
