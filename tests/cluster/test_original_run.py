"""Settings of the original FISSION under a real `run`: NODES from a CSV file, and a module of
the project in DEPENDENCIES, shipped to the node that runs the job."""

from __future__ import annotations

from pathlib import Path

import pytest
from clusterhelp import csv_rows, make_project, network_package, settings_for

JOBS_MODULE = '''
from shared.clusterjobs import Twice
import helpers.factor as factor


class MicOnly(Twice):
    GROUPS = "HAS_MIC"


class Scaled(Twice):
    DEPENDENCIES = [factor]

    def run(self, x):
        import helpers.factor
        return x * helpers.factor.FACTOR
'''

CONFIG = '''
from fission.core.jobs import CSVSinkJob
from fission.core.pipes import PicklePipe
from shared.clusterjobs import Counter
from {net}.jobs import MicOnly, Scaled
DEBUG_WINDOW = False
PULSE_INTERVAL = 0.5
'''


@pytest.mark.timeout(90)
def test_csv_nodes_and_a_module_dependency_under_run(cluster, runs, tmp_path: Path) -> None:
    project = make_project(tmp_path, cluster)
    (project / "helpers").mkdir()
    (project / "helpers" / "__init__.py").write_text("")
    (project / "helpers" / "factor.py").write_text("FACTOR = 5\n")
    (project / "nodes.csv").write_text(
        "name, ip, groups\nmic, 127.0.0.2, HAS_MIC\nothers, 127.0.0.[34]\n")
    header = CONFIG.format(net="orig") + settings_for(cluster)
    folder = network_package(project, "orig", header + '''
NODES = "nodes.csv"
JOBS = [
    Counter(n=10, outputs=[PicklePipe(1)]),
    MicOnly(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
    Scaled(inputs=[PicklePipe(2)], outputs=[PicklePipe(3)]),
    CSVSinkJob(path="out.csv", inputs=[PicklePipe(3)]),
]
''')
    (folder / "jobs.py").write_text(JOBS_MODULE)
    run = runs(project, "orig")
    assert run.wait(60) == 0, run.output
    assert csv_rows(run.local / "4" / "out.csv") == [[str(10 * n)] for n in range(10)]
    placed = run.placed()
    assert placed[2] == "127.0.0.2"  # the only node of group HAS_MIC, by the CSV file
    node = cluster.agent(placed[3])
    # The module named in DEPENDENCIES travelled with the code to the node of job 3.
    assert (node.folder("orig") / "code" / "helpers" / "factor.py").is_file()
    assert run.output.count("PULSE_INTERVAL = 0.5") == 1, run.output
