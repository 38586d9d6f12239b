"""Executable jobs: a program in any language as a job of the network.

The program is started by the job's own process, in the job's copy of its
``DEPENDENCIES`` folder, as::

    EXECUTABLE PARAMETERS -i IN_1 -i IN_2 ... -o OUT_1 ...

with one ``INPUT_FLAG`` per input and one ``OUTPUT_FLAG`` per output, in config
order. :class:`ExecutableJob` passes the paths of named pipes (FIFOs) to open;
:class:`MARVELOJob` passes numbers of file descriptors the program has inherited,
already open. Each run of the job writes one block to every input of the program,
then reads one block from every output (see :mod:`fission.core.program` for what a
block looks like on the stream; with ``HEAD = True``, each block is preceded by its
1-byte head, both ways): a program reads a block from each input, writes a
block to each output, and flushes, until its inputs end. A program without inputs is
a source: the network ends when it closes its outputs (or exits) with status 0.

Because the job process is an ordinary job process, an executable job is placed,
shipped with its folder, failed over and restarted like any Python job, and the
program's stdout and stderr are relayed and logged like a Python job's ``print``.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any, ClassVar

from fission.core.head import Head
from fission.core.jobs import BaseJob
from fission.core.pipes import BasePipe
from fission.core.program import EXIT_GRACE, Program, ProgramEnded, stream_format
from fission.errors import ConfigError, JobError

log = logging.getLogger("fission.job")


class ExecutableJob(BaseJob):
    """A job whose work is done by a program, talking over named pipes.

    - ``EXECUTABLE``: the command, e.g. ``"./filter"`` or ``"python3 sum.py"``; its first
      word is a file of the ``DEPENDENCIES`` folder or a command on ``PATH``.
    - ``PARAMETERS``: further arguments, before the pipe flags (a string or a list).
    - ``INPUT_FLAG`` / ``OUTPUT_FLAG``: the flag before each input / output (``-i``/``-o``).
    - ``DEPENDENCIES``: the folder (relative to the project) holding the program and
      what it needs; the program runs inside the job's copy of it.
    """

    EXECUTABLE: ClassVar[str | None] = None
    PARAMETERS: ClassVar[str | Sequence[str] | None] = None
    INPUT_FLAG: ClassVar[str] = "-i"
    OUTPUT_FLAG: ClassVar[str] = "-o"

    def __init__(self, inputs: Iterable[BasePipe] | None = None,
                 outputs: Iterable[BasePipe] | None = None) -> None:
        super().__init__(inputs=() if inputs is None else inputs,
                         outputs=() if outputs is None else outputs)
        self._normalize_dependencies()
        self._check_pipes()
        self._program: Program | None = None

    # -- checks at load --------------------------------------------------------------

    def _label(self) -> str:
        return f"{self.name} (EXECUTABLE {self.EXECUTABLE!r})"

    def _normalize_dependencies(self) -> None:
        """The original wrote one folder as a string; FISSION's DEPENDENCIES is a list."""
        if isinstance(self.DEPENDENCIES, (str, os.PathLike)):
            self.DEPENDENCIES = (str(self.DEPENDENCIES),)

    def _check_pipes(self) -> None:
        for pipe in [*self.inputs, *self.outputs]:
            if pipe.optional:
                raise ConfigError(f"{self._label()}: pipe {pipe.id} is optional; a program "
                                  "reads a block of every input per run, so its pipes cannot be")
            stream_format(pipe, self._label())

    def _check_command(self, where: str) -> None:
        """EXECUTABLE and the rest, checked at load: a subclass may set them in __init__."""
        if not isinstance(self.EXECUTABLE, str) or not self.EXECUTABLE.split():
            raise ConfigError(f"{where}: {self.name}: EXECUTABLE must be the program's command, "
                              f"e.g. './filter' or 'python3 sum.py' (got {self.EXECUTABLE!r})")
        if not isinstance(self.PARAMETERS, (str, list, tuple, type(None))):
            raise ConfigError(f"{where}: {self._label()}: PARAMETERS must be a string or a list "
                              f"of arguments (got {self.PARAMETERS!r})")
        for flag in (self.INPUT_FLAG, self.OUTPUT_FLAG):
            if not isinstance(flag, str) or not flag:
                raise ConfigError(f"{where}: {self._label()}: INPUT_FLAG and OUTPUT_FLAG must be "
                                  f"non-empty strings (got {flag!r})")

    def check_files(self, project: Path, where: str) -> None:
        """Raise ConfigError unless the program exists (called when the config is loaded)."""
        self._normalize_dependencies()
        self._check_command(where)
        program = self._words()[0]
        folder = self._folder(project)
        if folder is not None and (folder / program).is_file():
            path = folder / program
        elif os.path.isabs(program):
            path = Path(program)
        elif "/" not in program and shutil.which(program):
            return
        else:
            place = f"its DEPENDENCIES folder {folder}" if folder else "its DEPENDENCIES (none)"
            raise ConfigError(f"{where}: {self._label()}: {program!r} is neither a file in "
                              f"{place} nor a command on PATH; put the program in the folder "
                              "named by DEPENDENCIES (paths are relative to the project)")
        if not path.is_file():
            raise ConfigError(f"{where}: {self._label()}: {path} does not exist")
        if not os.access(path, os.X_OK):
            raise ConfigError(f"{where}: {self._label()}: {path} is not executable; "
                              f"run 'chmod +x {path}'")

    def _words(self) -> list[str]:
        params = self.PARAMETERS or ()
        return [*shlex.split(self.EXECUTABLE or ""),
                *(shlex.split(params) if isinstance(params, str) else map(str, params))]

    def _folder(self, root: Path) -> Path | None:
        """The first DEPENDENCIES folder as found under ``root`` (project, or job's cwd)."""
        for dependency in self.DEPENDENCIES:
            placed = root / dependency
            if placed.is_dir():
                return placed
        return None

    # -- in the job process ----------------------------------------------------------

    def setup(self) -> None:
        workdir = Path.cwd()
        folder = next((workdir / Path(d).name for d in self.DEPENDENCIES
                       if (workdir / Path(d).name).is_dir()), None)
        words = self._words()
        if folder is not None and (folder / words[0]).is_file():
            words[0] = str(folder / words[0])
        self._in_formats = [stream_format(pipe, self._label()) for pipe in self.inputs]
        self._out_formats = [stream_format(pipe, self._label()) for pipe in self.outputs]
        self._runs = 0
        self._failed = False
        self._program = Program(self.label, words, folder or workdir)
        self._in_fds: list[int | None] = []
        self._out_streams: list[IO[bytes]] = []
        self._connect(workdir)

    def _connect(self, workdir: Path) -> None:
        """Give the program its pipes as named pipes in ``workdir/fifo`` and start it."""
        fifos = workdir / "fifo"
        fifos.mkdir(exist_ok=True)
        self._fifo_paths: list[Path] = []
        flags: list[str] = []
        for flag, pipes in ((self.INPUT_FLAG, self.inputs), (self.OUTPUT_FLAG, self.outputs)):
            for pipe in pipes:
                path = fifos / f"{pipe.id}.fifo"
                path.unlink(missing_ok=True)
                os.mkfifo(path, 0o600)
                self._fifo_paths.append(path)
                flags += [flag, str(path)]
        program = self._program
        # Our read ends open at once; the program's opens then never wait for us.
        self._out_streams = [
            program.reader(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
            for path in self._fifo_paths[len(self.inputs):]
        ]
        program.command += flags
        program.start()
        self._in_fds = [None] * len(self.inputs)

    def _input_fd(self, index: int) -> int:
        fd = self._in_fds[index]
        if fd is None:
            fd = self._in_fds[index] = self._program.open_fifo_for_writing(
                self._fifo_paths[index])
        return fd

    def run(self, *values: Any) -> Any:
        program, heads = self._program, self.HEAD
        try:
            for index, value in enumerate(values):
                fmt = self._in_formats[index]
                blocks = value if fmt.pipe.BLOCK_COUNT > 1 else (value,)
                if heads:
                    data = b"".join(self._head_byte(index, position) + fmt.encode(block)
                                    for position, block in enumerate(blocks))
                else:
                    data = b"".join(map(fmt.encode, blocks))
                program.write(self._input_fd(index), data)
            results = []
            for index, (fmt, stream) in enumerate(zip(self._out_formats, self._out_streams,
                                                      strict=True)):
                if heads:
                    self.out_heads[index] = self._read_head(stream)
                results.append(fmt.decode(stream))
        except ProgramEnded:
            return self._ended()
        except BaseException:
            self._failed = True
            raise
        self._runs += 1
        return tuple(results) if results else None

    def _head_byte(self, index: int, position: int) -> bytes:
        """The 1-byte head a program reads before a block (as the original wrote it)."""
        head = self.in_heads[index]
        if isinstance(head, list):
            head = head[position]
        bits = int(head or 0)
        if bits > 0xFF:
            raise JobError(f"{self._label()}: a program reads 1-byte heads, but input "
                           f"{self.inputs[index].id} brought {head}")
        return bytes((bits,))

    @staticmethod
    def _read_head(stream: IO[bytes]) -> Head:
        byte = stream.read(1)
        if not byte:
            raise ProgramEnded(None)
        return Head(byte[0])

    def _ended(self) -> None:
        """The program closed a pipe: a source's end, or the job's failure."""
        self._failed = True
        returncode, killed = self._program.wait(EXIT_GRACE)
        if killed:
            raise JobError(f"{self._label()} closed its pipes after {self._runs} runs but did "
                           f"not exit within {EXIT_GRACE:g} s; it was killed")
        if returncode != 0:
            raise self._program.failure(returncode, f"after {self._runs} runs")
        if self.inputs:
            raise JobError(f"{self._label()} exited (status 0) after {self._runs} runs while "
                           "its inputs went on; a program must read its inputs until they end")
        self._failed = False
        return None

    def teardown(self) -> None:
        """Close the program's inputs, let it exit, and fail the job if it exits badly."""
        program = self._program
        if program is None or program.process is None:
            return
        for fd in self._in_fds:
            if fd is not None:
                os.close(fd)
        self._in_fds = []
        program.deadline_in(EXIT_GRACE)
        leftover = sum(len(stream.read()) for stream in self._out_streams)
        returncode, killed = program.wait(program.time_left())
        for stream in self._out_streams:
            stream.close()
        for path in self._fifo_paths:
            path.unlink(missing_ok=True)
        self._program = None
        if leftover:
            log.warning("%s: dropped %d bytes the program wrote after its last block",
                        self._label(), leftover)
        if killed:
            log.warning("%s: the program did not exit within %g s of its inputs' end; killed",
                        self._label(), EXIT_GRACE)
        elif returncode != 0 and not self._failed:
            raise program.failure(returncode, f"after {self._runs} runs")

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_program"] = None  # a running program stays with its process
        return state


class MARVELOJob(ExecutableJob):
    """An :class:`ExecutableJob` given open file descriptors instead of paths.

    ``-i 5 -o 6``: the program reads its inputs from, and writes its outputs to, those
    descriptors, which it inherits already open.
    """

    def _connect(self, workdir: Path) -> None:
        program = self._program
        flags: list[str] = []
        theirs: list[int] = []
        self._fifo_paths = []
        self._in_fds = []
        for _pipe in self.inputs:
            read_end, write_end = os.pipe()
            os.set_blocking(write_end, False)
            self._in_fds.append(write_end)
            theirs.append(read_end)
            flags += [self.INPUT_FLAG, str(read_end)]
        for _pipe in self.outputs:
            read_end, write_end = os.pipe()
            os.set_blocking(read_end, False)
            self._out_streams.append(program.reader(read_end))
            theirs.append(write_end)
            flags += [self.OUTPUT_FLAG, str(write_end)]
        program.command += flags
        try:
            program.start(pass_fds=theirs)
        finally:
            for fd in theirs:
                os.close(fd)


class _Dynamic:
    """The constructor of the Dynamic* jobs: the class attributes as arguments."""

    def __init__(self, dependencies: str | Sequence[str], executable: str,
                 parameters: str | Sequence[str] = "", groups: str | Sequence[str] = "",
                 input_flag: str = "-i", output_flag: str = "-o", head: bool = False,
                 inputs: Iterable[BasePipe] | None = None,
                 outputs: Iterable[BasePipe] | None = None) -> None:
        self.DEPENDENCIES = dependencies
        self.EXECUTABLE = executable
        self.PARAMETERS = parameters
        self.INPUT_FLAG = input_flag
        self.OUTPUT_FLAG = output_flag
        self.HEAD = head
        if groups:
            self.GROUPS = groups
        super().__init__(inputs=inputs, outputs=outputs)  # type: ignore[call-arg]


class DynamicExecutableJob(_Dynamic, ExecutableJob):
    """An :class:`ExecutableJob` configured by arguments instead of a subclass."""


class DynamicMARVELOJob(_Dynamic, MARVELOJob):
    """A :class:`MARVELOJob` configured by arguments instead of a subclass."""
