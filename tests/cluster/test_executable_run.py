"""An executable job under `run`: its folder shipped to a node, failed over when the node dies."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psutil
import pytest
from clusterhelp import (
    csv_rows,
    job_processes,
    make_project,
    network_package,
    settings_for,
    wait_until,
)

E2E = Path(__file__).resolve().parent.parent / "e2e"


@pytest.mark.timeout(120)
def test_a_c_program_on_a_node_that_dies_is_restarted_elsewhere(own_cluster, runs,
                                                                tmp_path: Path) -> None:
    project = make_project(tmp_path, own_cluster)
    shutil.copy(E2E / "execjobs.py", project / "execjobs.py")
    (project / "cprog").mkdir()
    subprocess.run(["cc", "-O2", "-o", str(project / "cprog" / "triple"),
                    str(E2E / "programs" / "triple.c")], check=True, timeout=60)
    network_package(project, "exe", settings_for(own_cluster) + '''
from fission.core.jobs import CSVSinkJob
from execjobs import Int64Pipe, IntSource, Triple


class Source(IntSource):
    DEFAULT_NODE = "127.0.0.2"


class NodeTriple(Triple):
    DEFAULT_NODE = "127.0.0.3"


JOBS = [
    Source(None, sleep=0.02, outputs=[Int64Pipe(1)]),
    NodeTriple(inputs=[Int64Pipe(1)], outputs=[Int64Pipe(2)]),
    CSVSinkJob(path="rows.csv", inputs=[Int64Pipe(2)]),
]
''')
    run = runs(project, "exe")
    rows_csv = run.local / "3" / "rows.csv"
    wait_until(lambda: len(csv_rows(rows_csv)) >= 30, 40, f"30 rows\n{run.output}")
    assert run.placed()[2] == "127.0.0.3"
    shipped = own_cluster.agent("127.0.0.3").folder("exe")
    assert list(shipped.rglob("cprog/triple")), list(shipped.rglob("*"))
    own_cluster.agent("127.0.0.3").kill()
    wait_until(lambda: run.events_of("failover_done", job=2), 20, f"failover\n{run.output}")
    count = len(csv_rows(rows_csv))
    wait_until(lambda: len(csv_rows(rows_csv)) >= count + 20, 20, "rows after the failover")
    new_node = run.placed(incarnation=1)[2]
    assert new_node != "127.0.0.3"
    assert list(own_cluster.agent(new_node).folder("exe").rglob("cprog/triple"))
    run.interrupt()
    assert run.wait(15) == 0, run.output
    values = [int(row[0]) for row in csv_rows(rows_csv)]
    # Every block went through a copy of the C program, none was lost or replaced by a dummy.
    assert values == [3 * i + 1 for i in range(len(values))], values
    assert "replaced by dummies" not in run.output
    wait_until(lambda: not job_processes(own_cluster.root), 5, "no job process left")
    wait_until(lambda: not _programs(own_cluster.root), 5, "no copy of the program left")


def _programs(under: Path) -> list[psutil.Process]:
    """Live copies of the C program working under ``under`` (on any node)."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        try:
            command = process.info["cmdline"] or [""]
            if (process.info["status"] != psutil.STATUS_ZOMBIE
                    and command[0].endswith("cprog/triple")
                    and Path(process.cwd()).is_relative_to(under)):
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found
