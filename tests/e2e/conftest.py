"""Fixtures of the end-to-end tests: real projects, real `simulate` processes.

The ``sim`` fixture's teardown SIGKILLs the process group of every simulation it started and
then asserts that no process of that group is left alive.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from simhelp import EXAMPLES, Project, Simulation, child_env


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "proj")


@pytest.fixture
def examples_project(tmp_path: Path) -> Path:
    """A copy of examples/ (the tutorial's networks, unmodified), without old results."""
    target = tmp_path / "examples"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns(
        "simulation", "local", ".fission", "__pycache__", "FISSION.log"))
    return target


@pytest.fixture
def sim():
    """``sim(project_dir, network, *args)`` starts a simulation; all are killed at teardown."""
    started: list[Simulation] = []

    def start(project: Path, network: str, *args: str) -> Simulation:
        simulation = Simulation(Path(project), network, list(args))
        started.append(simulation)
        return simulation

    yield start
    leftovers = []
    for simulation in started:
        simulation.kill()
        deadline = time.monotonic() + 5
        while simulation.members() and time.monotonic() < deadline:
            time.sleep(0.05)
        leftovers += [f"{p.pid} {' '.join(p.cmdline())}" for p in simulation.members()]
    assert not leftovers, f"processes left after the test: {leftovers}"


@pytest.fixture
def manage() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``manage(project_dir, *args)``: one short ``manage.py`` command, run to its end."""

    def run(project_dir: Path, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=project_dir,
                              env=child_env(), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)

    return run
