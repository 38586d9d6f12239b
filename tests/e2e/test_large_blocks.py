"""50 MB numpy blocks through a simulated network: every process stays under 600 MB.

ZeroMQ's high-water marks count blocks; without ``QUEUE_BYTES`` the 256 a pipe's queues
hold on each side would be 12 GB of such blocks. The peak resident memory of every process
of the run (the client and each job) is sampled while it runs. The pipes are ArrayPipes
that know their blocks' size, so the consumers' receive queues are bounded too.
"""

from __future__ import annotations

import time

import psutil
import pytest
from simhelp import wait_until

BLOCKS = 16
BLOCK_BYTES = 50_000_000
LIMIT = 600 * 10**6

LARGE_JOBS = f'''
import time

import numpy as np

from fission.core.jobs import PythonJob

BLOCKS, ELEMENTS = {BLOCKS}, {BLOCK_BYTES} // 8


class Big(PythonJob):
    """Block i: 50 MB of float64, every element i, but the last, -i."""

    def run(self):
        for i in range(BLOCKS):
            block = np.full(ELEMENTS, float(i))
            block[-1] = -i
            yield block


class Forward(PythonJob):
    def run(self, block):
        return block


class Check(PythonJob):
    """Writes, per block, its number and whether every element is what was sent; slowly,
    so blocks would pile up in the queues before it if they were not bounded in bytes."""

    def setup(self):
        self.rows = open("checked.txt", "w")

    def run(self, block):
        time.sleep(0.3)
        i = block[0]
        intact = (block.size == ELEMENTS and block[-1] == -i
                  and bool((block[:-1] == i).all()))
        self.rows.write(f"{{int(i)}} {{intact}}\\n")
        self.rows.flush()

    def teardown(self):
        self.rows.close()
'''


def peak_rss(processes: list[psutil.Process], peaks: dict[int, tuple[str, int]]) -> None:
    """Note each process's resident memory in ``peaks`` (pid -> name, highest so far)."""
    for process in processes:
        try:
            rss = process.memory_info().rss
            name = " ".join(process.cmdline()[-3:])
        except psutil.Error:
            continue
        if rss > peaks.get(process.pid, ("", 0))[1]:
            peaks[process.pid] = (name, rss)


@pytest.mark.timeout(240)
def test_50_mb_blocks_keep_every_process_under_600_mb_and_arrive_intact(sim, project):
    (project.root / "largejobs.py").write_text(LARGE_JOBS)
    project.network("large", """
        from largejobs import Big, Check, Forward
        from fission.core.pipes import ArrayPipe
        from largejobs import ELEMENTS
        JOBS = [Big(outputs=[ArrayPipe(1, "float64", ELEMENTS)]),
                Forward(inputs=[ArrayPipe(1, "float64", ELEMENTS)],
                        outputs=[ArrayPipe(2, "float64", ELEMENTS)]),
                Check(inputs=[ArrayPipe(2, "float64", ELEMENTS)])]
    """)
    run = sim(project.root, "large")
    peaks: dict[int, tuple[str, int]] = {}
    deadline = time.monotonic() + 200
    while run.popen.poll() is None and time.monotonic() < deadline:
        peak_rss(run.members(), peaks)
        time.sleep(0.05)
    assert run.wait(10) == 0, run.output()
    wait_until(lambda: not run.members(), 5, "every job process to exit")
    rows = (run.job_dir(3) / "checked.txt").read_text().split("\n")[:-1]
    assert rows == [f"{i} True" for i in range(BLOCKS)], run.output()
    assert len(peaks) >= 4, peaks  # the client and its three jobs were all sampled
    over = {pid: (name, rss) for pid, (name, rss) in peaks.items() if rss >= LIMIT}
    assert not over, f"over {LIMIT} bytes: {over}"
    print("peak RSS (MB):", sorted(rss // 10**6 for _, rss in peaks.values()))
