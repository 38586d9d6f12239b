"""Executable jobs under `simulate`: programs in C, Python and shell as jobs of a network."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import psutil
import pytest
from simhelp import read_csv, wait_until

from fission.events import read_events

HERE = Path(__file__).resolve().parent
PROGRAMS = HERE / "programs"
HEAD = """
from fission.core.jobs import CSVSinkJob, DynamicExecutableJob, DynamicMARVELOJob
from fission.core.pipes import JSONPipe
from execjobs import Int64Pipe, IntSource, Triple
"""


def _executable_project(project, *programs: str) -> None:
    """execjobs.py at the project's root; the C filter compiled into cprog/; scripts in sh/."""
    shutil.copy(HERE / "execjobs.py", project.root / "execjobs.py")
    cprog = project.root / "cprog"
    cprog.mkdir()
    subprocess.run(["cc", "-O2", "-o", str(cprog / "triple"), str(PROGRAMS / "triple.c")],
                   check=True, timeout=60)
    scripts = project.root / "scripts"
    scripts.mkdir()
    for name in programs:
        shutil.copy2(PROGRAMS / name, scripts / name)


def _finished(run, timeout: float = 40) -> None:
    code = run.wait(timeout)
    assert code == 0, run.output()
    wait_until(lambda: not run.members(), 5, "every job process to exit")


@pytest.mark.timeout(90)
def test_c_and_python_programs_filter_a_stream(sim, project):
    _executable_project(project, "double.py")
    project.network("net", HEAD, """
        JOBS = [
            IntSource(n=300, outputs=[Int64Pipe(1)]),
            Triple(inputs=[Int64Pipe(1)], outputs=[Int64Pipe(2)]),
            DynamicMARVELOJob(dependencies="scripts", executable="python3 double.py",
                              inputs=[Int64Pipe(2)], outputs=[JSONPipe(3)]),
            CSVSinkJob(path="out.csv", inputs=[JSONPipe(3)]),
        ]
    """)
    run = sim(project.root, "net")
    _finished(run, 60)
    assert read_csv(run.job_dir(4) / "out.csv")[1:] == [[str(6 * i + 2)] for i in range(300)]
    # Each program ran in the job's copy of its DEPENDENCIES folder; its output is relayed
    # with the job's prefix and kept in job.log, like a Python job's print().
    assert "[Triple 2] triple: 300 blocks" in run.stdout, run.output()
    assert "triple: input ended" in (run.job_dir(2) / "job.log").read_text()
    assert "double: 300 blocks" in (run.job_dir(3) / "job.log").read_text()
    assert (run.job_dir(2) / "cprog" / "triple").is_file()
    assert not list((run.job_dir(2) / "fifo").iterdir())  # named pipes removed at the end


@pytest.mark.timeout(60)
def test_a_shell_source_ends_the_network(sim, project):
    _executable_project(project, "count.sh")
    project.network("net", HEAD, """
        JOBS = [
            DynamicExecutableJob(dependencies="scripts", executable="./count.sh", parameters="40",
                                 outputs=[JSONPipe(1)]),
            CSVSinkJob(path="out.csv", inputs=[JSONPipe(1)]),
        ]
    """)
    run = sim(project.root, "net")
    _finished(run)
    assert read_csv(run.job_dir(2) / "out.csv")[1:] == [[str(i)] for i in range(40)]
    assert "count.sh: wrote 40 lines" in run.stdout, run.output()


@pytest.mark.timeout(60)
def test_a_program_exiting_non_zero_fails_the_job(sim, project):
    _executable_project(project, "double.py")
    project.network("net", HEAD, """
        JOBS = [
            IntSource(n=100, outputs=[Int64Pipe(1)]),
            DynamicMARVELOJob(dependencies="scripts", executable="python3 double.py",
                              parameters="--fail-at 7", inputs=[Int64Pipe(1)],
                              outputs=[JSONPipe(2)]),
            CSVSinkJob(path="out.csv", inputs=[JSONPipe(2)]),
        ]
    """)
    run = sim(project.root, "net")
    assert run.wait(40) == 1, run.output()
    wait_until(lambda: not run.members(), 5, "every job process to exit")
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, run.output()
    assert re.search(r"DynamicMARVELOJob 2\b.*'python3 double\.py --fail-at 7.*exited with "
                     r"status 3", errors[0]), errors[0]
    assert "double: giving up at block 7" in (run.job_dir(2) / "job.log").read_text()
    assert read_csv(run.job_dir(3) / "out.csv")[1:] == [[str(2 * i)] for i in range(7)]


