"""What the end-to-end and cluster tests share to start FISSION processes and wait on them.

Every child gets an environment in which this checkout's ``fission`` imports, installed
or not, and prints unbuffered; :func:`wait_until` polls for an outcome and fails the
test naming what never happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fission.loopback import EXAMPLES, REPO, child_env  # noqa: F401 - re-exported


def wait_until(predicate: Callable[[], object], timeout: float, what: str,
               interval: float = 0.05) -> object:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def spawned_by(folder: Path, started: list) -> tuple[int, list]:
    """The pid of the netjobs ``Spawner`` working in ``folder``, and every process it started.

    Waits for its ``pids`` file (written once all are up) and for both commands of its shell
    pipeline; each process found is added to ``started`` (the ``strays`` fixture),
    so that a failing test still kills them.
    """
    import psutil

    pids_file = folder / "pids"
    wait_until(lambda: pids_file.exists() and pids_file.read_text().endswith("\n"), 30,
               f"the Spawner's pids file in {folder}")
    job, *pids = map(int, pids_file.read_text().split())
    spawned = [psutil.Process(pid) for pid in pids]
    started += spawned
    shell = spawned[1]
    pipeline = wait_until(lambda: len(shell.children()) == 2 and shell.children(), 5,
                          "both commands of the Spawner's shell pipeline")
    started += pipeline
    return job, spawned + pipeline


def assert_all_gone(processes: list, output: str, timeout: float = 5) -> None:
    """Fail naming the processes still alive (zombies aside) after ``timeout`` seconds."""
    import psutil

    _, alive = psutil.wait_procs(processes, timeout=timeout)
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"processes a job started outlived it: {alive}\n{output}"
