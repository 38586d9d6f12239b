"""Every way a `simulate` ends, and what it leaves behind: nothing.

The processes a job starts itself (a Popen child, a shell pipeline, an os.fork copy, a
double-forked daemon in a session of its own) end with the job however it ends; SIGTERM
and SIGHUP to `simulate` stop it as Ctrl+C does: teardowns, summary, no temporary files.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from childprocess import assert_all_gone, spawned_by, wait_until
from simhelp import read_csv

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


def _socket_folder(project) -> Path:
    """The private folder of the simulation's ipc sockets, from its run.json."""
    record = json.loads((project.root / "net" / ".fission" / "run.json").read_text())
    return Path(record["send"].removeprefix("ipc://")).parent


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ending", ["finished", "failed", "interrupted", "job killed"])
def test_processes_a_job_starts_end_with_it(sim, project, strays, ending):
    _network(project, source="n=30, sleep=0.05" if ending == "finished" else "sleep=0.02",
             spawner="fail_at=25, " if ending == "failed" else "")
    run = sim(project.root, "net")
    job, spawned = spawned_by(run.job_dir(2), strays)
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
    assert_all_gone(spawned, run.output())


@pytest.mark.timeout(60)
def test_processes_a_job_starts_end_with_a_killed_backend(sim, project, strays):
    _network(project)
    run = sim(project.root, "net")
    _, spawned = spawned_by(run.job_dir(2), strays)
    run.popen.kill()  # SIGKILL to simulate alone: none of its code runs
    run.popen.wait(5)
    assert_all_gone(spawned, run.output())


@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_simulate_as_ctrl_c_does(sim, project, strays, signum):
    _network(project)
    run = sim(project.root, "net")
    _, spawned = spawned_by(run.job_dir(2), strays)
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
    assert_all_gone(spawned, run.output())


@pytest.mark.timeout(60)
def test_sigterm_to_the_whole_group_lets_a_slow_teardown_finish(sim, project, strays):
    """`timeout` signals the whole group: each job gets SIGTERM from it, from its keeper and
    from the backend, while its teardown runs; only the first may count."""
    _network(project, spawner="slow_teardown=1.5, ")
    run = sim(project.root, "net")
    _, spawned = spawned_by(run.job_dir(2), strays)
    os.killpg(run.pgid, signal.SIGTERM)
    assert run.wait(20) == 0, run.output()
    assert (run.job_dir(2) / "teardown").exists(), run.output()
    assert_all_gone(spawned, run.output())


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


@pytest.mark.timeout(60)
def test_sighup_stays_ignored_under_nohup(sim, project):
    _network(project)
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # what nohup does; inherited
    try:
        run = sim(project.root, "net")
    finally:
        signal.signal(signal.SIGHUP, previous)
    out = run.job_dir(3) / "out.csv"
    wait_until(lambda: out.exists() and len(read_csv(out)) > 3, 15, "the first rows")
    run.popen.send_signal(signal.SIGHUP)
    time.sleep(1)
    assert run.popen.poll() is None, run.output()
    rows = len(read_csv(out))
    wait_until(lambda: len(read_csv(out)) > rows, 5, "more rows after the SIGHUP")
    run.popen.send_signal(signal.SIGTERM)
    assert run.wait(20) == 0, run.output()
