"""Unit-test one job, or one pipe, without starting a network.

``emulate(job)`` returns a :class:`JobEmulator`: you :meth:`~JobEmulator.put` one value
per input and :meth:`~JobEmulator.get` one value per output, and in between the job
runs exactly as a job process would run it, only in this process, so a test can step
through it, see its exceptions with their tracebacks and look at its state::

    from fission.emulate import emulate

    def test_join_adds():
        job = emulate(JoinJob(inputs=[PicklePipe(1), PicklePipe(2)],
                              outputs=[PicklePipe(3)]))
        assert job(1, 2) == [3]          # put(1, 2), then get()
        job.put(5, 5)
        assert job.get() == [10]
        job.kill()                       # teardown(); also on leaving a ``with`` block

What is the same as in a job process (the aligner and the optional-input policies
are the runtime's own, :mod:`fission.runtime.align` and :mod:`fission.runtime.optional`):

- the job is a fresh copy made by pickling, as a job process receives it; ``setup``
  runs first and ``teardown`` last, in the job's working directory
  (``.emulate/<job id>/``, with its ``DEPENDENCIES`` placed there);
- every value goes through its pipe's ``pack`` and ``unpack`` and the block header,
  so a pipe that cannot carry a value fails here as it would in the network;
- ``run`` gets its inputs positionally in config order; a ``BLOCK_COUNT = n`` input
  gets a list of ``n`` blocks (pass a tuple or list of blocks to :meth:`put`, or put
  single blocks ``n`` times); optional inputs get what their pipe's policy hands out
  (pass :data:`NOTHING` to put no value on one);
- a tuple result maps onto the outputs element-wise, anything else goes to every one;
- a source (no required input) runs once per :meth:`get`: its generator's next value
  or its ``run()``; when the generator returns, or ``run`` returns ``None``, it has
  finished (:attr:`JobEmulator.finished`);
- a job with ``HEAD = True`` gets ``in_heads``, ``head`` and ``out_heads`` as the runtime
  sets them (:mod:`fission.runtime.heads`): :meth:`put` takes the heads of its blocks
  (``head=`` one for every input, ``heads=`` one per input; empty heads otherwise), each
  block travels with its head field, and :attr:`JobEmulator.heads` holds the heads of
  the outputs the last :meth:`get` returned;
- ``finish()`` ends the job after the current run, whose outputs are still returned
  (with the finish bit in their heads), as in the network;
- a run that raises tears the job down (its ``teardown`` runs) before the exception
  reaches the test, as a job process ends;
- an executable job (:mod:`fission.core.executable`) is checked as at load, and its
  program really runs, started by ``setup`` in the job's working directory with its
  named pipes or file descriptors: every :meth:`put` writes to it and every :meth:`get`
  reads what it wrote back. :meth:`kill` (or leaving the ``with`` block) closes its
  inputs and waits for it to exit (it is killed after ``EXIT_GRACE`` seconds, and when
  the emulator is garbage-collected or the test process ends): no process is left.

``emulate(pipe)`` returns a :class:`PipeEmulator`, which round-trips values through
the pipe and the block header alone.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import pickle
import shutil
import weakref
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from fission.core.head import Head
from fission.core.jobs import BaseJob
from fission.core.pipes import BasePipe
from fission.errors import ConfigError, EmulatorError, JobError
from fission.runtime.align import DONE, READY, Aligner
from fission.runtime.heads import Headed, headed_run, out_head
from fission.runtime.optional import OptionalInput
from fission.runtime.spec import CONSOLE_PIPE_ID
from fission.wire.frame import HEAD, decode, encode, pack_head, split_head

__all__ = ["NOTHING", "JobEmulator", "PipeEmulator", "RoundTrip", "emulate"]

#: Put no value on an input in this :meth:`JobEmulator.put` (for optional inputs).
NOTHING: Any = type("Nothing", (), {"__repr__": lambda self: "NOTHING"})()

#: Default root of the emulated jobs' working directories, relative to the current one.
DEFAULT_ROOT = ".emulate"


def emulate(obj: BaseJob | BasePipe, path: str | os.PathLike[str] = DEFAULT_ROOT,
            project: str | os.PathLike[str] | None = None) -> JobEmulator | PipeEmulator:
    """An emulator of a job (:class:`JobEmulator`) or of a pipe (:class:`PipeEmulator`).

    ``path`` is the folder under which a job gets its working directory;
    ``project`` the folder its ``DEPENDENCIES`` are relative to (default: the current
    directory, the project folder under ``python3 manage.py NET test``).

    >>> from fission.core.pipes import JSONPipe
    >>> emulate(JSONPipe(99))({"a": 1}).unpacked
    {'a': 1}
    """
    if isinstance(obj, BasePipe):
        return PipeEmulator(obj)
    if isinstance(obj, BaseJob):
        return JobEmulator(obj, root=path, project=project)
    raise TypeError(f"emulate() takes a job or a pipe, got {obj!r}")


class RoundTrip(NamedTuple):
    """What :meth:`PipeEmulator.__call__` saw: the block's payload and the value again."""

    packed: bytes
    unpacked: Any


