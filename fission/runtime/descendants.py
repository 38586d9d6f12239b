"""The keeper: the process that makes every process a job starts end with the job.

A job may start processes of its own (``subprocess.Popen`` in ``setup``, ``os.fork``,
a shell pipeline, a daemon that forks twice and leaves its session). None of them may
outlive the job, however it ends, SIGKILL and a killed backend included. A job
process cannot promise that itself (a SIGKILLed process runs no code), so the first
thing the runtime does is fork (:func:`keep`): the child runs the job, and the parent
stays behind as its *keeper*, a small process that only waits. The keeper is a child
subreaper (``PR_SET_CHILD_SUBREAPER``), so every orphaned descendant of the job, even
one in a session of its own, becomes its child; once the job has exited, the keeper
ends whatever is left of its tree (SIGTERM, then SIGKILL) and exits with the job's own
status, so the backend sees the job's exit as before.

The keeper is what the backend starts and signals:

- SIGTERM is passed on to the job (the polite stop: the job tears down);
- :data:`KILL_NOW` (SIGHUP) kills the job at once; it is also the keeper's
  ``PR_SET_PDEATHSIG``, so a backend that dies, even by SIGKILL, takes the job and
  everything it started with it;
- SIGINT is ignored: the backend decides when jobs stop.

The job asks for SIGKILL when its keeper dies (``_die_with_parent`` in the entry), so
killing the keeper itself ends the job too; what the job started is then left to the
backend, which kills the keeper's process group (on a node: its session).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time

#: The signal that makes a keeper kill its job at once (also sent when its backend dies).
KILL_NOW = signal.SIGHUP
#: Seconds the job's leftover processes get between SIGTERM and SIGKILL.
LEFTOVER_PATIENCE = 0.5
#: Seconds after which the keeper gives up on processes that SIGKILL does not end (D state).
LEFTOVER_LIMIT = 5.0

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_WATCHED = {signal.SIGCHLD, signal.SIGTERM, KILL_NOW}


def keep() -> None:
    """Fork; return in the child, which runs the job; the parent keeps it and never returns.

    Called before anything reads stdin (the job's spec is the child's to read). Off
    Linux, without the prctl calls this needs, the job runs in this process as before.
    """
    if not sys.platform.startswith("linux"):
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)  # none may arrive unseen
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    parent = os.getppid()
    libc.prctl(_PR_SET_PDEATHSIG, KILL_NOW, 0, 0, 0)
    job = os.fork()
    if job == 0:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _WATCHED)
        return
    os.close(0)  # the spec is the job's to read; a job that dies at once breaks the pipe
    if os.getppid() != parent:  # the backend died before PDEATHSIG was set
        os.kill(job, signal.SIGKILL)
    _exit_as(_keep(job))


def _keep(job: int) -> int:
    """Wait for the job, passing signals on; end what it leaves behind; its wait status."""
    status = None
    while status is None:
        received = signal.sigtimedwait(_WATCHED, 1.0)
        if received is not None and received.si_signo != signal.SIGCHLD:
            with contextlib.suppress(ProcessLookupError):  # not yet reaped: still our job
                os.kill(job, signal.SIGTERM if received.si_signo == signal.SIGTERM
                        else signal.SIGKILL)
        for pid, wait_status in _reap():
            if pid == job:
                status = wait_status
    _end_leftovers()
    return status


def _reap() -> list[tuple[int, int]]:
    """Every child that has exited, reaped: (pid, wait status)."""
    reaped = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append((pid, status))


def _end_leftovers() -> None:
    """SIGTERM each process the job left behind, SIGKILL those still there after a while.

    Orphans keep arriving while their parents die (each becomes our child), so this
    looks again until nothing is left but zombies it has reaped. psutil is imported
    here, not at the top: only the keeper needs it, not every job.
    """
    import psutil

    me = psutil.Process()
    started = time.monotonic()
    warned: set[int] = set()
    while time.monotonic() - started < LEFTOVER_LIMIT:
        _reap()
        try:
            tree = me.children(recursive=True)
            living = [p for p in tree if p.status() != psutil.STATUS_ZOMBIE]
        except psutil.Error:  # one ended while we looked: look again
            time.sleep(0.02)
            continue
        if not living:
            return
        late = time.monotonic() - started >= LEFTOVER_PATIENCE
        for process in living:
            if late or process.pid not in warned:
                # gone meanwhile, or not ours to signal (a setuid program): nothing to do
                with contextlib.suppress(psutil.Error):
                    process.send_signal(signal.SIGKILL if late else signal.SIGTERM)
                warned.add(process.pid)
        time.sleep(0.02)


def _exit_as(status: int) -> None:
    """End this process the way the job ended: the same exit code, or the same signal."""
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        with contextlib.suppress(OSError, ValueError):  # SIGKILL and SIGSTOP keep their action
            signal.signal(-code, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {-code})
        os.kill(os.getpid(), -code)
        code = 128 - code
    os._exit(code)
