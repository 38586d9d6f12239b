"""The tool commands of manage.py: test, graphviz, show, shell and interactive."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest
from simhelp import Project, child_env, read_csv, wait_until

CONFIG = """
    from fission.core.jobs import CSVSinkJob
    from fission.core.pipes import PicklePipe
    from netjobs import Add, CountSource, Double, Window5

    JOBS = [
        CountSource(n=10, outputs=[PicklePipe(11)]),
        CountSource(n=10, outputs=[PicklePipe(12)]),
        Add(inputs=[PicklePipe(11), PicklePipe(12)], outputs=[Window5(13)]),
        Double(inputs=[Window5(13)], outputs=[PicklePipe(14)]),
        CSVSinkJob("out.csv", inputs=[PicklePipe(14)]),
    ]
"""

TESTS = '''
    import pytest

    from fission.core.pipes import PicklePipe
    from netjobs import Add


    def test_config_is_loaded(fission_cfg):
        assert len(fission_cfg.JOBS) == 5


    def test_add_from_the_config(fission_cfg_jobs):
        add = fission_cfg_jobs(2)
        assert add(1, 2) == [3]
        assert add.cwd.name == "3"


    @pytest.fixture
    def fission_test_job():
        return Add(inputs=[PicklePipe(901), PicklePipe(902)], outputs=[PicklePipe(903)])


    def test_own_job(fission_test_emulator):
        assert fission_test_emulator(4, 5) == [9]


    @pytest.mark.slow
    def test_only_with_runslow():
        pass
'''


def _tests_project(project: Project, *extra: str) -> None:
    folder = project.network("tnet", CONFIG)
    (folder / "tests").mkdir()
    (folder / "tests" / "test_net.py").write_text(textwrap.dedent(TESTS) + "".join(extra))


def test_test_runs_the_networks_tests_with_the_fixtures(project, manage):
    _tests_project(project)
    result = manage(project.root, "tnet", "test", "-v", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed, 1 skipped" in result.stdout
    assert (project.root / ".emulate" / "3").is_dir()
    slow = manage(project.root, "tnet", "test", "--runslow", "-k", "slow", timeout=60)
    assert slow.returncode == 0 and "1 passed" in slow.stdout, slow.stdout + slow.stderr


def test_test_exit_status_of_a_failing_test(project, manage):
    _tests_project(project, "\n\ndef test_fails(fission_cfg_jobs):\n"
                            "    assert fission_cfg_jobs(3)([1, 2, 3, 4, 5]) == [0]\n")
    result = manage(project.root, "tnet", "test", timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 3 passed, 1 skipped" in result.stdout


def test_test_without_a_tests_folder_is_one_error(project, manage):
    project.network("tnet", CONFIG)
    result = manage(project.root, "tnet", "test")
    assert result.returncode == 1
    assert result.stderr.startswith("error: network 'tnet' has no tests folder")


NODES = """
    from fission.core.nodes import BaseNode
    NODES = [BaseNode("127.0.0.2"), BaseNode("127.0.0.3", cpus=2)]
