"""The bridge between a job process and the program of an executable job.

An executable job's process is an ordinary job process: its runtime receives, aligns
and sends blocks as for any Python job. What differs is ``run``: it hands each input
value to the program over a pipe of the operating system (a named pipe, or an
inherited file descriptor) and reads one block per output back. This module owns
that program: it starts it, moves the bytes, relays its stdout and stderr into the
job's own streams, and makes sure it never outlives the job.

How a value is written to, and read back from, a byte stream depends on its pipe
(:func:`stream_format`), as the original FISSION defined it:

- a pipe with a fixed block size (``BytesPipe(id, block_size)``, or a pipe class with
  an int ``BLOCK_SIZE``) carries exactly that many bytes per block, made by its
  ``pack`` and read back with its ``unpack``;
- a :class:`~fission.core.pipes.JSONPipe` carries one line of JSON per block;
- a :class:`~fission.core.pipes.PicklePipe` carries one pickle per block (pickles end
  themselves, so no length is needed).

All waiting is done in short polls that also look at the program, so a program that
dies is noticed wherever the job waits for it, and SIGTERM reaches the job process
at any time.
"""

from __future__ import annotations

import ctypes
import errno
import io
import json
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from fission.core.pipes import BasePipe, JSONPipe, PicklePipe
from fission.errors import ConfigError, JobError

#: Milliseconds of each poll between two looks at the program.
POLL_MS = 100
#: Seconds a program gets to exit by itself once its inputs are closed.
EXIT_GRACE = 10.0
_PR_SET_PDEATHSIG = 1


class ProgramEnded(Exception):
    """The program closed a pipe or exited; ``returncode`` is None while it still runs."""

    def __init__(self, returncode: int | None) -> None:
        super().__init__(returncode)
        self.returncode = returncode


class StreamFormat:
    """How the blocks of one pipe are laid out on a byte stream."""

    def __init__(self, pipe: BasePipe, kind: str, size: int = 0) -> None:
        self.pipe, self.kind, self.size = pipe, kind, size

    def encode(self, value: Any) -> bytes:
        if self.kind == "pickle":
            return pickle.dumps(value, protocol=pickle.DEFAULT_PROTOCOL)
        if self.kind == "json":
            return json.dumps(value, separators=(",", ":")).encode() + b"\n"
        data = bytes(self.pipe.pack(value))
        if len(data) != self.size:
            raise JobError(f"pipe {self.pipe.id} carries blocks of {self.size} bytes; its pack() "
                           f"made {len(data)} bytes")
        return data

    def decode(self, stream: IO[bytes]) -> Any:
        """The next block's value; raises :class:`ProgramEnded` at the end of the stream."""
        if self.kind == "pickle":
            try:
                return pickle.load(stream)
            except EOFError:
                raise ProgramEnded(None) from None
        if self.kind == "json":
            line = stream.readline()
            if not line.endswith(b"\n"):
                raise ProgramEnded(None)
            return json.loads(line)
        data = stream.read(self.size)
        if len(data) < self.size:
            raise ProgramEnded(None)
        return self.pipe.unpack(data)


def stream_format(pipe: BasePipe, job_name: str) -> StreamFormat:
    """The layout of ``pipe`` on a program's stream, or a ConfigError if it has none."""
    size = getattr(pipe, "block_size", None)
    if size is None:
        size = getattr(pipe, "BLOCK_SIZE", None)
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        return StreamFormat(pipe, "fixed", size)
    if isinstance(pipe, PicklePipe):
        return StreamFormat(pipe, "pickle")
    if isinstance(pipe, JSONPipe):
        return StreamFormat(pipe, "json")
    raise ConfigError(
        f"{job_name}: pipe {pipe.id} ({type(pipe).__name__}) has no layout a program can read: "
        "use a BytesPipe(id, block_size), a PicklePipe or a JSONPipe, or give the pipe class "
        "an int BLOCK_SIZE (the bytes its pack() makes per block)"
    )


