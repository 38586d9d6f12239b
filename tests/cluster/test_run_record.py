"""`run --record`: the client writes every recorded pipe, whichever node its producer is on.

A producer on a node streams its recorded frames to the client, which writes
``NET/recordings/pipe-N.rec``; when the node dies and the producer is replaced on
another, the recording goes on in the same file, each block once and in order.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from clusterhelp import csv_rows, make_project, network_package, settings_for, wait_until

from fission.wire.recording import read_recording

BLOCKS = 300

NETWORK = '''
from fission.core.jobs import CSVSinkJob, PythonJob
from fission.core.pipes import PicklePipe
from shared.clusterjobs import Counter


class Source(Counter):
    GROUPS = ["LOCAL"]


class Doubled(PythonJob):
    DEFAULT_NODE = "127.0.0.2"

    def run(self, value):
        return 2 * value


JOBS = [
    Source(n=BLOCKS, sleep=0.02, outputs=[PicklePipe(1)]),
    Doubled(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
    CSVSinkJob(path="doubled.csv", inputs=[PicklePipe(2)]),
]
'''

REPLAY = '''
from fission.core.jobs import CSVSinkJob, ReplayJob
from fission.core.pipes import PicklePipe

JOBS = [
    ReplayJob(path="net/recordings/pipe-2.rec", speed=None, outputs=[PicklePipe(5)]),
    CSVSinkJob(path="replayed.csv", inputs=[PicklePipe(5)]),
]
'''


def _values(path: Path) -> tuple[list[int], list[int]]:
    """The sequence numbers of a recording, and its blocks' values."""
    records = list(read_recording(path))
    return [seq for _, seq, _ in records], [pickle.loads(payload) for _, _, payload in records]


@pytest.mark.timeout(120)
def test_a_recording_survives_the_death_of_its_producers_node(own_cluster, runs, manage,
                                                              tmp_path: Path) -> None:
    project = make_project(tmp_path, own_cluster)
    network_package(project, "net", settings_for(own_cluster)
                    + NETWORK.replace("BLOCKS", str(BLOCKS)))
    run = runs(project, "net", "--record", "1,2")
    doubled = run.local / "3" / "doubled.csv"
    recording = project / "net" / "recordings" / "pipe-2.rec"
    wait_until(lambda: len(csv_rows(doubled)) >= BLOCKS // 3, 40, f"a third\n{run.output}")
    assert run.placed()[2] == "127.0.0.2"
    # The client has the node's frames so far, flushed as they came.
    wait_until(lambda: len(_values(recording)[0]) >= BLOCKS // 3, 10, "a third recorded")
    own_cluster.agent("127.0.0.2").kill()
    wait_until(lambda: run.events_of("failover_done", job=2), 20, f"failover\n{run.output}")
    assert run.wait(60) == 0, run.output
    assert run.placed(incarnation=1)[2] not in ("127.0.0.2", "127.0.0.1")

    rows = [int(row[0]) for row in csv_rows(doubled)]
    assert rows == [2 * value for value in range(BLOCKS)], run.output
    seqs, values = _values(recording)  # every block once, in order, as the sink got them
    assert seqs == list(range(BLOCKS))
    assert values == rows
    # The local producer's pipe is recorded by the client too.
    assert _values(project / "net" / "recordings" / "pipe-1.rec") == (
        list(range(BLOCKS)), list(range(BLOCKS)))
    assert not list(own_cluster.root.rglob("*.rec")), "a node kept a recording"

    network_package(project, "replay", REPLAY)
    replay = manage(project, "replay", "simulate", timeout=60)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    replayed = csv_rows(project / "replay" / "simulation" / "2" / "replayed.csv")
    assert [int(row[0]) for row in replayed] == rows
