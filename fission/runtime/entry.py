"""``python -m fission.runtime.entry``: the first code a job process runs.

The backend starts this module with the job's working directory as cwd, the
project on ``PYTHONPATH`` and, on stdin, a pickled
:class:`~fission.runtime.spec.JobSpec` followed by the project's pickled CURVE keys
(None when ``SECURE = False``): stdin, unlike the command line or the environment,
no other process can read. It forks a keeper that ends every process the job starts
(:mod:`fission.runtime.descendants`), ties the process's life to its keeper's, routes
``print`` to both the console relay (stdout) and the job's log, runs the job and
turns the way it ended into an exit status: 0 finished or stopped, 1 the job
raised, 2 it could not start, 3 it went over its MAX_MEMORY and did not fail by
itself in time (see fission/runtime/memory.py).
"""

from __future__ import annotations

import ctypes
import logging
import os
import pickle
import signal
import sys
from types import FrameType

import zmq

from fission.runtime import failure, memory, streams
from fission.runtime.descendants import keep
from fission.runtime.loop import JobRunner
from fission.runtime.spec import JobSpec
from fission.security.curve import CurveKeys, Gatekeeper

LOG_NAME = "job.log"
_PR_SET_PDEATHSIG = 1


class JobStopped(BaseException):
    """Raised by SIGTERM: the backend stops this job (a BaseException, like KeyboardInterrupt)."""


def main() -> int:
    keep()  # from here on this is the job; its keeper ends what it leaves behind
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the backend decides when jobs stop
    signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        spec: JobSpec = pickle.load(sys.stdin.buffer)
        keys: CurveKeys | None = pickle.load(sys.stdin.buffer)
    except JobStopped:
        return 0
    except Exception as error:  # noqa: BLE001 - reported as a start failure
        print(f"job process could not read its job: {type(error).__name__}: {error}",
              file=sys.stderr)
        return 2
    _log_to_file(spec.log_level)
    memory.watch(spec.job)
    log = logging.getLogger("fission.job")
    log.info("%s starting in %s (pid %d)", spec.job.label, os.getcwd(), os.getpid())
    context = zmq.Context()
    gate = Gatekeeper(context, keys, logging.getLogger("fission.security"))
    runner = None
    try:
        runner = JobRunner(spec, gate, wakeup_fd=_signal_wakeup_pipe())
        runner.run()
    except JobStopped:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if runner is not None:
            stats = runner.statistics()
            log.info("%s stopped after %d runs: %s", spec.job.label, runner.runs, stats)
            runner.control.send("stopped", stats=stats)
            runner.control.close()  # with its linger, so the counters reach the backend
        _close(gate)
        return 0
    except BaseException as error:  # noqa: BLE001 - the user's, even KeyboardInterrupt/SystemExit
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # from here on a stop needs no cleanup
        _report_failure(spec, runner, error)
        _close(gate)
        return 1
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _close(gate)  # released: every consumer is done with our blocks
    return 0


def _close(gate: Gatekeeper) -> None:
    """Stop the gatekeeper's thread, then drop every socket left: it owns some of them."""
    gate.close()
    gate.context.destroy(linger=0)


def _report_failure(spec: JobSpec, runner: JobRunner | None, error: BaseException) -> None:
    """Print the user's part of the traceback and tell the backend in one line."""
    told = failure.report(error, not_failures=(JobStopped,))
    sys.stderr.write(told.text)
    # The backend prints this summary itself: keep it out of the console relay.
    logging.getLogger("fission.job").error("%s failed: %s", spec.job.label, told.summary,
                                           extra={"console": False})
    if runner is not None:
        runner.control.send("failed", error=told.summary)
        runner.control.close()  # with its linger, so the message leaves before we exit


def _signal_wakeup_pipe() -> int:
    """The read end of a pipe that gets a byte whenever a handled signal arrives."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    return read_fd


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut teardown short
    raise JobStopped


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the process that started it exits."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def _log_to_file(level: str) -> None:
    handler = logging.FileHandler(LOG_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    console = logging.StreamHandler(sys.__stderr__)
    console.setLevel(logging.WARNING)
    console.addFilter(lambda record: getattr(record, "console", True))
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(handler)
    root.addHandler(console)
    # print(), sys.stdout.buffer and tracebacks reach the console relay and the job's log.
    streams.tee_std_streams(handler)


if __name__ == "__main__":
    sys.exit(main())
