"""The HEAD interface under `simulate`: heads travel with blocks, finish() ends the network."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from simhelp import job_stats, read_csv, wait_until

HERE = Path(__file__).resolve().parent


@pytest.mark.timeout(60)
def test_heads_travel_and_finish_ends_the_network(sim, project):
    shutil.copy(HERE / "headjobs.py", project.root / "headjobs.py")
    project.network("net", """
        from fission.core.jobs import CSVSinkJob
        from fission.core.pipes import PicklePipe
        from headjobs import HeadCSV, Marker, Mixer, Window3
        from netjobs import CountSource
        JOBS = [
            Marker(outputs=[PicklePipe(1)]),
            CountSource(outputs=[PicklePipe(2)]),
            CountSource(outputs=[Window3(3)]),
            Mixer(last=25, inputs=[PicklePipe(1), PicklePipe(2), Window3(3)],
                  outputs=[PicklePipe(4), PicklePipe(5)]),
            HeadCSV(path="heads.csv", inputs=[PicklePipe(4)]),
            CSVSinkJob(path="plain.csv", inputs=[PicklePipe(5)]),
        ]
    """)
    run = sim(project.root, "net")
    assert run.wait(40) == 0, run.output()
    wait_until(lambda: not run.members(), 5, "every job process to exit")

    def expected(i: int) -> str:
        mark = 128 if i % 10 == 0 else 0
        return f"{i}:{i}:{9 * i + 3}:{[mark, 0, [0, 0, 0]]}:{mark | (32 if i == 25 else 0)}"

    # The Marker's heads reached the Mixer on its first input only; a producer without HEAD
    # sends empty heads. The Mixer's blocks carry its reduced head, with the finish bit
    # (bit 2) on the last one; a consumer without HEAD gets the bare values.
    heads = read_csv(run.job_dir(5) / "heads.csv")[1:]
    assert heads == [[expected(i), str((128 if i % 10 == 0 else 0) | (32 if i == 25 else 0))]
                     for i in range(26)]
    assert read_csv(run.job_dir(6) / "plain.csv")[1:] == [[expected(i)] for i in range(26)]
    # finish() ended the Mixer like a finite source; everything before it stopped by itself.
    assert job_stats(run, 4)["runs"] == 26
    for job_id in (1, 2, 3):
        assert "finished after" in (run.job_dir(job_id) / "job.log").read_text()


@pytest.mark.timeout(60)
def test_finish_in_a_job_without_head_ends_an_endless_network(sim, project):
    shutil.copy(HERE / "headjobs.py", project.root / "headjobs.py")
    project.network("net", """
        from fission.core.jobs import CSVSinkJob
        from fission.core.pipes import PicklePipe
        from headjobs import StopAt
        from netjobs import CountSource
        JOBS = [
            CountSource(outputs=[PicklePipe(1)]),
            StopAt(last=7, inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(2)]),
        ]
    """)
    run = sim(project.root, "net")
    assert run.wait(40) == 0, run.output()
    wait_until(lambda: not run.members(), 5, "every job process to exit")
    assert read_csv(run.job_dir(3) / "out.csv")[1:] == [[str(i)] for i in range(8)]
