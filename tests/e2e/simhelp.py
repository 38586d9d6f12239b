"""Helpers of the end-to-end tests: temporary projects and `manage.py NET simulate` processes.

Every simulation is started in a new session, so it leads its own process group and its job
processes stay in that group (see the ``sim`` fixture in conftest.py, which kills the groups).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from childprocess import EXAMPLES, REPO, child_env, wait_until  # noqa: F401 - re-exported

HERE = Path(__file__).resolve().parent


def group_members(pgid: int) -> list[psutil.Process]:
    """The live (not zombie) processes of process group ``pgid``."""
    members = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def job_stats(run: Simulation, job_id: int) -> dict:
    """The figures job ``job_id`` reported when it ended, from the ``statistics.json`` the
    backend writes at the end (pipe ids as ints, as the jobs count them)."""
    path = run.folder / "statistics.json"
    assert path.exists(), f"{path} was not written:\n{run.output()}"
    stats = dict(json.loads(path.read_text())["jobs"][str(job_id)])
    stats["inputs"] = {int(pipe): figures for pipe, figures in stats.get("inputs", {}).items()}
    return stats


class Simulation:
    """One ``python3 manage.py NET simulate ...`` process (the leader of its process group)."""

    def __init__(self, project: Path, network: str, args: list[str]) -> None:
        self.project, self.network = project, network
        self.out_path = project / f".{network}.{time.monotonic_ns()}.stdout"
        self.err_path = self.out_path.with_suffix(".stderr")
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "manage.py", network, "simulate", *args],
                cwd=project, env=child_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True,
            )
        self.pgid = self.popen.pid

    @property
    def folder(self) -> Path:
        """``NET/simulation``: info.txt and one working directory per job id."""
        return self.project / self.network / "simulation"

    def job_dir(self, job_id: int) -> Path:
        return self.folder / str(job_id)

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def output(self) -> str:
        return f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"

    def wait(self, timeout: float) -> int:
        """The exit status; fails the test if the simulation is still running after ``timeout``."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"simulate did not exit within {timeout} s\n{self.output()}")

    def interrupt(self) -> None:
        """Ctrl+C: SIGINT to the whole process group, as a terminal sends it."""
        os.killpg(self.pgid, signal.SIGINT)

    def members(self) -> list[psutil.Process]:
        return group_members(self.pgid)

    def job_process(self, job_id: int) -> psutil.Process | None:
        """The live process of job ``job_id`` (the one working in its folder), if any."""
        folder = str(self.job_dir(job_id))
        for process in self.members():
            try:
                if process.pid != self.popen.pid and process.cwd() == folder:
                    return process
            except psutil.Error:
                continue
        return None

    def kill(self) -> None:
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(10)


class Project:
    """A temporary project folder with manage.py and ``netjobs.py`` at its root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        shutil.copy(EXAMPLES / "manage.py", root / "manage.py")
        shutil.copy(HERE / "netjobs.py", root / "netjobs.py")

    def network(self, name: str, *config: str) -> Path:
        """Write the network package ``name``: config.py is the ``config`` parts, dedented."""
        folder = self.root / name
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        (folder / "config.py").write_text("\n".join(textwrap.dedent(part) for part in config))
        return folder
