"""Under `run`, job processes yield the CPU to their agent and to the client's scheduler."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
from clusterhelp import csv_rows, job_processes, make_project, running_jobs, wait_until

from fission.backends.processes import JOB_NICENESS

V3 = "demo_network_v3"


@pytest.mark.timeout(90)
def test_job_processes_run_nicer_than_their_agent_and_the_client(cluster, runs,
                                                                 tmp_path: Path) -> None:
    project = make_project(tmp_path, cluster)
    run = runs(project, V3)
    wait_until(lambda: len(csv_rows(run.local / "6" / "join.csv")) >= 2, 30,
               f"two rows\n{run.output}")
    client = psutil.Process(run.popen.pid).nice()
    checked = 0
    for agent in cluster.agents:
        agent_nice = psutil.Process(agent.popen.pid).nice()
        for process in job_processes(agent.home):  # keepers and the jobs they forked
            assert process.nice() == min(19, agent_nice + JOB_NICENESS), process.cmdline()
            checked += 1
    local = running_jobs(run.local)
    assert len(local) == 2  # the two CSVSinkJobs run on the client
    for process in job_processes(run.local):
        assert process.nice() == min(19, client + JOB_NICENESS), process.cmdline()
    assert checked >= 10  # jobs 1-5 on the nodes, each a keeper and its job
    run.interrupt()
    assert run.wait(15) == 0, run.output
