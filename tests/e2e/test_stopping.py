"""Every way a `simulate` ends, and what it leaves behind: nothing.

The processes a job starts itself (a Popen child, a shell pipeline, an os.fork copy, a
double-forked daemon in a session of its own) end with the job however it ends; SIGTERM
and SIGHUP to `simulate` stop it as Ctrl+C does: teardowns, summary, no temporary files.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest
from simhelp import read_csv, wait_until

FOREVER = """
    from fission.core.pipes import PicklePipe
    from fission.core.jobs import CSVSinkJob
    from netjobs import CountSource, Spawner
    JOBS = [
        CountSource({source}, outputs=[PicklePipe(1)]),
        Spawner({spawner}inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
        CSVSinkJob(path="out.csv", inputs=[PicklePipe(2)]),
    ]
"""


def _network(project, source: str = "sleep=0.02", spawner: str = "") -> None:
    project.network("net", FOREVER.format(source=source, spawner=spawner))


@pytest.fixture
def started() -> list[psutil.Process]:
    """The processes a test's spawner started: killed at teardown if a test left any."""
    processes: list[psutil.Process] = []
    yield processes
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.kill()


def _spawned(run, started: list[psutil.Process]) -> tuple[int, list[psutil.Process]]:
    """The spawner's own pid, and every process it started (once all are up)."""
    pids_file = run.job_dir(2) / "pids"
    wait_until(lambda: pids_file.exists() and pids_file.read_text().endswith("\n"), 20,
               "the spawner's pids file")
    job, *pids = map(int, pids_file.read_text().split())
    spawned = [psutil.Process(pid) for pid in pids]
    started += spawned
    shell = spawned[1]
    pipeline = wait_until(lambda: len(shell.children()) == 2 and shell.children(), 5,
                          "both commands of the shell pipeline")
    started += pipeline
    return job, spawned + pipeline


def _assert_all_gone(processes: list[psutil.Process], run) -> None:
    gone, alive = psutil.wait_procs(processes, timeout=5)
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"processes the job started outlived it: {alive}\n{run.output()}"


def _socket_folder(project) -> Path:
    """The private folder of the simulation's ipc sockets, from its run.json."""
    record = json.loads((project.root / "net" / ".fission" / "run.json").read_text())
    return Path(record["send"].removeprefix("ipc://")).parent


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ending", ["finished", "failed", "interrupted", "job killed"])
def test_processes_a_job_starts_end_with_it(sim, project, started, ending):
    _network(project, source="n=30, sleep=0.05" if ending == "finished" else "sleep=0.02",
             spawner="fail_at=25, " if ending == "failed" else "")
    run = sim(project.root, "net")
    job, spawned = _spawned(run, started)
    assert len(spawned) == 6
    if ending == "interrupted":
        run.interrupt()
    elif ending == "job killed":
        os.kill(job, signal.SIGKILL)
    code = run.wait(30)
    assert code == (1 if ending in ("failed", "job killed") else 0), run.output()
    if ending == "job killed":
        assert "Spawner 2 was killed by signal 9" in run.stderr, run.output()
    else:
        assert (run.job_dir(2) / "teardown").exists(), run.output()
    _assert_all_gone(spawned, run)


@pytest.mark.timeout(60)
def test_processes_a_job_starts_end_with_a_killed_backend(sim, project, started):
    _network(project)
    run = sim(project.root, "net")
    _, spawned = _spawned(run, started)
    run.popen.kill()  # SIGKILL to simulate alone: none of its code runs
    run.popen.wait(5)
    _assert_all_gone(spawned, run)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_simulate_as_ctrl_c_does(sim, project, started, signum):
    _network(project)
    run = sim(project.root, "net")
    _, spawned = _spawned(run, started)
    out = run.job_dir(3) / "out.csv"
    wait_until(lambda: out.exists() and len(read_csv(out)) > 3, 15, "the first rows")
    sockets = _socket_folder(project)
    assert sockets.is_dir()
    run.popen.send_signal(signum)  # to simulate alone, as `kill` and `timeout` send it
    assert run.wait(20) == 0, run.output()
    name = signal.Signals(signum).name
    assert f"FISSION: stopped net (interrupted by {name})" in run.stderr, run.output()
    assert (run.job_dir(2) / "teardown").exists(), run.output()
    rows = read_csv(out)[1:]  # under the header
    assert [int(row[0]) for row in rows] == list(range(len(rows))), "rows lost at the stop"
    assert not sockets.exists(), "the socket folder was left behind"
    assert not (project.root / "net" / ".fission" / "run.json").exists()
    wait_until(lambda: not run.members(), 5, "every job process to exit")
    _assert_all_gone(spawned, run)


@pytest.mark.timeout(60)
def test_sigterm_to_the_whole_group_lets_a_slow_teardown_finish(sim, project, started):
    """`timeout` signals the whole group: each job gets SIGTERM from it, from its keeper and
    from the backend, while its teardown runs; only the first may count."""
    _network(project, spawner="slow_teardown=1.5, ")
    run = sim(project.root, "net")
    _, spawned = _spawned(run, started)
    os.killpg(run.pgid, signal.SIGTERM)
    assert run.wait(20) == 0, run.output()
    assert (run.job_dir(2) / "teardown").exists(), run.output()
    _assert_all_gone(spawned, run)


@pytest.mark.timeout(60)
def test_sigterm_while_simulate_starts_still_cleans_up(sim, project):
    """A signal before the supervisor has its handler unwinds as Ctrl+C would."""
    project.network("net", """
        from fission.core.pipes import PicklePipe
        from fission.core.jobs import CSVSinkJob
        from netjobs import CountSource
        import time
        time.sleep(4)  # config.py loads slowly: the signal comes while it does
        JOBS = [CountSource(outputs=[PicklePipe(1)]),
                CSVSinkJob(path="out.csv", inputs=[PicklePipe(1)])]
    """)
    run = sim(project.root, "net")
    time.sleep(1.5)
    run.popen.send_signal(signal.SIGTERM)
    assert run.wait(20) == 130, run.output()  # as Ctrl+C before any job has started
    assert "Traceback" not in run.stderr, run.output()
    assert not (project.root / "net" / ".fission" / "run.json").exists()