class _Reader(io.RawIOBase):
    """A read end of a program's output, waiting in polls that watch the program."""

    def __init__(self, fd: int, program: Program) -> None:
        super().__init__()
        self._fd, self._program = fd, program
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def readinto(self, buffer: Any) -> int:
        program = self._program
        while time.monotonic() < program.deadline:
            if self._poll.poll(POLL_MS):
                try:
                    data = os.read(self._fd, len(buffer))
                except BlockingIOError:
                    continue
                buffer[:len(data)] = data
                return len(data)
            if program.exited():
                # A writer that never opened the pipe: nothing can come any more.
                return 0
        return 0


class Program:
    """One running program with its input and output pipes."""

    def __init__(self, job_name: str, command: Sequence[str], cwd: Path) -> None:
        self.job_name = job_name
        self.command = list(command)
        self.cwd = cwd
        self.process: subprocess.Popen | None = None
        #: When reads give up (``time.monotonic()``): never, until the job winds down.
        self.deadline = float("inf")
        self._relays: list[threading.Thread] = []

    # -- starting ------------------------------------------------------------------

    def start(self, pass_fds: Sequence[int] = ()) -> None:
        """Start the program, tied to this process's life, its streams relayed."""
        try:
            self.process = subprocess.Popen(
                self.command, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, pass_fds=tuple(pass_fds), preexec_fn=_die_with_parent,
            )
        except OSError as error:
            raise JobError(f"{self.job_name}: could not start the executable "
                           f"{self.command[0]!r} in {self.cwd}: {error}") from None
        for source, target in ((self.process.stdout, "stdout"), (self.process.stderr, "stderr")):
            relay = threading.Thread(target=_relay, args=(source, target), daemon=True,
                                     name=f"fission-program-{target}")
            relay.start()
            self._relays.append(relay)

    def exited(self) -> bool:
        return self.process is None or self.process.poll() is not None

    # -- moving bytes --------------------------------------------------------------

    def write(self, fd: int, data: bytes) -> None:
        """Write all of ``data`` to the program; ProgramEnded if it stopped reading."""
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        view = memoryview(data)
        while view:
            if not poller.poll(POLL_MS):
                if self.exited():
                    raise ProgramEnded(self.process.returncode)
                continue
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                continue
            except BrokenPipeError:
                raise ProgramEnded(self.process.poll()) from None

    def reader(self, fd: int) -> IO[bytes]:
        return io.BufferedReader(_Reader(fd, self))

    def open_fifo_for_writing(self, path: Path) -> int:
        """Open the write end of a named pipe once the program has opened its read end."""
        while True:
            try:
                return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as error:
                if error.errno != errno.ENXIO:  # no reader yet
                    raise
            if self.exited():
                raise ProgramEnded(self.process.returncode)
            time.sleep(0.005)

    # -- the end -------------------------------------------------------------------

    def deadline_in(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def time_left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def wait(self, grace: float) -> tuple[int, bool]:
        """Wait for the program to exit: ``(returncode, killed)``; killed after ``grace``."""
        assert self.process is not None
        killed = False
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            killed = True
            self.process.kill()
            self.process.wait()
        for relay in self._relays:
            relay.join(2)
        return self.process.returncode, killed

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def failure(self, returncode: int, when: str) -> JobError:
        """The error of a program that ended badly, naming the job, program and status."""
        if returncode < 0:
            try:
                how = f"was killed by {signal.Signals(-returncode).name}"
            except ValueError:
                how = f"was killed by signal {-returncode}"
        else:
            how = f"exited with status {returncode}"
        return JobError(f"{self.job_name}: the executable {' '.join(self.command)!r} {how} "
                        f"{when}; its stdout and stderr are in the job's job.log")


def _relay(source: IO[bytes], target: str) -> None:
    """Copy the program's lines into this process's stdout or stderr (console and job.log)."""
    with source:
        for line in iter(source.readline, b""):
            stream = getattr(sys, target)
            stream.write(line.decode(errors="replace"))
            stream.flush()


#: libc's prctl, looked up in the job process: the child between fork and exec must not
#: load libraries (another thread may hold a lock the loader needs).
_prctl = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In the program, just before exec: SIGKILL it when the job process ends."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
