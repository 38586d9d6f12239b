"""Fixtures of the cluster tests: real node agents on 127.0.0.2-4, real `run` processes.

``cluster`` is shared by the tests of a module (agents outlive runs, as on real
machines); ``own_cluster`` is a test's own, for tests that kill or freeze a node. Every
`run` a test starts is killed at teardown, and no job process may be left under the
test's folder.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from clusterhelp import Cluster, Run, child_env, job_processes, wait_until


def _start(request: pytest.FixtureRequest, root: Path) -> Cluster:
    cluster = Cluster(root)
    shared = getattr(request.config, "fission_shared_processes", set())
    request.config.fission_shared_processes = shared
    for agent in cluster.agents:
        shared.add(agent.popen.pid)
    return cluster


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    cluster = _start(request, tmp_path_factory.mktemp("cluster"))
    yield cluster
    cluster.close()


@pytest.fixture
def own_cluster(request: pytest.FixtureRequest, tmp_path: Path):
    cluster = _start(request, tmp_path / "nodes")
    yield cluster
    cluster.close()


@pytest.fixture
def runs(tmp_path: Path):
    """``runs(project, network, *args)`` starts a `run`; each is killed at teardown."""
    started: list[Run] = []

    def start(project: Path, network: str, *args: str) -> Run:
        run = Run(project, network, *args)
        started.append(run)
        return run

    yield start
    for run in started:
        run.kill()
    roots = {run.project for run in started}
    for root in roots:
        wait_until(lambda root=root: not job_processes(root), 5, f"job processes under {root}")


@pytest.fixture
def manage():
    """``manage(project, *args)``: one short ``manage.py`` command, run to its end."""

    def run(project: Path, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=project, env=child_env(),
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)

    return run
