"""Retention by acknowledgement under `run`: real agents on loopback addresses.

A producer keeps each block until no replay can need it (its consumers, and what they
passed on, have acknowledged it), so a failover that needs hundreds of blocks again
loses none; and it keeps no more than its pipe's RETAIN_BLOCKS / RETAIN_BYTES: beyond
that it waits for acknowledgements instead of running ahead.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from clusterhelp import (
    csv_rows,
    job_processes,
    make_project,
    network_package,
    settings_for,
    wait_until,
)

SLOW_NODE = '''
import time
from fission.core.jobs import CSVSinkJob, PythonJob
from fission.core.pipes import PicklePipe
from shared.clusterjobs import Counter


class Fast(Counter):
    DEFAULT_NODE = "127.0.0.2"


class Slow(PythonJob):
    """Far slower than its source: hundreds of blocks wait for it when its node dies."""

    DEFAULT_NODE = "127.0.0.3"

    def run(self, x):
        time.sleep(0.03)
        return x


JOBS = [
    Fast(sleep=0.003, outputs=[PicklePipe(1)]),
    Slow(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
    CSVSinkJob(path="rows.csv", inputs=[PicklePipe(2)]),
]
'''


@pytest.mark.timeout(120)
def test_a_slow_consumer_killed_far_behind_loses_no_block(own_cluster, runs,
                                                          tmp_path: Path) -> None:
    """More blocks than the old fixed window (REPLAY_COUNT = 64) wait for the slow job
    when its node is SIGKILLed; its replacement gets every one of them again."""
    project = make_project(tmp_path, own_cluster)
    network_package(project, "behind", settings_for(own_cluster) + SLOW_NODE)
    run = runs(project, "behind")
    csv = run.local / "3" / "rows.csv"
    wait_until(lambda: len(csv_rows(csv)) >= 60, 40, f"60 rows\n{run.output}")
    own_cluster.agent("127.0.0.3").kill()
    wait_until(lambda: run.events_of("failover_done", job=2), 20, f"failover\n{run.output}")
    count = len(csv_rows(csv))
    wait_until(lambda: len(csv_rows(csv)) >= count + 30, 20, "rows after the failover")
    run.interrupt()
    assert run.wait(15) == 0, run.output
    values = [int(row[0]) for row in csv_rows(csv)]
    assert values == list(range(len(values))), values  # no block lost, none repeated
    # The source, on a node that lived, sent far more than 64 blocks again.
    replays = [int(sent) for sent in re.findall(
        r"pipe 1: sending (\d+) blocks again", _logs(own_cluster, "127.0.0.2"))]
    assert replays and max(replays) > 64, replays
    assert not job_processes(own_cluster.root)


def _logs(cluster, host: str) -> str:
    """Every job.log written on the node ``host``."""
    return "".join(path.read_text() for path in cluster.agent(host).home.rglob("job.log"))


WAITING = '''
import time
from fission.core.jobs import CSVSinkJob, LocalJob, PythonJob
from fission.core.pipes import PicklePipe


class Kept(PicklePipe):
    RETAIN_BLOCKS = {blocks}
    RETAIN_BYTES = {bytes}


class Source(LocalJob):
    """Counts what it has made in sent.txt (one byte per block) before it sends it."""

    def __init__(self, size, **kw):
        super().__init__(**kw)
        self.size, self.i = size, 0

    def run(self):
        with open("sent.txt", "a") as sent:
            sent.write("x")
        self.i += 1
        return (self.i - 1).to_bytes(8, "little") * (self.size // 8) if self.size else self.i - 1


class Slow(PythonJob):
    DEFAULT_NODE = "127.0.0.2"

    def run(self, block):
        time.sleep(0.04)
        return int.from_bytes(block[:8], "little") if isinstance(block, bytes) else block


JOBS = [
    Source({size}, outputs=[Kept(1)]),
    Slow(inputs=[Kept(1)], outputs=[PicklePipe(2)]),
    CSVSinkJob(path="rows.csv", inputs=[PicklePipe(2)]),
]
'''


@pytest.mark.timeout(90)
@pytest.mark.parametrize(("size", "blocks", "bytes_", "bound"), [
    (0, 30, 64 * 2**20, 30),  # small blocks: RETAIN_BLOCKS bounds the retention
    (256 * 1024, 16384, 2 * 2**20, 8),  # 256 KiB blocks: RETAIN_BYTES (2 MiB) bounds it
], ids=["blocks", "bytes"])
def test_a_full_retention_makes_the_producer_wait(cluster, runs, tmp_path: Path, size: int,
                                                   blocks: int, bytes_: int, bound: int) -> None:
    """The source never gets further ahead of what the sink has written than its pipe's
    retention holds (without it, the pipes' buffers let it run hundreds of blocks
    ahead), and no block is lost while it waits."""
    project = make_project(tmp_path, cluster)
    network_package(project, "waiting", settings_for(cluster) + WAITING.format(
        blocks=blocks, bytes=bytes_, size=size))
    run = runs(project, "waiting")
    csv, sent = run.local / "3" / "rows.csv", run.local / "1" / "sent.txt"
    wait_until(lambda: len(csv_rows(csv)) >= 5, 40, f"5 rows\n{run.output}")
    ahead, rss = [], []
    for _ in range(12):
        written = len(csv_rows(csv))
        ahead.append(sent.stat().st_size - written)
        rss += [process.memory_info().rss for process in job_processes(run.local / "1")]
        wait_until(lambda written=written: len(csv_rows(csv)) > written, 10, "more rows")
    run.interrupt()
    assert run.wait(15) == 0, run.output
    # The bound, plus the block the source made before it found the retention full and
    # what the sink wrote since it last said how far it had got (every 50 ms).
    assert max(ahead) <= bound + 4, ahead
    # Nor does the source's memory grow with what it keeps, its queues held back with it
    # (measured: about 22 MB; with the old fixed window of 64 blocks and unheld queues, 256
    # KiB blocks took it to 85-105 MB).
    assert rss and max(rss) < 50 * 2**20, [f"{value / 2**20:.0f} MB" for value in rss]
    values = [int(row[0]) for row in csv_rows(csv)]
    assert values == list(range(len(values))), values


FINISHING = '''
from fission.core.jobs import CSVSinkJob, PythonJob
from fission.core.pipes import PicklePipe
from shared.clusterjobs import Counter


class Kept(PicklePipe):
    RETAIN_BLOCKS = 30


class Source(Counter):
    DEFAULT_NODE = "127.0.0.2"


class Both(PythonJob):
    DEFAULT_NODE = "127.0.0.2"

    def run(self, x):
        return x, x


class Early(PythonJob):
    """Finishes after 20 blocks, while its producer goes on for the other sink."""

    DEFAULT_NODE = "127.0.0.3"

    def run(self, x):
        if x >= 19:
            self.finish()


JOBS = [
    Source(sleep=0.005, outputs=[Kept(1)]),
    Both(inputs=[Kept(1)], outputs=[PicklePipe(2), PicklePipe(3)]),
    CSVSinkJob(path="rows.csv", inputs=[PicklePipe(2)]),
    Early(inputs=[PicklePipe(3)]),
]
'''


@pytest.mark.timeout(90)
def test_a_consumer_that_finished_holds_no_producer_back(cluster, runs, tmp_path: Path) -> None:
    """What a finished job took can never be needed again: the source, whose blocks its
    stateless consumer also passed to that job, keeps getting acknowledgements."""
    project = make_project(tmp_path, cluster)
    network_package(project, "finishing", settings_for(cluster) + FINISHING)
    run = runs(project, "finishing")
    csv = run.local / "3" / "rows.csv"
    wait_until(lambda: len(csv_rows(csv)) >= 200, 40, f"200 rows\n{run.output}")
    run.interrupt()
    assert run.wait(15) == 0, run.output
    values = [int(row[0]) for row in csv_rows(csv)]
    assert values == list(range(len(values))), values


JOINED_BEHIND = '''
import time
from fission.core.jobs import CSVSinkJob, PythonJob
from fission.core.pipes import PicklePipe
from shared.clusterjobs import Mirrored, Pair

PAD = bytes(64 * 1024)

class Small(PicklePipe):
    HWM = 16


class Source(Mirrored):
    """(i, -i), each with 64 KiB of padding: replays too big for the kernel's buffers."""

    DEFAULT_NODE = "127.0.0.2"

    def run(self):
        for a, b in super().run():
            yield (a, PAD), (b, PAD)


