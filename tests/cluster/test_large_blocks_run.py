"""Big blocks under `run`, on real agents on loopback addresses.

50 MB numpy blocks through three nodes keep every process of the run (the client, the
agents, the job processes) under 600 MB, each block intact: the pipes' queues are
bounded in bytes (``QUEUE_BYTES``), and retention is bounded by ``RETAIN_BYTES``.
And a consumer whose window of blocks is bigger than its producer's ``RETAIN_BYTES``
still gets it: the retention's floor keeps what the first acknowledgement needs.
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest
from clusterhelp import csv_rows, job_processes, make_project, network_package, settings_for

BLOCKS = 12
ELEMENTS = 50_000_000 // 8
LIMIT = 600 * 10**6

LARGE = f'''
import time

import numpy as np
from fission.core.jobs import CSVSinkJob, PythonJob
from fission.core.pipes import ArrayPipe, PicklePipe

BLOCKS, ELEMENTS = {BLOCKS}, {ELEMENTS}


class Big(PythonJob):
    """Block i: 50 MB of float64, every element i, but the last, -i."""

    DEFAULT_NODE = "127.0.0.2"

    def run(self):
        for i in range(BLOCKS):
            block = np.full(ELEMENTS, float(i))
            block[-1] = -i
            yield block


class Forward(PythonJob):
    DEFAULT_NODE = "127.0.0.3"

    def run(self, block):
        return block


class Check(PythonJob):
    """Whether every element of the block is what was sent; slowly, so blocks would pile
    up before it if queues and retention did not bound them in bytes."""

    DEFAULT_NODE = "127.0.0.4"

    def run(self, block):
        time.sleep(0.3)
        i = block[0]
        intact = block.size == ELEMENTS and block[-1] == -i and bool((block[:-1] == i).all())
        return f"{{int(i)}} {{intact}}"


def arrays(pipe_id):
    return ArrayPipe(pipe_id, "float64", ELEMENTS)


JOBS = [Big(outputs=[arrays(1)]),
        Forward(inputs=[arrays(1)], outputs=[arrays(2)]),
        Check(inputs=[arrays(2)], outputs=[PicklePipe(3)]),
        CSVSinkJob(path="rows.csv", inputs=[PicklePipe(3)])]
'''


def _family(pids: list[int]) -> list[psutil.Process]:
    """The processes ``pids`` and all their descendants that are alive."""
    found = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            found += [process, *process.children(recursive=True)]
        except psutil.Error:
            continue
    return found


@pytest.mark.timeout(300)
def test_50_mb_blocks_keep_every_process_of_a_run_under_600_mb(own_cluster, runs,
                                                                 tmp_path: Path) -> None:
    project = make_project(tmp_path, own_cluster)
    network_package(project, "large", settings_for(own_cluster) + LARGE)
    run = runs(project, "large")
    csv = run.local / "4" / "rows.csv"
    peaks: dict[int, tuple[str, int]] = {}
    deadline = time.monotonic() + 240
    while len(csv_rows(csv)) < BLOCKS and time.monotonic() < deadline and run.popen.poll() is None:
        for process in _family([run.popen.pid, *(a.popen.pid for a in own_cluster.agents)]):
            try:
                rss, name = process.memory_info().rss, " ".join(process.cmdline()[-3:])
            except psutil.Error:
                continue
            if rss > peaks.get(process.pid, ("", 0))[1]:
                peaks[process.pid] = (name, rss)
        time.sleep(0.05)
    rows = [row[0] for row in csv_rows(csv)]
    assert rows == [f"{i} True" for i in range(BLOCKS)], run.output
    run.interrupt()
    assert run.wait(30) == 0, run.output
    assert len(peaks) >= 8, peaks  # client, three agents, four job processes at least
    over = {pid: (name, rss) for pid, (name, rss) in peaks.items() if rss >= LIMIT}
    assert not over, f"over {LIMIT} bytes: {over}"
    print("peak RSS (MB):", sorted(rss // 10**6 for _, rss in peaks.values()))
    assert not job_processes(own_cluster.root)


WINDOW = '''
from fission.core.jobs import CSVSinkJob, PythonJob
from fission.core.pipes import BytesPipe, PicklePipe


class Window(BytesPipe):
    """Blocks of 400 kB, four a run, against 1 MiB of retention: three fill it by bytes."""

    RETAIN_BYTES = 2**20


class Source(PythonJob):
    DEFAULT_NODE = "127.0.0.2"

    def run(self):
        for i in range(40):
            yield bytes([i]) * 400_000


class Join(PythonJob):
    DEFAULT_NODE = "127.0.0.3"

    def run(self, blocks):
        return " ".join(str(block[0]) for block in blocks if block == block[:1] * 400_000)


JOBS = [Source(outputs=[Window(1, 400_000, 4)]),
        Join(inputs=[Window(1, 400_000, 4)], outputs=[PicklePipe(2)]),
        CSVSinkJob(path="rows.csv", inputs=[PicklePipe(2)])]
'''


@pytest.mark.timeout(120)
def test_a_window_of_blocks_bigger_than_the_retention_still_flows(cluster, runs,
                                                                 tmp_path: Path) -> None:
    """Before the floor the source waited for ever with three blocks kept: the join
    needs four before it can run, and only its run acknowledges any."""
    project = make_project(tmp_path, cluster)
    network_package(project, "window", settings_for(cluster) + WINDOW)
    run = runs(project, "window")
    assert run.wait(90) == 0, run.output
    rows = [row[0] for row in csv_rows(run.local / "3" / "rows.csv")]
    assert rows == [" ".join(str(4 * run_ + k) for k in range(4)) for run_ in range(10)], rows
