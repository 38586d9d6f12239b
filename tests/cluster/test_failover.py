"""Failover: a node that dies or goes silent loses its jobs to the others; data keeps flowing."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from clusterhelp import (
    check_products,
    csv_rows,
    job_processes,
    make_project,
    network_package,
    running_jobs,
    settings_for,
    wait_until,
)

V3 = "demo_network_v3"


def _fail_over(own_cluster, runs, tmp_path: Path, fault) -> tuple:
    """Run v3, apply ``fault`` to the JoinJob's node, return (run, node, rows at the fault)."""
    project = make_project(tmp_path, own_cluster)
    run = runs(project, V3)
    join_csv = run.local / "6" / "join.csv"
    wait_until(lambda: len(csv_rows(join_csv)) >= 2, 30, "two rows before the fault")
    node = run.placed()[4]
    agent = own_cluster.agent(node)
    before = len(csv_rows(join_csv))
    fault(agent)
    wait_until(lambda: run.events_of("failover_done", job=4), 15,
               f"JoinJob 4 to be replaced\n{run.output}")
    wait_until(lambda: len(csv_rows(join_csv)) >= before + 3, 15,
               f"join.csv to grow after the failover\n{run.output}")
    return run, agent, before


def _check_failover(run, agent, before: int) -> None:
    rows = csv_rows(run.local / "6" / "join.csv")
    check_products(rows)
    # Every source's column keeps going up: sequence alignment went on where it was.
    new_node = run.placed(incarnation=1)[4]
    assert new_node != agent.host
    events = [e["event"] for e in run.events()]
    assert events.index("node_down") < events.index("failover_started") < events.index(
        "failover_done")
    down = run.events_of("node_down")[0]
    assert down["node"] == agent.host
    started = run.events_of("failover_started")[0]
    assert 4 in started["jobs"]
    assert len(rows) >= before + 3


def _no_dummies(run) -> None:
    """Once the run has ended: every job reported its figures, and none had a block
    replaced by a dummy (what a lost node had not passed on was sent again)."""
    assert run.input_totals("dummies") == dict.fromkeys(run.placed(), 0), run.output


@pytest.mark.timeout(90)
def test_sigkill_of_the_join_node(own_cluster, runs, tmp_path: Path) -> None:
    run, agent, before = _fail_over(own_cluster, runs, tmp_path, lambda agent: agent.kill())
    _check_failover(run, agent, before)
    assert run.events_of("node_down")[0]["why"] == "gone"
    # Its job processes died with it (PDEATHSIG), although they run in sessions of their own.
    wait_until(lambda: not job_processes(agent.home), 3, "the dead node's jobs to die")
    run.interrupt()
    assert run.wait(10) == 0, run.output
    _no_dummies(run)
    assert not job_processes(own_cluster.root)


@pytest.mark.timeout(90)
def test_silent_join_node_is_replaced_and_its_old_copies_fenced(own_cluster, runs,
                                                                  tmp_path: Path) -> None:
    frozen_at = []

    def freeze(agent) -> None:
        frozen_at.append(time.time())
        agent.signal_session(signal.SIGSTOP)  # the agent only: its jobs run on, unaware

    run, agent, before = _fail_over(own_cluster, runs, tmp_path, freeze)
    try:
        _check_failover(run, agent, before)
        down = run.events_of("node_down")[0]
        assert down["why"] == "silent"
        assert down["time"] - frozen_at[0] < 4  # NODE_TIMEOUT = 1.5 s, not Dask's minutes
        # The old copies were told to stop; none is left on the frozen node.
        wait_until(lambda: not job_processes(agent.home), 5, "the old copies to stop")
    finally:
        agent.signal_session(signal.SIGCONT)
    # The agent comes back and joins again as a fresh node.
    wait_until(lambda: agent.joins() >= 2, 30, f"the agent to rejoin\n{agent.log}")
    wait_until(lambda: len(run.events_of("node_up", node=agent.host)) >= 2, 10,
               "node_up of the returning node")
    rows = len(csv_rows(run.local / "6" / "join.csv"))
    wait_until(lambda: len(csv_rows(run.local / "6" / "join.csv")) >= rows + 1, 10, "more rows")
    check_products(csv_rows(run.local / "6" / "join.csv"))
    run.interrupt()
    assert run.wait(10) == 0, run.output
    _no_dummies(run)
    assert not job_processes(own_cluster.root)