"""


def _placed(folder, nodes: dict[int, str]) -> None:
    """NET/local/events.jsonl as a run leaves it: a `placed` event per job."""
    (folder / "local").mkdir()
    lines = [json.dumps({"time": 1.0, "event": "node_up", "node": "127.0.0.2"})]
    lines += [json.dumps({"time": 2.0, "event": "placed", "job": job, "node": node,
                          "incarnation": 0}) for job, node in nodes.items()]
    (folder / "local" / "events.jsonl").write_text("\n".join(lines) + "\n")


def test_graphviz_names_every_job_and_pipe_and_draws_a_png(project, manage):
    folder = project.network("tnet", CONFIG)
    result = manage(project.root, "tnet", "graphviz")
    source = (folder / "network.gv").read_text()
    for label in ("CountSource 1", "CountSource 2", "Add 3", "Double 4", "CSVSinkJob 5"):
        assert f'label="{label}"' in source, source
    for pipe_id in (11, 12, 13, 14):
        assert f"label={pipe_id} " in source, source
    assert "job1 -> job3" in source and "job4 -> job5" in source
    if shutil.which("dot") is None:  # CI installs Graphviz (.ci/run); this says what is missing
        pytest.fail(f"Graphviz's dot is not installed here: {result.stderr}")
    assert result.returncode == 0, result.stderr
    assert (folder / "network.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = manage(project.root, "tnet", "graphviz", "--format", "svg")
    assert svg.returncode == 0 and "<svg" in (folder / "network.svg").read_text()


def test_graphviz_groups_jobs_by_the_node_of_the_last_run(project, manage):
    folder = project.network("tnet", NODES, CONFIG)
    _placed(folder, {1: "127.0.0.2", 2: "127.0.0.3", 3: "127.0.0.2", 4: "127.0.0.3",
                     5: "127.0.0.1"})
    manage(project.root, "tnet", "graphviz")
    source = (folder / "network.gv").read_text()
    cluster = source[source.index("subgraph \"cluster_127.0.0.3\""):]
    cluster = cluster[:cluster.index("}")]
    assert 'label="node 127.0.0.3"' in cluster
    assert "job2 " in cluster and "job4 " in cluster and "job1 " not in cluster


def test_graphviz_without_dot_still_writes_the_source(project, manage, monkeypatch):
    folder = project.network("tnet", CONFIG)
    monkeypatch.setenv("PATH", "/nonexistent")
    result = manage(project.root, "tnet", "graphviz")
    assert result.returncode == 1
    assert "wrote tnet/network.gv, but no picture" in result.stderr
    assert "sudo apt install graphviz" in result.stderr
    assert "CountSource 1" in (folder / "network.gv").read_text()


def test_show_prints_jobs_pipes_nodes_and_placement(project, manage):
    folder = project.network("tnet", NODES, CONFIG)
    _placed(folder, {3: "127.0.0.3"})
    result = manage(project.root, "tnet", "show")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for text in ("5 jobs", "CountSource", "CSVSinkJob", "4 pipes", "Window5", "127.0.0.2",
                 "2 nodes"):
        assert text in out, out
    add_row = next(line for line in out.splitlines() if "│ Add" in line)
    assert "11, 12" in add_row and "127.0.0.3" in add_row


def test_shell_has_the_config_loaded(project):
    project.network("tnet", CONFIG)
    script = "print(len(JOBS), sorted(PIPES), network.job(3).name)\nprint(emulate(JOBS[2])(4, 5))\n"
    result = subprocess.run([sys.executable, "manage.py", "tnet", "shell", "--plain"],
                            cwd=project.root, env=child_env(), input=script,
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert "5 [11, 12, 13, 14] Add 3" in result.stdout
    assert "[9]" in result.stdout


INTERACTIVE = """
    from fission.core.jobs import CSVSinkJob, InteractiveJob
    from fission.core.pipes import PicklePipe

    JOBS = [
        InteractiveJob(outputs=[PicklePipe(1)]),
        CSVSinkJob("typed.csv", inputs=[PicklePipe(1)]),
    ]
"""


@pytest.mark.timeout(60)
def test_interactive_types_to_a_running_network(project, sim, manage):
    project.network("inet", INTERACTIVE)
    idle = manage(project.root, "inet", "interactive")
    assert idle.returncode == 1 and "is not running" in idle.stderr
    run = sim(project.root, "inet")
    csv = run.job_dir(2) / "typed.csv"
    wait_until(csv.exists, 20, "the CSV sink to start")

    def interactive(text: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "manage.py", "inet", "interactive"],
                              cwd=project.root, env=child_env(), input=text,
                              capture_output=True, text=True, timeout=30, check=False)

    typed = interactive("hello\n@1 to job one\n")
    assert typed.returncode == 0, typed.stdout + typed.stderr
    assert "typing to InteractiveJob 1" in typed.stdout
    wait_until(lambda: len(read_csv(csv)) == 3, 10, "two typed rows")
    assert read_csv(csv)[1:] == [["hello"], ["to job one"]]
    wrong = interactive("@2 nope\n")
    assert wrong.returncode == 1 and "not an InteractiveJob" in wrong.stderr
    run.interrupt()
    assert run.wait(20) == 0, run.output()
