"""Local job processes: start them, relay what they print, stop them.

Each job process is started with SIGINT ignored (a Ctrl+C reaches the whole
process group; the backend, not the terminal, decides the order of shutdown) and
sets ``PR_SET_PDEATHSIG`` itself, so it dies if its backend is killed. Its stdout
and stderr are pipes that one relay thread reads, prefixing every line with the
job's name, ``[JoinJob 4] ...``.
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

from fission.core.jobs import BaseJob
from fission.errors import ConfigError
from fission.runtime.spec import JobSpec
from fission.security.curve import CurveKeys

#: Seconds a backend waits for the last control message of a job whose process has
#: exited (it may still be on its way) before it calls the exit a failure.
LAST_WORDS = 0.3


def describe_exit(status: int) -> str:
    """A process's exit status in words: 'was killed by signal 9', 'exited with status 2'."""
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
            f"{spec.job.name} cannot be sent to its process ({type(error).__name__}: {error}); "
            "attributes set in __init__ must be picklable: open files, sockets and threads "
            "in setup() instead"
        ) from error


def job_stdin(spec: bytes, keys: CurveKeys | None) -> bytes:
    """What a job process reads on stdin: its pickled spec, then the CURVE keys."""
    return spec + pickle.dumps(keys, protocol=5)


def start_job(job: BaseJob, spec: bytes, cwd: Path, python_path: Iterable[Path],
              keys: CurveKeys | None) -> JobProcess:
    """Start the runtime for ``job`` in ``cwd`` and hand it its pickled spec and keys."""
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
    try:
        popen.stdin.write(job_stdin(spec, keys))
        popen.stdin.close()
    except BrokenPipeError:
        pass  # it died at start; its exit status and stderr tell why
    return JobProcess(job, popen)


def stop_jobs(processes: Iterable[JobProcess], patience: float = 1.0, grace: float = 2.0) -> None:
    """Make sure every process has exited, politely first.

    Processes already asked to stop (over the control channel) get ``patience``
    seconds to end their current run and tear down; those still alive get SIGTERM,
    and SIGKILL ``grace`` seconds later.
    """
    alive = [p for p in processes if p.alive]
    for deadline, escalate in ((patience, "terminate"), (grace, "kill")):
        until = time.monotonic() + deadline
        for process in alive:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(max(0.0, until - time.monotonic()))
        alive = [p for p in alive if p.alive]
        for process in alive:
            getattr(process.popen, escalate)()
    for process in alive:
        process.popen.wait()


class OutputRelay(threading.Thread):
    """Copies every line the job processes print to ``write``, prefixed with the job."""

    def __init__(self, processes: Iterable[JobProcess], write: Callable[[str], None],
                 where: str | None = None,
                 tap: Callable[[int, str], None] | None = None) -> None:
        """``where``, if given, names the machine in each prefix: ``[JoinJob 4 @local]``.
        ``tap``, if given, gets each line too, with the job's id (the dashboard's)."""
        super().__init__(name="fission-output-relay", daemon=True)
        self._write = write
        self._tap = tap
        self._selector = selectors.DefaultSelector()
        suffix = f" @{where}" if where else ""
        for process in processes:
            prefix = f"[{process.job.name}{suffix}] "
            for stream in (process.popen.stdout, process.popen.stderr):
                os.set_blocking(stream.fileno(), False)
                self._selector.register(stream, selectors.EVENT_READ,
                                        [prefix, b"", process.job.id])

    def run(self) -> None:
        while self._selector.get_map():
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
        text = line.decode(errors="replace").rstrip("\r")
        self._write(prefix + text + "\n")
        if self._tap is not None:
            self._tap(job_id, text)
