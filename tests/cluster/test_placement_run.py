"""Placement rules under a real `run`: DEFAULT_NODE, GROUPS, preference, MultiNode, capacity."""

from __future__ import annotations

from pathlib import Path

import pytest
from clusterhelp import (
    Cluster,
    csv_rows,
    job_processes,
    make_project,
    network_package,
    settings_for,
    wait_until,
)

JOBS_MODULE = '''
from fission.core.nodes import BaseNode
from shared.clusterjobs import Counter, Twice


class Pinned(Counter):
    DEFAULT_NODE = "127.0.0.3"


class Picky(Twice):
    def preference(self, nodes):
        return max(nodes, key=lambda info: info.ip)


class Indifferent(Twice):
    def preference(self, nodes):
        return None


class MicJob(Twice):
    GROUPS = ["HAS_MIC", "ALL"]


class OnlyThere(Twice):
    DEFAULT_NODE = "127.0.0.9"
    GROUPS = []


class MicNode(BaseNode):
    GROUPS = ["HAS_MIC", "ALL"]
'''

HEADER = '''
from fission.core.jobs import CSVSinkJob
from fission.core.nodes import BaseNode, MultiNode
from fission.core.pipes import PicklePipe
from {net}.jobs import Pinned, Picky, Indifferent, MicJob, OnlyThere, MicNode
from shared.clusterjobs import Counter, Twice
DEBUG_WINDOW = False
'''


def _network(project: Path, name: str, cluster: Cluster, body: str) -> None:
    """A network package with JOBS_MODULE as its jobs.py, run by ``cluster``'s nodes
    unless ``body`` sets NODES itself."""
    config = HEADER.format(net=name) + settings_for(cluster) + body
    folder = network_package(project, name, config)
    (folder / "jobs.py").write_text(JOBS_MODULE)


@pytest.fixture
def project(cluster, tmp_path: Path) -> Path:
    return make_project(tmp_path, cluster)


@pytest.mark.timeout(60)
def test_default_node_groups_preference_and_multinode(cluster, runs, project: Path) -> None:
    _network(project, "placing", cluster, '''
NODES = [MicNode("127.0.0.2"), MultiNode("127.0.0.*")]
JOBS = [
    Pinned(n=20, sleep=0.01, outputs=[PicklePipe(1)]),
    Picky(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
    MicJob(inputs=[PicklePipe(2)], outputs=[PicklePipe(3)]),
    Indifferent(inputs=[PicklePipe(3)], outputs=[PicklePipe(4)]),
    CSVSinkJob(path="out.csv", inputs=[PicklePipe(4)]),
]
''')
    run = runs(project, "placing")
    assert run.wait(40) == 0, run.output  # a finite source: the network winds down by itself
    placed = run.placed()
    assert placed[1] == "127.0.0.3"  # DEFAULT_NODE
    assert placed[2] == "127.0.0.4"  # its preference: the highest address, via the MultiNode
    assert placed[3] == "127.0.0.2"  # HAS_MIC before ALL
    assert placed[4] in {"127.0.0.2", "127.0.0.3", "127.0.0.4"}  # None: the score decides
    assert placed[5] == "127.0.0.1"
    assert csv_rows(run.local / "5" / "out.csv") == [[str(8 * n)] for n in range(20)]
    assert {e["job"] for e in run.events_of("job_finished")} == {1, 2, 3, 4, 5}


@pytest.mark.timeout(60)
def test_allocation_error_at_start_names_the_job(cluster, runs, project: Path) -> None:
    _network(project, "nowhere", cluster, '''
NODES = [BaseNode("127.0.0.2"), BaseNode("127.0.0.3")]
JOBS = [
    Counter(outputs=[PicklePipe(1)]),
    OnlyThere(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
    CSVSinkJob(path="out.csv", inputs=[PicklePipe(2)]),
]
''')
    run = runs(project, "nowhere")
    assert run.wait(30) == 1, run.output
    error = run.output.split("error:")[-1]
    assert error.startswith(" AllocationError: "), error  # the name the tutorial teaches
    assert "OnlyThere 2" in error and "127.0.0.9" in error
    assert "Traceback" not in run.output
    assert run.events_of("allocation_error")
    assert not run.events_of("placed")
    assert not job_processes(cluster.root)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("pre_copy", [True, False])
