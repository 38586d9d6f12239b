"""Every way a `run` or a node agent stops, and what it leaves behind on the nodes: nothing.

A job on a node starts processes of its own (the e2e tests' ``Spawner``: a Popen child,
a shell pipeline, an os.fork copy, a double-forked daemon); they end with the job when
its agent is killed or the job itself is. SIGTERM and SIGHUP to `run` or to `fission node`
stop as Ctrl+C does: the jobs tear down, the summary prints, temporary files go.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import psutil
import pytest
from childprocess import REPO, assert_all_gone, spawned_by
from clusterhelp import (
    csv_rows,
    job_processes,
    make_project,
    network_package,
    settings_for,
    wait_until,
)

E2E = REPO / "tests" / "e2e"

NETWORK = "spawning"
SPAWNER_NODE = "127.0.0.2"


def _spawning_project(tmp_path: Path, cluster) -> Path:
    """A project whose Spawner (job 2) runs on 127.0.0.2, between a source and a local sink."""
    project = make_project(tmp_path, cluster)
    shutil.copy(E2E / "netjobs.py", project / "shared" / "netjobs.py")
    network_package(project, NETWORK, settings_for(cluster) + f'''
DEBUG_WINDOW = True  # the node forwards what the jobs print: a pipe their processes hold too
from fission.core.jobs import CSVSinkJob
from fission.core.pipes import PicklePipe
from shared.netjobs import CountSource, Spawner


class Source(CountSource):
    DEFAULT_NODE = "127.0.0.3"


class Spawns(Spawner):
    DEFAULT_NODE = "{SPAWNER_NODE}"


JOBS = [
    Source(sleep=0.02, outputs=[PicklePipe(1)]),
    Spawns(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
    CSVSinkJob(path="out.csv", inputs=[PicklePipe(2)]),
]
''')
    return project


def _start(runs, project: Path, cluster, strays):
    agent = cluster.agent(SPAWNER_NODE)
    for left in ("pids", "teardown"):  # the node's folder outlives runs of a shared cluster
        (agent.folder(NETWORK) / "2" / left).unlink(missing_ok=True)
    run = runs(project, NETWORK)
    job, spawned = spawned_by(agent.folder(NETWORK) / "2", strays)
    wait_until(lambda: len(csv_rows(run.local / "3" / "out.csv")) > 3, 30, "the first rows")
    return run, agent, job, spawned


@pytest.mark.timeout(120)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_run_as_ctrl_c_does(cluster, runs, strays, tmp_path, signum):
    project = _spawning_project(tmp_path, cluster)
    run, agent, _, spawned = _start(runs, project, cluster, strays)
    record = project / NETWORK / ".fission" / "run.json"
    sockets = Path(json.loads(record.read_text())["send"].removeprefix("ipc://")).parent
    assert sockets.is_dir()
    run.popen.send_signal(signum)  # to the client alone, as `kill` and `timeout` send it
    assert run.wait(30) == 0, run.output
    assert f"{NETWORK} interrupted by {signal.Signals(signum).name}" in run.output, run.output
    assert (agent.folder(NETWORK) / "2" / "teardown").exists(), run.output
    assert not sockets.exists(), "the socket folder was left behind"
    assert not record.exists()
    assert_all_gone(spawned, run.output)
    wait_until(lambda: not job_processes(cluster.root) and not job_processes(project), 5,
               "every job process to exit")
    assert all(a.alive for a in cluster.agents)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_agent_stops_on_a_signal_with_its_jobs_and_their_processes(own_cluster, runs, strays,
                                                                  tmp_path, signum):
    project = _spawning_project(tmp_path, own_cluster)
    run, agent, _, spawned = _start(runs, project, own_cluster, strays)
    agent.popen.send_signal(signum)
    assert agent.popen.wait(15) == 0, agent.log
    assert f"fission node {SPAWNER_NODE}: stopped" in agent.log, agent.log
    assert (agent.folder(NETWORK) / "2" / "teardown").exists(), agent.log
    assert_all_gone(spawned, agent.log)
    wait_until(lambda: not job_processes(agent.home), 5, "the agent's jobs to stop")
    run.interrupt()
    run.wait(20)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("ending", ["agent killed", "job killed", "keeper killed"])
def test_processes_a_job_starts_on_a_node_end_with_it(own_cluster, runs, strays, tmp_path,
                                                      ending):
    project = _spawning_project(tmp_path, own_cluster)
    run, agent, job, spawned = _start(runs, project, own_cluster, strays)
    if ending == "agent killed":
        agent.kill()  # SIGKILL to the agent alone: none of its code runs
    elif ending == "job killed":
        os.kill(job, signal.SIGKILL)  # the run replaces it; what it started must not stay
    else:
        # SIGKILL to the job's keeper: the job dies with it, and the agent kills the keeper's
        # session; only the daemon, which left that session, is beyond reach (strays kills it).
        os.kill(psutil.Process(job).ppid(), signal.SIGKILL)
        daemon = spawned.pop(3)
        assert daemon.cmdline() == ["sleep", "1002"]
    assert_all_gone(spawned, run.output)
    if ending == "agent killed":
        wait_until(lambda: not job_processes(agent.home), 5, "the node's jobs to stop")
    run.interrupt()
    run.wait(20)
