"""Jobs: the user's code, one OS process each.

A job is a class with a ``run`` method. Its inputs arrive as positional arguments in
the order the config lists them; what it returns goes to its outputs (a tuple maps
element-wise, anything else goes to every output). A job without inputs is a
*source*: its ``run`` is either a generator, or a function called again and again
until it returns ``None``.

A job object is built in the supervising process when config.py is imported, then
pickled and rebuilt inside its own job process: attributes set in ``__init__``
travel with it; open files and sockets belong in :meth:`BaseJob.setup`.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, ClassVar

from fission.core.head import Head, HeadInterface  # noqa: F401 - Head: the original's path
from fission.core.pipes import BasePipe
from fission.core.sizes import format_size, parse_size
from fission.errors import ConfigError
from fission.wire.recording import read_recording

#: The smallest MAX_MEMORY accepted: a job process idles at about 21 MiB resident.
MIN_MEMORY_LIMIT = 32 << 20


class BaseJob(HeadInterface):
    """What every job has: an id, its pipes and its placement hints.

    Class attributes a subclass may override:

    - ``GROUPS``: the node groups allowed to run this job, in order of preference
      (``"ALL"`` is every node; ``"LOCAL"`` is the client).
    - ``DEFAULT_NODE``: the IP of the node to try first.
    - ``MAX_QUEUE``: if > 0, the job keeps at most this many blocks waiting per input
      and drops the oldest beyond that (counted in its log); 0 means a slow job
      slows its producers down instead.
    - ``HEAD``: True for a job that reads and writes heads (see :mod:`fission.core.head`).
    - ``DEPENDENCIES``: files or folders (paths relative to the project) the job needs
      in its working directory; each is placed there under its own name, in
      ``simulate`` and on whichever node runs the job.
    - ``MAX_MEMORY``: the most resident memory (RSS) the job's process may use, as
      ``"512M"``, ``"2G"`` or a number of bytes; going over it fails the job with
      :class:`~fission.errors.MemoryLimitError` (see fission/runtime/memory.py).
      None, the default, sets no limit.
    - ``STATE``: the names of the attributes that are the job's state, e.g.
      ``("total",)``: snapshotted with the number of the next run and restored into a
      copy that replaces the job (failover, restart), after its ``setup``. A job may
      instead define ``snapshot()`` (returning anything picklable) and
      ``restore(state)``. See fission/core/durability.py.
    - ``RESTART``: ``"on-failure"`` starts the job again, where it ran, when its
      ``run`` raised; ``"never"`` (the default) stops the network with the error.
    - ``MAX_RESTARTS``/``RESTART_WINDOW``: at most that many restarts within that
      many seconds; one more failure stops the network.
    """

    GROUPS: ClassVar[str | Sequence[str]] = ("ALL",)
    DEFAULT_NODE: ClassVar[str | None] = None
    MAX_QUEUE: ClassVar[int] = 0
    DEPENDENCIES: ClassVar[Sequence[str]] = ()
    MAX_MEMORY: ClassVar[int | str | None] = None
    STATE: ClassVar[Sequence[str]] = ()
    RESTART: ClassVar[str] = "never"
    MAX_RESTARTS: ClassVar[int] = 3
    RESTART_WINDOW: ClassVar[float] = 60.0
    #: True for jobs whose first input is the text typed at the console.
    CONSOLE: ClassVar[bool] = False

    def __init__(
        self,
        inputs: Iterable[BasePipe] | None = (),
        outputs: Iterable[BasePipe] | None = (),
    ) -> None:
        self.id: int | None = None
        self.inputs: list[BasePipe] = _pipe_list(self, "inputs", inputs)
        self.outputs: list[BasePipe] = _pipe_list(self, "outputs", outputs)

    @property
    def label(self) -> str:
        """``"JoinJob 4"``: the class and id, as console lines, logs and errors show it.

        Unlike :attr:`name`, a job cannot change it, so every report names the job the
        same way and two jobs never share a label.
        """
        return f"{type(self).__name__} {self.id if self.id is not None else '?'}"

    @property
    def name(self) -> str:
        """The job's own name if it set one (``self.name = "mic 1"``), else its label.

        Jobs of the original FISSION set ``self.name`` for their own use (a column of a
        log, say); FISSION's reports use :attr:`label` instead.
        """
        return self.__dict__.get("_name", self.label)

    @name.setter
    def name(self, value: str) -> None:
        self.__dict__["_name"] = value

    def groups(self) -> tuple[str, ...]:
        """``GROUPS`` as a tuple, whether the class wrote one name or a list."""
        groups = self.GROUPS
        return (groups,) if isinstance(groups, str) else tuple(groups)

    def memory_limit(self) -> int | None:
        """``MAX_MEMORY`` in bytes, or None; a ConfigError naming the job if it is not a size."""
        if self.MAX_MEMORY is None:
            return None
        where = f"{type(self).__name__}.MAX_MEMORY"
        try:
            limit = parse_size(self.MAX_MEMORY)
        except ValueError as error:
            raise ConfigError(f"{where}: {error}; write for instance MAX_MEMORY = '512M' "
                              "(None for no limit)") from None
        if limit < MIN_MEMORY_LIMIT:
            raise ConfigError(
                f"{where} = {self.MAX_MEMORY!r} is less than the {format_size(MIN_MEMORY_LIMIT)} "
                "a job process needs for Python and FISSION alone; give it at least that much")
        return limit

    def setup(self) -> None:
        """Called once in the job process, before the first ``run``."""

    def teardown(self) -> None:
        """Called once in the job process when the job finishes or is stopped."""

    def run(self, *inputs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define run()")

    def __repr__(self) -> str:
        return f"<{self.label}>"


def _pipe_list(job: BaseJob, which: str, pipes: Iterable[BasePipe] | None) -> list[BasePipe]:
    """The pipes as a list; ``None`` (the original's default) means none."""
    if pipes is None:
        return []
    if isinstance(pipes, BasePipe) or not isinstance(pipes, Iterable):
        raise ConfigError(
            f"{type(job).__name__}: {which} must be a list of pipes, e.g. [PicklePipe(101)], "
            f"got {pipes!r}"
        )
    result = list(pipes)
    for index, pipe in enumerate(result):
        if not isinstance(pipe, BasePipe):
            raise ConfigError(
                f"{type(job).__name__}: {which}[{index}] must be a pipe such as PicklePipe(101), "
                f"got {pipe!r}"
            )
    return result


class PythonJob(BaseJob):
    """A job written in Python: subclass it and define ``run``."""


class LocalJob(BaseJob):
    """A job that always runs on the client (group ``LOCAL``).

    It is a sibling of :class:`PythonJob`, not a subclass, so both ``class X(LocalJob)``
    and ``class X(PythonJob, LocalJob)`` (the original's spelling, in either order) are
    consistent class hierarchies; with ``PythonJob`` first, ``LocalJob``'s ``GROUPS``
    still applies, as ``PythonJob`` sets none.
    """

    GROUPS: ClassVar[str | Sequence[str]] = ("LOCAL",)


class CSVSinkJob(LocalJob):
    """Writes one CSV row per run, one column per input pipe.

    The file is created in the job's working directory (``simulation/<id>/`` or
    ``local/<id>/``); each row is flushed as it is written, so a stopped or failed
    network loses no row already received.
    """

    def __init__(
        self,
        path: str,
        inputs: Iterable[BasePipe] | None,
        col_pattern: str = "pipe_{pipe.id}",
        **kwargs: Any,
    ) -> None:
        super().__init__(inputs=inputs, **kwargs)
        if not self.inputs:
            raise ConfigError(f"CSVSinkJob writing {path!r} needs at least one input pipe")
        if self.outputs:
            raise ConfigError(f"CSVSinkJob writing {path!r} takes no outputs")
        self.path = str(path)
        self.col_pattern = col_pattern
        self.columns = [col_pattern.format(pipe=pipe) for pipe in self.inputs]
        self._file: IO[str] | None = None
        self._writer: Any = None

    def setup(self) -> None:
        self._file = open(self.path, "w", newline="", buffering=1)  # noqa: SIM115 - closed in teardown
        self._writer = csv.writer(self._file)
        self._writer.writerow(self.columns)

    def run(self, *values: Any) -> None:
        self._writer.writerow(values)

    def teardown(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class InteractiveJob(LocalJob):
    """Turns each line a person types into a value (a ``str``) on its outputs.

    Lines come from the console prompt of ``simulate``/``run`` or from
    ``python3 manage.py NET send JOB_ID TEXT``. It is usually paired with optional
    pipes, so the network runs on their defaults until someone types.
    """

    CONSOLE: ClassVar[bool] = True

    def run(self, line: str) -> str:
        return line


#: Defined in fission.core.executable, importable from here as in the original FISSION.
_EXECUTABLE_JOBS = ("ExecutableJob", "DynamicExecutableJob", "MARVELOJob", "DynamicMARVELOJob")


def __getattr__(name: str) -> Any:
    """The executable jobs, imported on first use (that module builds on this one)."""
    if name in _EXECUTABLE_JOBS:
        from fission.core import executable

        return getattr(executable, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ReplayJob(PythonJob):
    """A source that plays back a recording of a pipe (``simulate --record PIPE``).

    ``path`` (relative to the project, like ``DEPENDENCIES``, where it is placed in the
    job's working directory) is a recording such as
    ``mynet/recordings/pipe-101.rec``. Each recorded block's value goes to the job's
    outputs, whose first pipe unpacks it (give it the recorded pipe's type). ``speed``
    1.0 keeps the recorded pace, 2.0 plays twice as fast; ``None`` plays as fast as
    the pipes allow.
    """

    def __init__(self, path: str, speed: float | None = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.outputs or self.inputs:
            raise ConfigError(f"ReplayJob of {path!r} is a source: give it outputs and no "
                              "inputs")
        if speed is not None and not (isinstance(speed, (int, float)) and speed > 0):
            raise ConfigError(f"ReplayJob of {path!r}: speed must be a number above 0 or None "
                              f"(as fast as the pipes allow), got {speed!r}")
        self.path = str(path)
        self.speed = speed
        self.DEPENDENCIES = (self.path,)

    def run(self) -> Iterator[Any]:
        unpack = self.outputs[0].block_decoder()
        start = first = None
        for sent, _seq, payload in read_recording(Path(self.path).name):
            if self.speed is not None:
                if start is None:
                    start, first = time.monotonic(), sent
                delay = start + (sent - first) / self.speed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield unpack(payload)
