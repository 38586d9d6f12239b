"""Restarts under `simulate`: a failed job starts again from its snapshot, nothing lost or repeated.

The jobs raise once at a given value: a marker file in their working directory (which the
restarted copy shares) says the failure has happened. The sink's rows are compared with those
of an undisturbed run, computed here.
"""

from __future__ import annotations

import pickle
import re

import pytest
from simhelp import read_csv, wait_until

from fission.events import read_events
from fission.wire.recording import read_recording

HEAD = """
    import os, time
    from fission.core.jobs import CSVSinkJob, PythonJob
    from fission.core.pipes import PicklePipe


    class Short(PicklePipe):
        '''Small buffers: a snapshot every 9 runs (producers keep at most 72 blocks).'''
        HWM = 16
        RETAIN_BLOCKS = 72


    class Counter(PythonJob):
        '''A method-style source: 0, 1, 2, ... up to limit - 1, its position in STATE.'''
        STATE = ("i",)

        def __init__(self, limit, fail_at=None, **kw):
            super().__init__(**kw)
            self.limit, self.fail_at, self.i = limit, fail_at, 0

        def run(self):
            time.sleep(0.005)
            if self.i == self.fail_at and not os.path.exists("failed-once"):
                open("failed-once", "w").close()
                raise RuntimeError(f"failing once at {self.i}")
            if self.i >= self.limit:
                return None
            self.i += 1
            return self.i - 1


    class Total(PythonJob):
        '''A running total: its outputs are wrong after a restart that loses its state.'''
        STATE = ("total",)

        def __init__(self, fail_at=None, always=False, **kw):
            super().__init__(**kw)
            self.fail_at, self.always = fail_at, always

        def setup(self):
            self.total = 0

        def run(self, value):
            if value == self.fail_at and (self.always or not os.path.exists("failed-once")):
                open("failed-once", "w").close()
                raise ValueError(f"cannot take {value}")
            self.total += value
            return f"{value}:{self.total}"
"""


def _restored_at(log: str) -> int:
    """The run a restarted job's log says it went on from."""
    match = re.search(r"restored from the snapshot before run (\d+)", log)
    assert match, log
    return int(match.group(1))


def _undisturbed(limit: int) -> list[list[str]]:
    rows, total = [], 0
    for value in range(limit):
        total += value
        rows.append([f"{value}:{total}"])
    return rows


@pytest.mark.timeout(60)
def test_a_stateful_connector_restarted_once_gives_the_rows_of_an_undisturbed_run(sim, project):
    project.network("net", HEAD, """
        class Flaky(Total):
            RESTART = "on-failure"

        JOBS = [Counter(200, outputs=[Short(1)]),
                Flaky(fail_at=120, inputs=[Short(1)], outputs=[PicklePipe(2)]),
                CSVSinkJob(path="out.csv", inputs=[PicklePipe(2)], col_pattern="x")]
    """)
    run = sim(project.root, "net")
    assert run.wait(50) == 0, run.output()
    wait_until(lambda: not run.members(), 5, "every job process to exit")
    assert read_csv(run.job_dir(3) / "out.csv")[1:] == _undisturbed(200), run.output()
    restarted = [e for e in read_events(run.folder / "events.jsonl")
                 if e["event"] == "job_restarted"]
    assert len(restarted) == 1, restarted
    assert restarted[0]["job"] == 2 and restarted[0]["attempt"] == 1
    assert "ValueError: cannot take 120" in restarted[0]["error"], restarted
    assert "ValueError: cannot take 120" in run.stdout, run.output()  # its traceback is shown
    assert "it is restarted in 0.5 s" in run.stderr, run.output()
    logs = {job: (run.job_dir(job) / "job.log").read_text() for job in (1, 2)}
    assert "sending snapshots of its state every 9 runs" in logs[2]
    assert "pipe 1: keeping blocks until a snapshot" in logs[1]
    assert _restored_at(logs[2]) > 100, logs[2]  # not from the start: from a snapshot


@pytest.mark.timeout(60)
def test_the_recording_of_a_restarted_producer_has_each_block_once(sim, project):
    """The restarted copy appends to its first copy's recording; what it sends again is
    read once: the recording equals the undisturbed stream."""
    project.network("net", HEAD, """
        class Flaky(Total):
            RESTART = "on-failure"

        JOBS = [Counter(200, outputs=[Short(1)]),
                Flaky(fail_at=120, inputs=[Short(1)], outputs=[PicklePipe(2)]),
                CSVSinkJob(path="out.csv", inputs=[PicklePipe(2)], col_pattern="x")]
    """)
    run = sim(project.root, "net", "--record", "2")
    assert run.wait(50) == 0, run.output()
    assert "ValueError: cannot take 120" in run.stdout, run.output()  # it did restart


    records = list(read_recording(project.root / "net" / "recordings" / "pipe-2.rec"))
    assert [seq for _, seq, _ in records] == list(range(200))
    assert [[pickle.loads(payload)] for _, _, payload in records] == _undisturbed(200)