def _kill_node_3_during(cluster, run, csv: Path, before: int, after: int) -> list[list[str]]:
    """SIGKILL the agent of 127.0.0.3 once ``csv`` has ``before`` rows; once both of its
    jobs are replaced and ``after`` more rows are written, stop the run; return the rows."""
    wait_until(lambda: len(csv_rows(csv)) >= before, 30, f"{before} rows\n{run.output}")
    cluster.agent("127.0.0.3").kill()
    wait_until(lambda: len(run.events_of("failover_done")) >= 2, 15, f"failover\n{run.output}")
    count = len(csv_rows(csv))
    wait_until(lambda: len(csv_rows(csv)) >= count + after, 15, "rows after the failover")
    run.interrupt()
    assert run.wait(10) == 0, run.output
    _no_dummies(run)
    return csv_rows(csv)


@pytest.mark.timeout(90)
def test_a_windowed_consumer_replaced_with_its_producer_gets_whole_windows(
        own_cluster, runs, tmp_path: Path) -> None:
    """Both jobs of a node die; the replacements recompute whole windows, no dummies."""
    project = make_project(tmp_path, own_cluster)
    network_package(project, "windows", settings_for(own_cluster) + '''
from fission.core.jobs import CSVSinkJob
from fission.core.pipes import PicklePipe
from shared.clusterjobs import Counter, Five, Total, Twice


class Source(Counter):
    DEFAULT_NODE = "127.0.0.2"


class Doubler(Twice):
    DEFAULT_NODE = "127.0.0.3"


class Summer(Total):
    DEFAULT_NODE = "127.0.0.3"


JOBS = [
    Source(sleep=0.02, outputs=[PicklePipe(1)]),
    Doubler(inputs=[PicklePipe(1)], outputs=[Five(2)]),
    Summer(inputs=[Five(2)], outputs=[PicklePipe(3)]),
    CSVSinkJob(path="sums.csv", inputs=[PicklePipe(3)]),
]
''')
    run = runs(project, "windows")
    # More blocks than the old fixed replay window (64) must have passed, so that only a
    # replay from the right block gives the new Summer whole windows.
    sums = _kill_node_3_during(own_cluster, run, run.local / "4" / "sums.csv", 25, 5)
    # Window w sums 2 * (5w .. 5w+4) = 50w + 20, before and after the failover alike.
    values = [int(row[0]) for row in sums]
    assert values == [50 * w + 20 for w in range(len(values))], values


@pytest.mark.timeout(90)
def test_a_source_replaced_with_its_consumer_continues_where_they_need_it(
        own_cluster, runs, tmp_path: Path) -> None:
    """A source and the join it feeds share the node that dies; every row stays a + b."""
    project = make_project(tmp_path, own_cluster)
    network_package(project, "joined", settings_for(own_cluster) + '''
from fission.core.jobs import CSVSinkJob
from fission.core.pipes import PicklePipe
from shared.clusterjobs import Add, Counter


class Doomed(Counter):
    DEFAULT_NODE = "127.0.0.3"


class Safe(Counter):
    DEFAULT_NODE = "127.0.0.2"


class Join(Add):
    DEFAULT_NODE = "127.0.0.3"


JOBS = [
    Doomed(sleep=0.02, outputs=[PicklePipe(1), PicklePipe(11)]),
    Safe(sleep=0.02, outputs=[PicklePipe(2), PicklePipe(12)]),
    Join(inputs=[PicklePipe(1), PicklePipe(2)], outputs=[PicklePipe(3)]),
    CSVSinkJob(path="rows.csv", inputs=[PicklePipe(11), PicklePipe(12), PicklePipe(3)]),
]
''')
    run = runs(project, "joined")
    written = _kill_node_3_during(own_cluster, run, run.local / "4" / "rows.csv", 100, 20)
    rows = [[int(value) for value in row] for row in written]
    assert all(a + b == total for a, b, total in rows), rows
    assert [b for _, b, _ in rows] == list(range(len(rows)))  # the safe source: no row lost