class Both(Pair):
    DEFAULT_NODE = "127.0.0.3"

    def run(self, a, b):
        return a[0], b[0]


class Slow(Pair):
    DEFAULT_NODE = "127.0.0.2"

    def run(self, a, b):
        time.sleep(0.02)
        return a, b


JOBS = [
    Source(sleep=0.004, outputs=[Small(1), Small(2)]),
    Both(inputs=[Small(1), Small(2)], outputs=[PicklePipe(3), PicklePipe(4)]),
    Slow(inputs=[PicklePipe(3), PicklePipe(4)], outputs=[PicklePipe(5), PicklePipe(6)]),
    CSVSinkJob(path="rows.csv", inputs=[PicklePipe(5), PicklePipe(6)]),
]
'''


@pytest.mark.timeout(120)
def test_replays_far_longer_than_the_pipes_buffers_to_one_consumer_both_arrive(
        own_cluster, runs, tmp_path: Path) -> None:
    """The replacement of a job that joins two outputs of one source needs hundreds of
    64 KiB blocks again on each, far more than the pipes' buffers (HWM 16, and the
    kernel's) hold: the source sends both replays as the consumer takes them, never
    blocked in one of them while the consumer waits for the other."""
    project = make_project(tmp_path, own_cluster)
    network_package(project, "joined", settings_for(own_cluster) + JOINED_BEHIND)
    run = runs(project, "joined")
    csv = run.local / "4" / "rows.csv"
    wait_until(lambda: len(csv_rows(csv)) >= 60, 40, f"60 rows\n{run.output}")
    own_cluster.agent("127.0.0.3").kill()
    wait_until(lambda: run.events_of("failover_done", job=2), 20, f"failover\n{run.output}")
    count = len(csv_rows(csv))
    wait_until(lambda: len(csv_rows(csv)) >= count + 100, 30,
               f"rows after the failover\n{run.output}")
    run.interrupt()
    assert run.wait(15) == 0, run.output
    rows = [(int(a), int(b)) for a, b in csv_rows(csv)]
    assert rows == [(i, -i) for i in range(len(rows))], rows
    replays = [int(sent) for sent in re.findall(
        r"pipe [12]: sending (\d+) blocks again", _logs(own_cluster, "127.0.0.2"))]
    assert len(replays) == 2 and min(replays) > 32, replays
