"""Local job processes: start them, relay what they print, stop them.

Each job process is started with SIGINT ignored (a Ctrl+C reaches the whole
process group; the backend, not the terminal, decides the order of shutdown). The
process started is the job's keeper (fission.runtime.descendants): it forks the job,
ends whatever the job leaves behind, and dies with its backend
(``PR_SET_PDEATHSIG``), taking the job along. Its stdout
and stderr are pipes that one relay thread reads, prefixing every line with the
job's name, ``[JoinJob 4] ...``, with control characters made harmless (see
:mod:`fission.backends.terminal`).

Under ``run`` every job process runs :data:`JOB_NICENESS` steps nicer than the process
that started it (:func:`lower_priority`), on the nodes and on the client alike: the
agent's heartbeats, and the Dask scheduler in the client that reads them, must not wait
for the CPU behind the jobs (40 job processes starting on 2 cores took the CPU from both
for seconds). Niceness only matters when the CPU is short; a job of an idle machine runs
as fast as before.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from fission.backends.terminal import stdout_is_terminal, visible
from fission.core.jobs import BaseJob
from fission.errors import ConfigError
from fission.runtime import memory
from fission.runtime.descendants import KILL_NOW
from fission.runtime.spec import JobSpec
from fission.security.curve import CurveKeys

#: Seconds a backend waits for the last control message of a job whose process has
#: exited (it may still be on its way) before it calls the exit a failure.
LAST_WORDS = 0.3
#: Seconds a keeper gets to end its job and what the job started, once told to kill it.
KEEPER_WAIT = 1.0
#: How much nicer than its starter a job process of ``run`` is (``nice(1)``'s default).
JOB_NICENESS = 10


def lower_priority(pid: int, niceness: int = JOB_NICENESS) -> None:
    """Make process ``pid`` ``niceness`` steps nicer than this process (19 at most).

    Linux applies it to the process's one thread so far, and everything the process
    starts from then on inherits it: the job the keeper forks, and what the job starts.
    A process that has already exited is left alone.
    """
    target = min(19, os.getpriority(os.PRIO_PROCESS, 0) + niceness)
    with contextlib.suppress(ProcessLookupError):
        os.setpriority(os.PRIO_PROCESS, pid, target)


def describe_exit(status: int, job: BaseJob | None = None) -> str:
    """A process's exit status in words: 'was killed by signal 9', 'exited with status 2'.

    The exit of a ``job`` whose memory watchdog ended it names its MAX_MEMORY.
    """
    if job is not None and job.MAX_MEMORY is not None and status == memory.EXIT_STATUS:
        return memory.describe_breach(job)
    return f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"


@dataclass
class JobProcess:
    job: BaseJob
    popen: subprocess.Popen
    #: When the backend first saw the process gone (its last words may still be on their way).
    exited_at: float | None = None

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None


def pickle_spec(spec: JobSpec) -> bytes:
    """The spec as bytes, or a ConfigError naming the job that cannot travel."""
    try:
        return pickle.dumps(spec, protocol=5)
    except Exception as error:  # noqa: BLE001 - any pickling failure is a config problem
        raise ConfigError(
            f"{spec.job.label} cannot be sent to its process ({type(error).__name__}: {error}); "
            "attributes set in __init__ must be picklable: open files, sockets and threads "
            "in setup() instead"
        ) from error


def job_stdin(spec: bytes, keys: CurveKeys | None) -> bytes:
    """What a job process reads on stdin: its pickled spec, then the CURVE keys."""
    return spec + pickle.dumps(keys, protocol=5)


def start_job(job: BaseJob, spec: bytes, cwd: Path, python_path: Iterable[Path],
              keys: CurveKeys | None, niceness: int = 0) -> JobProcess:
    """Start the runtime for ``job`` in ``cwd`` and hand it its pickled spec and keys;
    ``niceness``: how much nicer than this process it runs (see :func:`lower_priority`)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(path) for path in python_path] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited across exec
    try:
        popen = subprocess.Popen(
            [sys.executable, "-m", "fission.runtime.entry"],
            cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    if niceness:
        lower_priority(popen.pid, niceness)
    try:
        popen.stdin.write(job_stdin(spec, keys))
        popen.stdin.close()
    except BrokenPipeError:
        pass  # it died at start; its exit status and stderr tell why
    return JobProcess(job, popen)


def stop_jobs(processes: Iterable[JobProcess], patience: float = 1.0, grace: float = 2.0) -> None:
    """Make sure every process has exited, politely first (see :func:`stop_processes`)."""
    stop_processes([process.popen for process in processes], patience, grace)


def stop_processes(popens: Iterable[subprocess.Popen], patience: float = 1.0, grace: float = 2.0,
                   kill: Callable[[subprocess.Popen], None] = subprocess.Popen.kill) -> None:
    """Make sure every job process (its keeper, see fission.runtime.descendants) has exited.

    Processes already asked to stop (over the control channel) get ``patience``
    seconds to end their current run and tear down; those still alive get SIGTERM
    (passed on to the job), ``grace`` seconds later ``KILL_NOW`` (the keeper kills
    the job and what it started), and :data:`KEEPER_WAIT` seconds later ``kill``
    (SIGKILL: a keeper that does not end is beyond help).
    """
    alive = [p for p in popens if p.poll() is None]
    steps = ((patience, signal.SIGTERM), (grace, KILL_NOW), (KEEPER_WAIT, None))
    for deadline, escalate in steps:
        until = time.monotonic() + deadline
        for popen in alive:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(max(0.0, until - time.monotonic()))
        alive = [p for p in alive if p.poll() is None]
        for popen in alive:
            if escalate is None:
                kill(popen)
            else:
                popen.send_signal(escalate)
    for popen in alive:
        popen.wait()


class OutputRelay(threading.Thread):
    """Copies every line the job processes print to ``write``, prefixed with the job."""

    def __init__(self, processes: Iterable[JobProcess], write: Callable[[str], None],
                 where: str | None = None,
                 tap: Callable[[int, str], None] | None = None) -> None:
        """``where``, if given, names the machine in each prefix: ``[JoinJob 4 @local]``.
        ``tap``, if given, gets each line too, with the job's id (the dashboard's)."""
        super().__init__(name="fission-output-relay", daemon=True)
        self._write = write
        self._colour = stdout_is_terminal()
        self._tap = tap
        self._selector = selectors.DefaultSelector()
        self._suffix = f" @{where}" if where else ""
        #: Set while processes may still be :meth:`add`-ed (a job may be restarted).
        self._more = threading.Event()
        for process in processes:
            self.add(process)

    def add(self, process: JobProcess) -> None:
        """Relay one more process too (a restarted job); see :meth:`expect_more`."""
        prefix = f"[{process.job.label}{self._suffix}] "
        for stream in (process.popen.stdout, process.popen.stderr):
            os.set_blocking(stream.fileno(), False)
            self._selector.register(stream, selectors.EVENT_READ,
                                    [prefix, b"", process.job.id])

    def expect_more(self, more: bool) -> None:
        """Whether the relay goes on once every stream so far has closed: processes
        may still be added. Set it before :meth:`start`, clear it at the end."""
        if more:
            self._more.set()
        else:
            self._more.clear()

    def run(self) -> None:
        while self._selector.get_map() or self._more.is_set():
            if not self._selector.get_map():
                time.sleep(0.1)
                continue
            for key, _ in self._selector.select(timeout=0.5):
                self._read(key)

    def _read(self, key: selectors.SelectorKey) -> None:
        prefix, partial, job_id = key.data
        try:
            chunk = os.read(key.fd, 65536)
        except BlockingIOError:
            return
        if not chunk:
            self._selector.unregister(key.fileobj)
            if partial:
                self._emit(prefix, partial, job_id)
            return
        *lines, key.data[1] = (partial + chunk).split(b"\n")
        for line in lines:
            self._emit(prefix, line, job_id)

    def _emit(self, prefix: str, line: bytes, job_id: int) -> None:
        text = line.decode(errors="replace")
        self._write(prefix + visible(text, self._colour) + "\n")
        if self._tap is not None:
            self._tap(job_id, visible(text, colour=False))