@pytest.mark.timeout(90)
def test_a_producer_whose_two_outputs_are_redirected_at_once_keeps_sending(
        own_cluster, runs, tmp_path: Path) -> None:
    """The consumer of both outputs of a source dies: a redirect of one output while the
    source waits to send on the other must not leave it sending on a closed socket."""
    project = make_project(tmp_path, own_cluster)
    network_package(project, "mirrored", settings_for(own_cluster) + '''
from fission.core.jobs import CSVSinkJob
from fission.core.pipes import PicklePipe
from shared.clusterjobs import Mirrored, Pair


class Source(Mirrored):
    DEFAULT_NODE = "127.0.0.2"


class Both(Pair):
    DEFAULT_NODE = "127.0.0.3"


JOBS = [
    Source(sleep=0.05, outputs=[PicklePipe(1), PicklePipe(2)]),
    Both(inputs=[PicklePipe(1), PicklePipe(2)], outputs=[PicklePipe(3), PicklePipe(4)]),
    CSVSinkJob(path="pairs.csv", inputs=[PicklePipe(3), PicklePipe(4)]),
]
''')
    run = runs(project, "mirrored")
    pairs = run.local / "3" / "pairs.csv"
    wait_until(lambda: len(csv_rows(pairs)) >= 10, 30, f"10 rows\n{run.output}")
    own_cluster.agent("127.0.0.3").kill()
    wait_until(lambda: run.events_of("failover_done", job=2), 15, f"failover\n{run.output}")
    count = len(csv_rows(pairs))
    wait_until(lambda: len(csv_rows(pairs)) >= count + 10, 15,
               f"rows after the failover\n{run.output}")
    assert run.popen.poll() is None, run.output  # the source did not fail
    run.interrupt()
    assert run.wait(10) == 0, run.output
    rows = [[int(value) for value in row] for row in csv_rows(pairs)]
    assert all(a == -b for a, b in rows), rows
    assert [a for a, _ in rows] == list(range(len(rows))), rows  # none lost, none repeated
    # The source went on through both redirects, to the end: it reported its figures.
    assert not run.events_of("job_failed") and 1 in run.statistics(), run.output


@pytest.mark.timeout(90)
def test_a_job_process_killed_on_a_healthy_node_is_replaced(own_cluster, runs,
                                                            tmp_path: Path) -> None:
    """What the OOM killer does: SIGKILL of one job process, its agent unharmed."""
    project = make_project(tmp_path, own_cluster)
    network_package(project, "doubled", settings_for(own_cluster) + '''
from fission.core.jobs import CSVSinkJob
from fission.core.pipes import PicklePipe
from shared.clusterjobs import Counter, Twice


class Source(Counter):
    DEFAULT_NODE = "127.0.0.2"


class Doubler(Twice):
    DEFAULT_NODE = "127.0.0.3"


JOBS = [
    Source(sleep=0.02, outputs=[PicklePipe(1)]),
    Doubler(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
    CSVSinkJob(path="doubled.csv", inputs=[PicklePipe(2)]),
]
''')
    run = runs(project, "doubled")
    doubled = run.local / "3" / "doubled.csv"
    wait_until(lambda: len(csv_rows(doubled)) >= 20, 30, f"20 rows\n{run.output}")
    node = own_cluster.agent("127.0.0.3")
    (victim,) = running_jobs(node.folder("doubled"))
    victim.send_signal(signal.SIGKILL)
    wait_until(lambda: run.events_of("failover_done", job=2), 15, f"failover\n{run.output}")
    count = len(csv_rows(doubled))
    wait_until(lambda: len(csv_rows(doubled)) >= count + 20, 15, f"rows after\n{run.output}")
    assert run.popen.poll() is None, run.output
    run.interrupt()
    assert run.wait(10) == 0, run.output
    lost = run.events_of("job_lost", job=2)
    assert len(lost) == 1 and lost[0]["node"] == node.host and lost[0]["status"] == -9, lost
    assert node.alive and not run.events_of("node_down")
    assert "Doubler 2 on 127.0.0.3 was killed by signal 9 (not sent by FISSION" in run.output
    values = [int(row[0]) for row in csv_rows(doubled)]
    assert values == [2 * i for i in range(len(values))], values  # replayed: none lost


