"""Settings shared by every test of the suite.

Hypothesis runs without a per-example deadline: the suite runs on small, busy CI machines
where a slow example is not a failure. Tests that start processes own their cleanup (see
tests/e2e/conftest.py); the check below catches any child process a test forgot.
"""

from __future__ import annotations

import time

import psutil
import pytest
from hypothesis import settings

settings.register_profile("fission", deadline=None, max_examples=200)
settings.load_profile("fission")


@pytest.fixture(autouse=True)
def no_child_process_left_behind(request: pytest.FixtureRequest):
    """Fail a test that leaves a child process of pytest running.

    Fixtures that share a long-lived helper between tests (the node agents of
    tests/cluster) list its pid in ``config.fission_shared_processes``; the helper's
    own children are still checked.
    """
    yield
    shared = getattr(request.config, "fission_shared_processes", set())
    deadline = time.monotonic() + 5
    while (children := _live_children(shared)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not children, f"child processes left running: {children}"


def _live_children(shared: set[int]) -> list[str]:
    live = []
    for child in psutil.Process().children(recursive=True):
        if child.pid in shared:
            continue
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                live.append(f"{child.pid} {' '.join(child.cmdline())}")
        except psutil.NoSuchProcess:
            continue
    return live


@pytest.fixture
def strays():
    """Processes a test's jobs started themselves (``childprocess.spawned_by``): those a
    failing test leaves behind are killed at teardown (they may be in sessions of their own)."""
    processes: list[psutil.Process] = []
    yield processes
    for process in processes:
        try:
            process.kill()
        except psutil.Error:
            continue