@pytest.mark.timeout(60)
def test_a_job_that_keeps_failing_stops_the_network_after_max_restarts(sim, project):
    project.network("net", HEAD, """
        class Hopeless(Total):
            RESTART = "on-failure"
            MAX_RESTARTS = 2

        JOBS = [Counter(200, outputs=[PicklePipe(1)]),
                Hopeless(fail_at=50, always=True, inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
                CSVSinkJob(path="out.csv", inputs=[PicklePipe(2)], col_pattern="x")]
    """)
    run = sim(project.root, "net")
    assert run.wait(50) == 1, run.output()
    wait_until(lambda: not run.members(), 5, "every job process to exit after the failure")
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Hopeless 2 failed" in errors[0], run.output()
    assert "ValueError: cannot take 50" in errors[0], errors
    events = read_events(run.folder / "events.jsonl")
    assert [e["attempt"] for e in events if e["event"] == "job_restarted"] == [1, 2], events
    assert [e["job"] for e in events if e["event"] == "job_failed"] == [2], events
    # What ran before the failures is kept, once: no row lost or repeated.
    assert read_csv(run.job_dir(3) / "out.csv")[1:] == _undisturbed(50), run.output()


@pytest.mark.timeout(60)
def test_a_restarted_method_style_source_with_state_continues_its_sequence(sim, project):
    project.network("net", HEAD, """
        class FlakyCounter(Counter):
            RESTART = "on-failure"

        class Sum(Total):
            pass

        JOBS = [FlakyCounter(150, fail_at=90, outputs=[Short(1)]),
                Sum(inputs=[Short(1)], outputs=[PicklePipe(2)]),
                CSVSinkJob(path="out.csv", inputs=[PicklePipe(2)], col_pattern="x")]
    """)
    run = sim(project.root, "net")
    assert run.wait(50) == 0, run.output()
    wait_until(lambda: not run.members(), 5, "every job process to exit")
    assert read_csv(run.job_dir(3) / "out.csv")[1:] == _undisturbed(150), run.output()
    assert "RuntimeError: failing once at 90" in run.stdout, run.output()
    assert _restored_at((run.job_dir(1) / "job.log").read_text()) > 50, run.output()


@pytest.mark.timeout(40)
def test_simulate_without_restarts_keeps_no_snapshot_and_no_history(sim, project):
    project.network("net", HEAD, """
        JOBS = [Counter(40, outputs=[PicklePipe(1)]),
                Total(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
                CSVSinkJob(path="out.csv", inputs=[PicklePipe(2)], col_pattern="x")]
    """)
    run = sim(project.root, "net")
    assert run.wait(30) == 0, run.output()
    assert read_csv(run.job_dir(3) / "out.csv")[1:] == _undisturbed(40)
    assert not (run.folder / "events.jsonl").exists()  # no failure, no restart: no event
    for job in (1, 2):  # what the first test finds in these logs
        assert "snapshot" not in (run.job_dir(job) / "job.log").read_text()


@pytest.mark.timeout(60)
def test_a_restarted_job_stops_sending_to_a_consumer_that_finished_before(sim, project):
    """Its first copy was told that the join had finished; the new copy must be told too,
    or it would wait for ever to send the join a block."""
    project.network("net", HEAD, """
        class FlakyCounter(Counter):
            RESTART = "on-failure"

        class First(PythonJob):
            def run(self, a, b):
                return None

        JOBS = [Counter(10, outputs=[PicklePipe(1)]),
                FlakyCounter(400, fail_at=200, outputs=[Short(2), Short(3)]),
                First(inputs=[PicklePipe(1), Short(2)]),
                CSVSinkJob(path="b.csv", inputs=[Short(3)], col_pattern="x")]
    """)
    run = sim(project.root, "net")
    assert run.wait(40) == 0, run.output()
    wait_until(lambda: not run.members(), 5, "every job process to exit")
    assert "RuntimeError: failing once at 200" in run.stdout, run.output()
    assert read_csv(run.job_dir(4) / "b.csv")[1:] == [[str(i)] for i in range(400)]