def _kill_job(cluster, run, network: str, job_id: int, incarnation: int) -> None:
    """SIGKILL the process of ``job_id``'s copy ``incarnation``, wherever it was placed."""
    node = cluster.agent(run.placed(incarnation)[job_id])
    (victim,) = [p for p in running_jobs(node.folder(network)) if Path(p.cwd()).name == str(
        job_id)]
    victim.send_signal(signal.SIGKILL)


@pytest.mark.timeout(150)
def test_a_node_back_from_the_dead_gets_no_job_until_it_has_been_steady(
        own_cluster, runs, tmp_path: Path) -> None:
    """Hysteresis: the Doubler prefers 127.0.0.3, which froze and came back; a failover
    just after its return places the Doubler elsewhere, one NODE_STEADY later there."""
    project = make_project(tmp_path, own_cluster)
    network_package(project, "steady", settings_for(own_cluster) + '''
NODE_STEADY = 4
from fission.core.jobs import CSVSinkJob
from fission.core.pipes import PicklePipe
from shared.clusterjobs import Counter, Twice


class Source(Counter):
    DEFAULT_NODE = "127.0.0.2"


class Doubler(Twice):
    DEFAULT_NODE = "127.0.0.3"


JOBS = [
    Source(sleep=0.02, outputs=[PicklePipe(1)]),
    Doubler(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
    CSVSinkJob(path="doubled.csv", inputs=[PicklePipe(2)]),
]
''')
    run = runs(project, "steady")
    doubled = run.local / "3" / "doubled.csv"
    wait_until(lambda: len(csv_rows(doubled)) >= 10, 30, f"10 rows\n{run.output}")
    flaky = own_cluster.agent("127.0.0.3")
    assert run.placed()[2] == flaky.host
    flaky.signal_session(signal.SIGSTOP)
    try:
        wait_until(lambda: run.events_of("job_started", job=2, incarnation=1), 15,
                   f"the first failover\n{run.output}")
    finally:
        flaky.signal_session(signal.SIGCONT)
    back = wait_until(lambda: run.events_of("node_up", node=flaky.host)[1:], 40,
                      f"the node to come back\n{run.output}")[0]
    assert back["steady_in"] == 4
    _kill_job(own_cluster, run, "steady", 2, incarnation=1)
    wait_until(lambda: run.events_of("job_started", job=2, incarnation=2), 15,
               f"the second failover\n{run.output}")
    second = run.events_of("placed", job=2, incarnation=2)[0]
    assert second["time"] - back["time"] < 4, "too slow to tell: NODE_STEADY had passed"
    assert second["node"] != flaky.host, "a node just back from the dead got a job"
    time.sleep(max(0.0, back["time"] + 4.5 - time.time()))
    _kill_job(own_cluster, run, "steady", 2, incarnation=2)
    wait_until(lambda: run.placed(3).get(2), 15, f"the third failover\n{run.output}")
    assert run.placed(3)[2] == flaky.host  # steady now: its DEFAULT_NODE again
    count = len(csv_rows(doubled))
    wait_until(lambda: len(csv_rows(doubled)) >= count + 10, 15, f"rows after\n{run.output}")
    run.interrupt()
    assert run.wait(10) == 0, run.output
    assert "is up again; it gets no job until it has been up for NODE_STEADY = 4 s" in run.output
    values = [int(row[0]) for row in csv_rows(doubled)]
    assert values == [2 * i for i in range(len(values))], values

