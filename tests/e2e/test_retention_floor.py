"""The retention floor under `simulate`: big blocks into a job that may restart still flow.

A producer keeps its blocks from its consumer's oldest kept snapshot on. With blocks bigger
than a quarter of ``RETAIN_BYTES`` the bytes bound alone is reached after four of them, before
the consumer has taken the snapshots that would free any: the producer waited forever. The
floor (``JobSpec.retain_floor``) lets it keep what those snapshots need.
"""

from __future__ import annotations

import pytest
from simhelp import read_csv, wait_until

CONFIG = """
    import os
    from fission.core.jobs import CSVSinkJob, PythonJob
    from fission.core.pipes import PicklePipe


    class Big(PicklePipe):
        '''Blocks of 300 kB against 1 MiB of retention: four of them fill it by bytes.'''
        RETAIN_BYTES = 2**20
        RETAIN_BLOCKS = 64


    class Blocks(PythonJob):
        def __init__(self, count, **kw):
            super().__init__(**kw)
            self.count, self.i = count, 0

        def run(self):
            if self.i >= self.count:
                return None
            self.i += 1
            return bytes([self.i - 1]) * 300_000


    class Flaky(PythonJob):
        '''A running total of the blocks' first bytes; fails once, at block 7.'''
        STATE = ("total",)
        RESTART = "on-failure"

        def setup(self):
            self.total = 0

        def run(self, block):
            value = block[0]
            assert block == bytes([value]) * 300_000, "a block arrived damaged"
            if value == 7 and not os.path.exists("failed-once"):
                open("failed-once", "w").close()
                raise ValueError("failing once at 7")
            self.total += value
            return f"{value}:{self.total}"


    JOBS = [Blocks(16, outputs=[Big(1)]),
            Flaky(inputs=[Big(1)], outputs=[PicklePipe(2)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(2)], col_pattern="x")]
"""


@pytest.mark.timeout(120)
def test_blocks_bigger_than_a_quarter_of_the_retention_flow_to_a_restarting_stateful_job(
        sim, project):
    project.network("net", CONFIG)
    run = sim(project.root, "net")
    assert run.wait(100) == 0, run.output()
    wait_until(lambda: not run.members(), 5, "every job process to exit")
    totals = [f"{value}:{sum(range(value + 1))}" for value in range(16)]
    assert [row[0] for row in read_csv(run.job_dir(3) / "out.csv")[1:]] == totals, run.output()
    assert "ValueError: failing once at 7" in run.stdout, run.output()  # it did restart
