"""What `run` tells of a job that fails on a node: the same answers as `simulate` gives."""

from __future__ import annotations

from pathlib import Path

import pytest
from clusterhelp import job_processes, make_project, network_package, settings_for

HEAD = '''
from fission.core.jobs import CSVSinkJob, PythonJob
from fission.core.pipes import PicklePipe
'''


@pytest.mark.timeout(90)
def test_a_failure_on_a_node_is_reported_first_and_its_output_shown_harmlessly(
        cluster, runs, tmp_path: Path) -> None:
    project = make_project(tmp_path, cluster)
    network_package(project, "reports", settings_for(cluster) + "DEBUG_WINDOW = True\n" + HEAD + '''

class Broken(PythonJob):
    DEFAULT_NODE = "127.0.0.2"

    def run(self):
        print("retitle\\x1b]0;pwned\\x07 done")
        raise RuntimeError("the real cause")

    def teardown(self):
        raise ValueError("teardown trouble")


JOBS = [Broken(outputs=[PicklePipe(1)]), CSVSinkJob(path="out.csv", inputs=[PicklePipe(1)])]
''')
    run = runs(project, "reports")
    assert run.wait(60) == 1, run.output
    error = run.output.split("error:")[-1]
    assert "Broken 1 failed on 127.0.0.2" in error, run.output
    assert error.index("RuntimeError: the real cause") < error.index(
        "then teardown() raised too: ValueError: teardown trouble"), run.output
    assert "[Broken 1 @127.0.0.2] retitle\\x1b]0;pwned\\x07 done" in run.output, run.output
    assert "\x1b" not in run.output and "\x07" not in run.output
    assert not job_processes(cluster.root)


@pytest.mark.timeout(90)
def test_max_memory_holds_on_a_node(cluster, runs, tmp_path: Path) -> None:
    project = make_project(tmp_path, cluster)
    network_package(project, "hog", settings_for(cluster) + HEAD + '''

class Hog(PythonJob):
    DEFAULT_NODE = "127.0.0.3"
    MAX_MEMORY = "64M"

    def run(self):
        hoard = [bytearray(1 << 20) for _ in range(400)]  # bounded, in case the limit fails
        return len(hoard)


JOBS = [Hog(outputs=[PicklePipe(1)]), CSVSinkJob(path="out.csv", inputs=[PicklePipe(1)])]
''')
    run = runs(project, "hog")
    assert run.wait(60) == 1, run.output
    error = run.output.split("error:")[-1]
    assert "Hog 1 failed on 127.0.0.3" in error and "MemoryLimitError" in error, run.output
    assert "MAX_MEMORY = '64M'" in error, run.output
    assert not job_processes(cluster.root)
