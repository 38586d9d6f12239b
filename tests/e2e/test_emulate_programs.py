"""fission.emulate with executable jobs: the program really runs, and nothing is left after."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
from pathlib import Path

import psutil
import pytest
from execjobs import Int64Pipe, Triple
from simhelp import wait_until

from fission.core.base import reset
from fission.core.executable import DynamicExecutableJob, DynamicMARVELOJob
from fission.core.head import Head
from fission.core.pipes import JSONPipe
from fission.emulate import emulate
from fission.errors import ConfigError, JobError

PROGRAMS = Path(__file__).resolve().parent / "programs"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with the C filter compiled into cprog/ and the scripts in scripts/."""
    reset()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cprog").mkdir()
    subprocess.run(["cc", "-O2", "-o", str(tmp_path / "cprog" / "triple"),
                    str(PROGRAMS / "triple.c")], check=True, timeout=60)
    shutil.copytree(PROGRAMS, tmp_path / "scripts", ignore=shutil.ignore_patterns("*.c"))
    yield tmp_path
    reset()


def _programs() -> list[psutil.Process]:
    """The programs this test process started that still run."""
    return [child for child in psutil.Process().children(recursive=True)
            if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.timeout(60)
def test_a_c_program_filters_each_put_and_exits_at_kill(folder: Path, capfd):
    job = emulate(Triple(inputs=[Int64Pipe(1)], outputs=[Int64Pipe(2)]))
    assert job(5) == [16]
    job.put(-1)
    job.put(100)
    assert [job.get(), job.get()] == [[-2], [301]]
    (program,) = _programs()
    assert program.cwd() == str(job.cwd / "cprog")   # in the job's copy of its folder
    job.kill()
    assert not _programs()
    assert not list((job.cwd / "fifo").iterdir())    # its named pipes are removed
    wait_until(lambda: "triple: 3 blocks" in capfd.readouterr().out, 5,
               "the program's stdout relayed")


@pytest.mark.timeout(60)
def test_a_python_program_on_file_descriptors(folder: Path):
    with emulate(DynamicMARVELOJob(dependencies="scripts", executable="python3 double.py",
                                   inputs=[Int64Pipe(1)], outputs=[JSONPipe(2)])) as job:
        assert [job(value) for value in (1, 2, 21)] == [[2], [4], [42]]
    assert not _programs()


@pytest.mark.timeout(60)
def test_a_head_program_gets_and_gives_heads(folder: Path):
    job = emulate(DynamicExecutableJob(dependencies="scripts", executable="python3 headflip.py",
                                       head=True, inputs=[Int64Pipe(1)],
                                       outputs=[Int64Pipe(2)]))
    assert job(7, head=Head(0b1000_0000)) == [7]
    assert job.heads == [Head(0b1000_0001)]
    job.put(8)
    assert job.get() == [8] and job.heads == [Head(0b0000_0001)]
    job.kill()
    assert not _programs()


@pytest.mark.timeout(60)
def test_a_shell_source_runs_once_per_get_until_it_exits(folder: Path):
    job = emulate(DynamicExecutableJob(dependencies="scripts", executable="./count.sh",
                                       parameters="3", outputs=[JSONPipe(1)]))
    assert [job(), job(), job()] == [[0], [1], [2]]
    assert job.close() == []
    assert job.finished and not _programs()


@pytest.mark.timeout(60)
def test_a_failing_program_fails_the_run_and_is_cleaned_up(folder: Path):
    job = emulate(DynamicMARVELOJob(dependencies="scripts", executable="python3 double.py",
                                    parameters="--fail-at 1", inputs=[Int64Pipe(1)],
                                    outputs=[JSONPipe(2)]))
    assert job(1) == [2]
    with pytest.raises(JobError, match="exited with status 3 after 1 runs"):
        job(2)
    assert job.finished and not _programs()


@pytest.mark.timeout(60)
def test_an_emulator_dropped_without_kill_leaves_no_program(folder: Path):
    job = emulate(Triple(inputs=[Int64Pipe(1)], outputs=[Int64Pipe(2)]))
    assert job(1) == [4]
    (program,) = _programs()
    del job
    gc.collect()
    assert not program.is_running() or program.status() == psutil.STATUS_ZOMBIE


def test_a_missing_program_is_refused_before_anything_starts(folder: Path):
    with pytest.raises(ConfigError, match=r"'./nothere' is neither a file in its DEPENDENCIES"):
        emulate(DynamicExecutableJob(dependencies="scripts", executable="./nothere",
                                     inputs=[Int64Pipe(1)], outputs=[Int64Pipe(2)]))
    os.chmod(folder / "scripts" / "count.sh", 0o644)
    with pytest.raises(ConfigError, match="is not executable"):
        emulate(DynamicExecutableJob(dependencies="scripts", executable="./count.sh",
                                     outputs=[JSONPipe(3)]))
    assert not _programs()