class PipeEmulator:
    """A pipe on its own: :meth:`put` packs a value into a block, :meth:`get` unpacks it.

    Blocks come out in the order they went in, each through the block header the
    runtime reads (so a pipe whose ``unpack`` cannot read its own ``pack`` fails here).

    >>> from fission.core.pipes import PicklePipe
    >>> pipe = emulate(PicklePipe(98))
    >>> pipe.put([1, 2]); pipe.put("x")
    >>> pipe.get(), pipe.get()
    ([1, 2], 'x')
    """

    def __init__(self, pipe: BasePipe) -> None:
        self.pipe = pipe
        self._blocks: deque[bytes] = deque()
        self._seq = 0

    def put(self, value: Any) -> None:
        """Pack ``value`` into the next block."""
        payload = _as_bytes(self.pipe.block_encoder()(value))
        self._blocks.append(encode(self.pipe.id, self._seq, payload))
        self._seq += 1

    def get(self) -> Any:
        """Unpack the oldest block not yet taken."""
        if not self._blocks:
            raise EmulatorError(f"{self.pipe!r} holds no block: put() one first")
        _flags, _incarnation, _seq, payload = decode(self._blocks.popleft(), self.pipe.id)
        return self.pipe.block_decoder()(payload)

    def __call__(self, value: Any) -> RoundTrip:
        """Put ``value`` and get it back at once, with the bytes it travelled as."""
        packed = _as_bytes(self.pipe.block_encoder()(value))
        _flags, _incarnation, _seq, payload = decode(encode(self.pipe.id, 0, packed),
                                                     self.pipe.id)
        return RoundTrip(packed, self.pipe.block_decoder()(payload))

    def kill(self) -> None:
        """Forget the blocks not taken (the original's name; nothing else to stop)."""
        self._blocks.clear()