@pytest.mark.timeout(60)
def test_a_failing_program_is_restarted_like_any_job(sim, project):
    _executable_project(project, "flaky.py")
    project.network("net", HEAD, """
        from fission.core.jobs import ExecutableJob

        class Flaky(ExecutableJob):
            DEPENDENCIES = "scripts"
            EXECUTABLE = "python3 flaky.py"
            PARAMETERS = "--fail-at 30"
            RESTART = "on-failure"

        JOBS = [
            IntSource(n=100, sleep=0.002, outputs=[Int64Pipe(1)]),
            Flaky(inputs=[Int64Pipe(1)], outputs=[JSONPipe(2)]),
            CSVSinkJob(path="out.csv", inputs=[JSONPipe(2)]),
        ]
    """)
    run = sim(project.root, "net")
    _finished(run)
    restarted = [e for e in read_events(run.folder / "events.jsonl")
                 if e["event"] == "job_restarted"]
    assert [(e["job"], e["attempt"]) for e in restarted] == [(2, 1)], run.output()
    assert "exited with status 3" in restarted[0]["error"], restarted
    log = (run.job_dir(2) / "job.log").read_text()
    assert "flaky: failing at block 30" in log and "flaky: " in log.split("failing")[-1]
    rows = [int(row[0]) for row in read_csv(run.job_dir(3) / "out.csv")[1:]]
    assert rows[:30] == [2 * i for i in range(30)] and rows[-1] == 198, rows


@pytest.mark.timeout(30)
def test_a_missing_executable_is_refused_at_load(sim, project):
    _executable_project(project)
    project.network("net", HEAD, """
        JOBS = [
            IntSource(n=3, outputs=[Int64Pipe(1)]),
            DynamicExecutableJob(dependencies="cprog", executable="./nothing",
                                 inputs=[Int64Pipe(1)]),
        ]
    """)
    run = sim(project.root, "net")
    assert run.wait(20) != 0, run.output()
    assert re.search(r"DynamicExecutableJob 2 \(EXECUTABLE './nothing'\): './nothing' is "
                     r"neither a file in its DEPENDENCIES folder .*cprog", run.stderr), run.output()
    assert not (project.root / "net" / "simulation" / "2").exists()


@pytest.mark.timeout(60)
def test_the_program_dies_with_its_job_process(sim, project):
    _executable_project(project)
    project.network("net", HEAD, """
        JOBS = [
            IntSource(n=1, outputs=[Int64Pipe(1)]),
            DynamicExecutableJob(dependencies="cprog", executable="sh",
                                 parameters=["-c", "echo $$ > program.pid; exec sleep 600"],
                                 inputs=[Int64Pipe(1)]),
        ]
    """)
    run = sim(project.root, "net")
    pid_file = run.job_dir(2) / "cprog" / "program.pid"
    wait_until(lambda: pid_file.is_file() and pid_file.read_text().strip(), 30,
               "job 2 to start its program")
    program = psutil.Process(int(pid_file.read_text()))
    job = program.parent()
    assert job.cwd() == str(run.job_dir(2))
    job.kill()
    wait_until(lambda: not program.is_running() or program.status() == psutil.STATUS_ZOMBIE,
               5, "the program to die with its job process")


@pytest.mark.timeout(60)
def test_a_head_program_reads_and_writes_a_head_byte_per_block(sim, project):
    _executable_project(project, "headflip.py")
    shutil.copy(HERE / "headjobs.py", project.root / "headjobs.py")
    project.network("net", HEAD, """
        from execjobs import MarkedInts
        from headjobs import HeadCSV
        JOBS = [
            MarkedInts(n=25, outputs=[Int64Pipe(1)]),
            DynamicExecutableJob(dependencies="scripts", executable="python3 headflip.py",
                                 head=True, inputs=[Int64Pipe(1)], outputs=[Int64Pipe(2)]),
            HeadCSV(path="out.csv", inputs=[Int64Pipe(2)]),
        ]
    """)
    run = sim(project.root, "net")
    _finished(run)
    assert read_csv(run.job_dir(3) / "out.csv")[1:] == [
        [str(i), str(0b1000_0001 if i % 10 == 0 else 1)] for i in range(25)]


@pytest.mark.timeout(60)
def test_ctrl_c_stops_an_endless_executable_network_and_its_programs(sim, project):
    _executable_project(project)
    project.network("net", HEAD, """
        JOBS = [
            IntSource(None, sleep=0.005, outputs=[Int64Pipe(1)]),
            Triple(inputs=[Int64Pipe(1)], outputs=[Int64Pipe(2)]),
            CSVSinkJob(path="out.csv", inputs=[Int64Pipe(2)]),
        ]
    """)
    run = sim(project.root, "net")
    out = run.job_dir(3) / "out.csv"
    wait_until(lambda: out.is_file() and len(read_csv(out)) > 20, 30, "rows from the program")
    run.interrupt()
    assert run.wait(20) == 0, run.output()
    wait_until(lambda: not run.members(), 5, "every job process and program to exit")
    rows = read_csv(out)[1:]
    assert rows == [[str(3 * i + 1)] for i in range(len(rows))]
    assert "[Triple 2] triple:" in run.stdout, run.output()  # it saw its input end, and said so
