"""Helpers of the cluster tests, on top of :mod:`fission.loopback` (node agents on
loopback addresses and `run` processes, shared with the benchmarks and the demo).

What is the tests' own: a project copied from examples/ with the test jobs of
``clusterjobs.py``, a `run` whose ``wait`` fails the test, and checks of CSV rows.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from childprocess import EXAMPLES, child_env, wait_until  # noqa: F401 - re-exported

from fission import loopback
from fission.loopback import (  # noqa: F401 - re-exported
    CLIENT_IP,
    Agent,
    Cluster,
    copy_project,
    free_port,
    job_processes,
    point_config,
    running_jobs,
)

HERE = Path(__file__).resolve().parent


def make_project(root: Path, cluster: Cluster, network: str = "demo_network_v3", *,
                 nodes: str | None = None, extra: str = "") -> Path:
    """A copy of examples/ whose ``network`` runs on ``cluster``; returns the project."""
    project = root / "project"
    if not project.exists():
        copy_project(EXAMPLES, project, cluster.keys)
        shutil.copy(HERE / "clusterjobs.py", project / "shared" / "clusterjobs.py")
    point_config(project / network / "config.py", cluster, extra, nodes)
    return project


def settings_for(cluster: Cluster) -> str:
    """The config.py lines that point a test network at ``cluster``'s scheduler and nodes."""
    return cluster.settings()


def network_package(project: Path, name: str, config: str) -> Path:
    folder = project / name
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "config.py").write_text(config)
    return folder


class Run(loopback.Run):
    """One ``python3 manage.py NET run ...``; a run that does not exit fails the test."""

    def wait(self, timeout: float) -> int:
        try:
            return super().wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"run did not exit within {timeout} s\n{self.output}")


def csv_rows(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [line.split(",") for line in lines[1:] if line.count(",") == lines[0].count(",")]


def check_products(rows: list[list[str]]) -> None:
    """join.csv of the tutorial's v3: each row's last column is the product of the others."""
    assert rows, "join.csv has no rows"
    for row in rows:
        a, b, c, product = (int(value) for value in row)
        assert a * b * c == product, f"row {row}: {a}*{b}*{c} != {product}"