class JobEmulator:
    """One job, run in this process by the runtime's rules (see :mod:`fission.emulate`).

    ``job`` here is the emulated copy (a test reads its state there); ``cwd`` its
    working directory; ``runs`` the runs so far.
    """

    def __init__(self, job: BaseJob, root: str | os.PathLike[str] = DEFAULT_ROOT,
                 project: str | os.PathLike[str] | None = None) -> None:
        self.job = _fresh_copy(job)
        label = str(job.id) if job.id is not None else type(job).__name__
        project_dir = Path(project or Path.cwd())
        check_files = getattr(self.job, "check_files", None)
        if check_files is not None:  # an executable job: its program must exist
            check_files(project_dir, "emulate()")
        self.cwd = Path(root).resolve() / label
        shutil.rmtree(self.cwd, ignore_errors=True)
        self.cwd.mkdir(parents=True)
        if self.job.DEPENDENCIES:
            from fission.backends.files import place_dependencies

            place_dependencies(project_dir, self.job.DEPENDENCIES, self.cwd)
        self.runs = 0
        self.finished = False
        #: The heads of the outputs the last :meth:`get` returned (``HEAD = True`` jobs).
        self.heads: list[Head] = []
        self._torn_down = False
        self._ending = False
        self._results: deque[tuple[list[Any], list[Head]]] = deque()
        myself = weakref.ref(self)  # the job must not keep its emulator alive

        def end_from_inside() -> None:  # what job.finish() calls
            emulator = myself()
            if emulator is not None:
                emulator._ending = True

        self.job.__dict__["_fission_end"] = end_from_inside
        self._job_run = self.job.run
        if self.job.HEAD:  # as the runtime's JobRunner sets a HEAD job up
            self.job.in_heads = [None] * len(self.job.inputs)
            self.job.out_heads = [None] * len(self.job.outputs)
            if self.job.inputs:
                self._job_run = headed_run(self.job)
        # Each argument of run in config order: (kind, index, pipe); kind is "required"
        # (index into the aligner), "optional" (into self._optional) or "console".
        self._layout: list[tuple[str, int, Any]] = []
        required: list[Any] = []
        self._optional: list[OptionalInput] = []
        if self.job.CONSOLE:
            self._layout.append(("console", 0, None))
            required.append(_ConsoleLine())
        for pipe in self.job.inputs:
            if pipe.optional:
                self._layout.append(("optional", len(self._optional), pipe))
                self._optional.append(OptionalInput(pipe))
            else:
                self._layout.append(("required", len(required), pipe))
                required.append(pipe)
        self._aligner = Aligner(required, max_queue=self.job.MAX_QUEUE)
        self._sent = [0] * len(required)
        self._source_values: Iterator[Any] | None = None
        with self._inside():
            try:
                self.job.setup()
            except BaseException:
                _kill_program(self.job)
                raise
            # A program that setup started is killed, at the latest, with the emulator.
            self._reaper = weakref.finalize(self, _kill_program, self.job)
            if not required and inspect.isgeneratorfunction(self.job.run):
                self._source_values = self.job.run()

    # -- feeding and taking ------------------------------------------------------------

    def put(self, *values: Any, head: Head | int | None = None,
            heads: list[Head | int | None] | tuple[Head | int | None, ...] | None = None,
            ) -> None:
        """One value per input, in config order; every run that is then complete runs.

        For an input with ``BLOCK_COUNT > 1`` a tuple or list is taken as that many
        consecutive blocks; :data:`NOTHING` puts no block on an input. A ``HEAD = True``
        job's blocks carry ``head`` (the original's keyword: one head for every input)
        or ``heads`` (one per input, in config order, the console line not counted);
        an empty head if neither is given.
        """
        self._check_open()
        if len(values) != len(self._layout):
            raise EmulatorError(
                f"{self.job.name} has {len(self._layout)} input(s) ({self._describe_inputs()}); "
                f"put() got {len(values)} value(s): give one per input, NOTHING for none"
            )
        block_heads = self._block_heads(head, heads)
        for (kind, index, pipe), value in zip(self._layout, values, strict=True):
            if value is NOTHING:
                continue
            block_head = None if pipe is None else block_heads[self.job.inputs.index(pipe)]
            if kind == "optional":
                self._optional[index].offer(_through(pipe, value, block_head))
                continue
            blocks = value if (pipe is not None and pipe.BLOCK_COUNT > 1
                               and isinstance(value, (tuple, list))) else (value,)
            for block in blocks:
                self._push(kind, index, pipe, block, block_head)
        self._run_ready()

    def get(self) -> list[Any]:
        """The outputs of the next run, one value per output (``[]`` for a sink).

        A source runs once for each call. Raises :class:`~fission.errors.EmulatorError`
        when no run is ready, or the job has finished and nothing is left.
        """
        if self._results:
            return self._take()
        if self.finished:
            raise EmulatorError(f"{self.job.name} has finished after {self.runs} run(s); "
                                "it has no more outputs")
        if self._sent:
            raise EmulatorError(f"{self.job.name} has no run ready: {self._waiting_for()}")
        self._run_source()
        if self._results:
            return self._take()
        raise EmulatorError(f"{self.job.name} has finished after {self.runs} run(s); "
                            "it has no more outputs")

    def __call__(self, *values: Any, head: Head | int | None = None) -> list[Any]:
        """``put(*values, head=head)`` (when given) then ``get()``, as the original's call.

        ``job()`` of a source is its next run; of a source with optional inputs, too.
        """
        if values:
            self.put(*values, head=head)
        return self.get()

    def close(self) -> list[list[Any]]:
        """End every input, as a finished producer does: the runs still complete run,
        the job tears down, and the outputs not yet taken are returned (one list per run).
        """
        if not self.finished:
            for index, count in enumerate(self._sent):
                self._aligner.end(index, count)
            self._run_ready()
            self._finish()
        results = [values for values, _heads in self._results]
        self._results.clear()
        return results

    def kill(self) -> None:
        """Tear the job down now if it has not been (the original's name).

        An executable job's program is stopped too, whatever its teardown raises.
        """
        self.finished = True
        if not self._torn_down:
            self._torn_down = True
            try:
                with self._inside():
                    self.job.teardown()
            finally:
                self._reaper()

    def __enter__(self) -> JobEmulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()

    @property
    def leftover(self) -> int:
        """Blocks received that no run took (an incomplete last window after close)."""
        return self._aligner.leftover()

    @property
    def dummies(self) -> list[int]:
        """Dummies used per required input (none, unless blocks went missing)."""
        return list(self._aligner.dummies)

    def __repr__(self) -> str:
        return f"<JobEmulator of {self.job.name}, {self.runs} run(s)>"

    # -- running -----------------------------------------------------------------------

    def _push(self, kind: str, index: int, pipe: Any, block: Any, head: Head | None) -> None:
        value = (_through_console(str(block)) if kind == "console"
                 else _through(pipe, block, head))
        self._aligner.push(index, self._sent[index], value)
        self._sent[index] += 1

    def _run_ready(self) -> None:
        """Run every round the required inputs have complete (a source runs on get())."""
        while self._sent and not self.finished:
            state = self._aligner.wanting()
            if state == DONE:
                self._finish()
            if state != READY:
                return
            values = self._aligner.pop()
            self._run(self._arguments(values))

    def _run_source(self) -> None:
        with self._failing():
            if self._source_values is not None:
                result = next(self._source_values, _ENDED)
            else:
                result = self._job_run(*self._arguments([]))
                result = _ENDED if result is None else result
        if result is _ENDED:
            self._finish()
            return
        self._ran(result)

    def _run(self, arguments: list[Any]) -> None:
        with self._failing():
            result = self._job_run(*arguments)
        self._ran(result)

    def _ran(self, result: Any) -> None:
        """A run's outputs, then the end the run asked for with finish()."""
        self.runs += 1
        with self._failing():
            self._emit(result)
        if self._ending:
            self._finish()

    @contextlib.contextmanager
    def _failing(self) -> Iterator[None]:
        """User code in the job's folder; an exception ends the job as in its process."""
        try:
            with self._inside():
                yield
        except BaseException:
            self.kill()
            raise

    def _arguments(self, required: list[Any]) -> list[Any]:
        return [required[index] if kind != "optional" else self._optional[index].take()
                for kind, index, _pipe in self._layout]

    def _emit(self, result: Any) -> None:
        outputs = self.job.outputs
        mapped = isinstance(result, tuple)
        if mapped and len(result) != len(outputs) and outputs:
            raise JobError(
                f"{self.job.name} returned a tuple of {len(result)} values for its "
                f"{len(outputs)} outputs; return one value per output, or a non-tuple "
                "value for all of them (wrap a single tuple: return (my_tuple,))"
            )
        values, heads = [], []
        for index, pipe in enumerate(outputs):
            value = result[index] if mapped else result
            if self.job.HEAD:
                headed = _through(pipe, value, Head(*out_head(self.job, index)))
                heads.append(headed.head)
                values.append(headed.value)
            else:
                values.append(_through(pipe, value))
        self._results.append((values, heads))

    def _take(self) -> list[Any]:
        values, self.heads = self._results.popleft()
        return values

    def _finish(self) -> None:
        if not self.finished:
            self.kill()

    # -- helpers -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _inside(self) -> Iterator[None]:
        """Run user code in the job's working directory, as a job process does."""
        previous = os.getcwd()
        os.chdir(self.cwd)
        try:
            yield
        finally:
            os.chdir(previous)

    def _block_heads(self, head: Head | int | None,
                     heads: list[Head | int | None] | tuple[Head | int | None, ...] | None,
                     ) -> list[Head | None]:
        """The head each input's blocks carry in this put() (None: a job without HEAD)."""
        inputs = self.job.inputs
        if not self.job.HEAD:
            if head is not None or heads is not None:
                raise EmulatorError(f"{self.job.name} has no HEAD = True: its blocks carry no "
                                    "heads, so put() takes no head= or heads=")
            return [None] * len(inputs)
        if head is not None and heads is not None:
            raise EmulatorError(f"{self.job.name}: give put() head= (one for every input) or "
                                "heads= (one per input), not both")
        if heads is None:
            heads = [head] * len(inputs)
        elif len(heads) != len(inputs):
            raise EmulatorError(f"{self.job.name} has {len(inputs)} input pipe(s); heads= gave "
                                f"{len(heads)} head(s): give one per input, None for an empty one")
        return [_as_head(value) for value in heads]

    def _check_open(self) -> None:
        if self.finished:
            raise EmulatorError(f"{self.job.name} has finished after {self.runs} run(s); "
                                "make a new emulator to run it again")

    def _describe_inputs(self) -> str:
        names = []
        for kind, _index, pipe in self._layout:
            names.append("console line" if kind == "console" else repr(pipe))
        return ", ".join(names) or "none"

    def _waiting_for(self) -> str:
        parts = []
        for kind, index, pipe in self._layout:
            if kind == "optional":
                continue
            window = pipe.BLOCK_COUNT if pipe is not None else 1
            held = self._sent[index] - self._aligner.next_run * window
            name = "the console line" if kind == "console" else repr(pipe)
            parts.append(f"{name} holds {held} of the {window} block(s) the next run takes")
        return "; ".join(parts) + " (put() more)"