def test_code_reaches_every_node_only_with_pre_copy(cluster, runs, project: Path,
                                                    pre_copy: bool) -> None:
    name = f"copying_{str(pre_copy).lower()}"
    _network(project, name, cluster, f'''
PRE_COPY = {pre_copy}
JOBS = [
    Pinned(n=5, outputs=[PicklePipe(1)]),
    CSVSinkJob(path="out.csv", inputs=[PicklePipe(1)]),
]
''')
    run = runs(project, name)
    assert run.wait(30) == 0, run.output
    assert csv_rows(run.local / "2" / "out.csv") == [[str(n)] for n in range(5)]
    for agent in cluster.agents:
        has_code = (agent.folder(name) / "code" / name / "jobs.py").exists()
        assert has_code == (pre_copy or agent.host == "127.0.0.3"), agent.host


@pytest.mark.timeout(90)
def test_allocation_error_during_failover_stops_cleanly(own_cluster, runs, tmp_path: Path) -> None:
    project = make_project(tmp_path, own_cluster)
    _network(project, "full", own_cluster, '''
NODES = [BaseNode("127.0.0.2", cpus=1), BaseNode("127.0.0.3", cpus=1),
         BaseNode("127.0.0.4", cpus=1)]
JOBS = [
    Counter(sleep=0.05, outputs=[PicklePipe(1)]),
    Twice(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
    Twice(inputs=[PicklePipe(2)], outputs=[PicklePipe(3)]),
    CSVSinkJob(path="out.csv", inputs=[PicklePipe(3)]),
]
''')
    run = runs(project, "full")
    wait_until(lambda: len(csv_rows(run.local / "4" / "out.csv")) >= 3, 30, "rows")
    own_cluster.agent(run.placed()[2]).kill()
    assert run.wait(15) == 1, run.output
    error = run.output.split("error:")[-1]
    assert "failover" in error and "AllocationError: Twice 2 cannot be placed" in error
    assert run.events_of("allocation_error")
    rows = csv_rows(run.local / "4" / "out.csv")
    assert rows and rows == [[str(4 * n)] for n in range(len(rows))]  # nothing written is lost
    assert not job_processes(own_cluster.root)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", ["run", "simulate"])
def test_dependencies_land_next_to_the_job(cluster, runs, project: Path, manage,
                                           command: str) -> None:
    (project / "data").mkdir()
    (project / "data" / "table.txt").write_text("alpha beta gamma\n")
    _network(project, "tables", cluster, '''
from shared.clusterjobs import ReadsTable
JOBS = [
    Counter(n=4, outputs=[PicklePipe(1)]),
    ReadsTable(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
    CSVSinkJob(path="out.csv", inputs=[PicklePipe(2)]),
]
''')
    if command == "run":
        run = runs(project, "tables")
        assert run.wait(30) == 0, run.output
        out = run.local / "3" / "out.csv"
        node = cluster.agent(run.placed()[2])
        assert (node.folder("tables") / "2" / "table.txt").read_text() == "alpha beta gamma\n"
    else:
        result = manage(project, "tables", "simulate", timeout=30)
        assert result.returncode == 0, result.stderr
        out = project / "tables" / "simulation" / "3" / "out.csv"
    assert csv_rows(out) == [["alpha"], ["beta"], ["gamma"], ["alpha"]]


@pytest.mark.timeout(30)
def test_a_missing_dependency_is_a_config_error(cluster, project: Path, manage) -> None:
    _network(project, "lacking", cluster, '''
from shared.clusterjobs import ReadsTable
JOBS = [
    Counter(n=4, outputs=[PicklePipe(1)]),
    ReadsTable(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
    CSVSinkJob(path="out.csv", inputs=[PicklePipe(2)]),
]
''')
    for command in ("simulate", "run"):
        result = manage(project, "lacking", command, timeout=20)
        assert result.returncode == 1
        assert "ReadsTable 2: DEPENDENCIES names 'data/table.txt'" in result.stderr
        assert "Traceback" not in result.stderr