class _ConsoleLine:
    """The console input of an InteractiveJob, for the aligner (as in the runtime)."""

    BLOCK_COUNT = 1

    def dummy(self, previous: Any, has_previous: bool) -> str:
        return ""


_ENDED = object()


def _fresh_copy(job: BaseJob) -> BaseJob:
    try:
        return pickle.loads(pickle.dumps(job, protocol=5))
    except Exception as error:  # noqa: BLE001 - any pickling failure means the same
        raise ConfigError(
            f"{job.name} cannot be pickled ({type(error).__name__}: {error}), and every job "
            "travels to its process pickled: open files, sockets and locks belong in setup()"
        ) from error


def _as_bytes(packed: Any) -> bytes:
    return packed if isinstance(packed, bytes) else bytes(packed)


def _through(pipe: BasePipe, value: Any, head: Head | None = None) -> Any:
    """``value`` as the consumer of ``pipe`` would see it: packed, framed, unpacked.

    With a ``head``, the block carries it in its head field, and what comes out is the
    value with its head (:class:`~fission.runtime.heads.Headed`), as a HEAD job's input
    holds it until the run.
    """
    payload = _as_bytes(pipe.block_encoder()(value))
    if head is None:
        return pipe.block_decoder()(decode(encode(pipe.id, 0, payload), pipe.id)[3])
    frame = encode(pipe.id, 0, pack_head(head.head, len(head)) + payload, flags=HEAD)
    _flags, _incarnation, _seq, rest = decode(frame, pipe.id)
    bits, size, rest = split_head(rest)
    return Headed(Head(bits, size), pipe.block_decoder()(rest))


def _as_head(value: Head | int | None) -> Head:
    """A head given to put(): a Head, an int (in as few bytes as it needs) or None."""
    if value is None:
        return Head()
    if isinstance(value, Head):
        return value
    try:
        bits = int(value)
        return Head(bits, max(1, (bits.bit_length() + 7) // 8))
    except (TypeError, ValueError) as error:
        raise EmulatorError(f"a head is a Head, an int of up to 4 bytes or None, not {value!r} "
                            f"({error})") from None


def _kill_program(job: BaseJob) -> None:
    """Stop an executable job's program if it still runs (the emulator's last resort)."""
    program = job.__dict__.get("_program")
    if program is not None:
        program.kill()


def _through_console(text: str) -> str:
    frame = encode(CONSOLE_PIPE_ID, 0, text.encode())
    return bytes(decode(frame, CONSOLE_PIPE_ID)[3]).decode()
