"""`simulate` on small networks built for the test: how a network ends, fails and flows."""

from __future__ import annotations

import re
import time

import psutil
import pytest
from simhelp import job_stats, read_csv, wait_until

PIPES = "from fission.core.pipes import PicklePipe, JSONPipe\n"
SINK = "from fission.core.jobs import CSVSinkJob\n"


def _finished_cleanly(run, timeout: float = 30) -> None:
    code = run.wait(timeout)
    assert code == 0, run.output()
    assert "finished" in run.stderr, run.output()
    wait_until(lambda: not run.members(), 5, "every job process to exit")


# -- networks that end by themselves ------------------------------------------------------


@pytest.mark.timeout(40)
def test_finite_generator_source_ends_the_network(sim, project):
    project.network("net", PIPES, SINK, """
        from netjobs import CountSource, Double
        JOBS = [
            CountSource(n=200, outputs=[PicklePipe(1), PicklePipe(2)]),
            Double(inputs=[PicklePipe(1)], outputs=[PicklePipe(3)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(2), PicklePipe(3)]),
        ]
    """)
    run = sim(project.root, "net")
    _finished_cleanly(run)

    rows = read_csv(run.job_dir(3) / "out.csv")
    assert rows[0] == ["pipe_2", "pipe_3"]
    assert rows[1:] == [[str(i), str(2 * i)] for i in range(200)]
    stats = job_stats(run, 3)
    assert stats["runs"] == 200
    assert stats["leftover"] == 0
    for pipe_id in (2, 3):
        assert stats["inputs"][pipe_id]["dummies"] == 0
        assert stats["inputs"][pipe_id]["dropped"] == 0
    assert job_stats(run, 1)["runs"] == 200


@pytest.mark.timeout(40)
def test_source_whose_run_returns_none_ends_the_network(sim, project):
    project.network("net", PIPES, SINK, """
        from netjobs import CallSource
        JOBS = [
            CallSource(n=50, outputs=[PicklePipe(1)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(1)]),
        ]
    """)
    run = sim(project.root, "net")
    _finished_cleanly(run)
    assert read_csv(run.job_dir(2) / "out.csv")[1:] == [[str(i)] for i in range(50)]
    assert job_stats(run, 1)["runs"] == 50


@pytest.mark.timeout(40)
def test_block_count_windows_and_an_incomplete_last_window(sim, project):
    project.network("net", PIPES, SINK, """
        from netjobs import CountSource, SumWindow, Window5
        JOBS = [
            CountSource(n=22, outputs=[Window5(1)]),
            SumWindow(inputs=[Window5(1)], outputs=[PicklePipe(2)]),
            CSVSinkJob(path="sums.csv", inputs=[PicklePipe(2)]),
        ]
    """)
    run = sim(project.root, "net")
    _finished_cleanly(run)
    # Windows 0-4, 5-9, 10-14, 15-19; blocks 20 and 21 never make a window and are not run.
    assert read_csv(run.job_dir(3) / "sums.csv")[1:] == [["10"], ["35"], ["60"], ["85"]]
    stats = job_stats(run, 2)
    assert stats["runs"] == 4
    assert stats["leftover"] == 2
    assert stats["inputs"][1]["dummies"] == 0


@pytest.mark.timeout(40)
def test_network_winds_down_when_one_of_two_sources_ends(sim, project):
    # Source 2 never ends; when Add finishes, source 2 is told to stop sending and finishes too.
    project.network("net", PIPES, SINK, """
        from netjobs import Add, CountSource
        JOBS = [
            CountSource(n=10, outputs=[PicklePipe(1)]),
            CountSource(outputs=[PicklePipe(2)]),
            Add(inputs=[PicklePipe(1), PicklePipe(2)], outputs=[PicklePipe(3)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(3)]),
        ]
    """)
    run = sim(project.root, "net")
    _finished_cleanly(run, timeout=20)
    assert read_csv(run.job_dir(4) / "out.csv")[1:] == [[str(2 * i)] for i in range(10)]


@pytest.mark.timeout(30)
def test_duration_stops_the_network_with_exit_0(sim, project):
    project.network("net", PIPES, SINK, """
        from netjobs import CountSource
        JOBS = [
            CountSource(sleep=0.01, outputs=[PicklePipe(1)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(1)]),
        ]
    """)
    run = sim(project.root, "net", "--duration", "2")
    started = time.monotonic()
    assert run.wait(15) == 0, run.output()
    assert 2 <= time.monotonic() - started < 8
    assert "--duration" in run.stderr
    wait_until(lambda: not run.members(), 5, "every job process to exit")
    rows = read_csv(run.job_dir(2) / "out.csv")[1:]
    assert len(rows) >= 10
    assert rows == [[str(i)] for i in range(len(rows))]


@pytest.mark.timeout(40)
def test_optional_inputs_never_hold_up_a_run(sim, project):
    # The sink runs once per block of pipe 1; pipes 2 and 3 bring three values now and then.
    project.network("net", PIPES, SINK, """
        from netjobs import CountSource, KeepOptional, OnceOptional
        JOBS = [
            CountSource(n=150, sleep=0.01, outputs=[PicklePipe(1)]),
            CountSource(n=3, start=100, sleep=0.05, outputs=[OnceOptional(2), KeepOptional(3)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(1), OnceOptional(2), KeepOptional(3)]),
        ]
    """)
    run = sim(project.root, "net")
    _finished_cleanly(run)
    rows = read_csv(run.job_dir(3) / "out.csv")
    assert rows[0] == ["pipe_1", "pipe_2", "pipe_3"]
    rows = rows[1:]
    assert [row[0] for row in rows] == [str(i) for i in range(150)]
    # STORE = False: each value in exactly one row, in order; the default everywhere else.
    assert [row[1] for row in rows if row[1] != "-"] == ["100", "101", "102"]
    # STORE = True: the default until the first value, then always the latest value.
    kept = [row[2] for row in rows]
    first = kept.index("100")
    assert set(kept[:first]) <= {"-"}
    assert "-" not in kept[first:]
    assert kept[first:] == sorted(kept[first:]) and kept[-1] == "102"


# -- return values -------------------------------------------------------------------------


@pytest.mark.timeout(40)
def test_a_returned_tuple_maps_element_wise_to_the_outputs(sim, project):
    project.network("net", PIPES, SINK, """
        from netjobs import CountSource, Split, WholeTuple
        JOBS = [
            CountSource(n=20, outputs=[PicklePipe(1), PicklePipe(4)]),
            Split(inputs=[PicklePipe(1)], outputs=[PicklePipe(2), PicklePipe(3)]),
            WholeTuple(inputs=[PicklePipe(4)], outputs=[PicklePipe(5)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(2), PicklePipe(3), PicklePipe(5)]),
        ]
    """)
    run = sim(project.root, "net")
    _finished_cleanly(run)
    assert read_csv(run.job_dir(4) / "out.csv")[1:] == [
        [str(i), str(-i), str((i, i + 1))] for i in range(20)
    ]


@pytest.mark.timeout(40)
def test_a_tuple_of_the_wrong_length_fails_the_network(sim, project):
    project.network("net", PIPES, SINK, """
        from netjobs import CountSource, WrongTuple
        JOBS = [
            CountSource(n=5, outputs=[PicklePipe(1)]),
            WrongTuple(inputs=[PicklePipe(1)], outputs=[PicklePipe(2), PicklePipe(3)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(2), PicklePipe(3)]),
        ]
    """)
    run = sim(project.root, "net")
    assert run.wait(30) != 0, run.output()
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, run.output()
    assert re.search(r"WrongTuple 2\b.*tuple of 3 values.*2 outputs", errors[0]), errors[0]
    wait_until(lambda: not run.members(), 5, "every job process to exit")
    assert read_csv(run.job_dir(3) / "out.csv") == [["pipe_2", "pipe_3"]]


# -- failures --------------------------------------------------------------------------------


@pytest.mark.timeout(40)
def test_a_job_that_raises_stops_the_network_and_is_reported(sim, project):
    project.network("net", PIPES, SINK, """
        from netjobs import BadJob, CountSource
        JOBS = [
            CountSource(sleep=0.01, outputs=[PicklePipe(1)]),
            BadJob(fail_at=5, wait_file="../3/out.csv", wait_lines=6,
                   inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(2)]),
        ]
    """)
    run = sim(project.root, "net")
    assert run.wait(30) == 1, run.output()
    wait_until(lambda: not run.members(), 5, "every job process to exit after the failure")

    # The user's traceback, every line prefixed with the job's name, without FISSION's frames.
    out = run.stdout.splitlines()
    assert "[BadJob 2] Traceback (most recent call last):" in out, run.output()
    assert "[BadJob 2] RuntimeError: boom at 5" in out, run.output()
    traceback = [line for line in out if line.startswith("[BadJob 2] ")]
    assert any("netjobs.py" in line and "in run" in line for line in traceback), traceback
    assert not any("fission/runtime" in line for line in traceback), traceback

    # One error paragraph naming the job and what it raised.
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, run.output()
    assert "BadJob 2" in errors[0] and "RuntimeError: boom at 5" in errors[0], errors[0]
    assert "error:" not in run.stdout

    # Rows written before the failure are kept.
    assert read_csv(run.job_dir(3) / "out.csv") == [["pipe_2"]] + [[str(i)] for i in range(5)]
    assert "boom at 5" in (run.job_dir(2) / "job.log").read_text()


CONFIG_ERRORS = {
    "pipe type clash": ("""
        from netjobs import CountSource, Double
        JOBS = [
            CountSource(n=3, outputs=[PicklePipe(5)]),
            CSVSinkJob(path="out.csv", inputs=[JSONPipe(5)]),
        ]
    """, ["net/config.py", r"pipe 5\b", "PicklePipe", "JSONPipe"]),
    "two sources": ("""
        from netjobs import CountSource
        JOBS = [
            CountSource(n=3, outputs=[PicklePipe(7)]),
            CountSource(n=3, outputs=[PicklePipe(7)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(7)]),
        ]
    """, ["net/config.py", r"pipe 7\b", "CountSource 1", "CountSource 2"]),
    "a job that cannot be pickled": ("""
        from netjobs import CountSource
        JOBS = [
            CountSource(n=3, start=lambda: 0, outputs=[PicklePipe(1)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(1)]),
        ]
    """, [r"CountSource 1\b", "picklable"]),
    "run takes too few inputs": ("""
        from netjobs import CountSource, Double
        JOBS = [
            CountSource(n=3, outputs=[PicklePipe(1)]),
            CountSource(n=3, outputs=[PicklePipe(2)]),
            Double(inputs=[PicklePipe(1), PicklePipe(2)], outputs=[PicklePipe(3)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(3)]),
        ]
    """, ["net/config.py", r"Double 3\b", "takes 1", "2 input pipe"]),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", list(CONFIG_ERRORS))
def test_config_errors_stop_before_any_job_starts(sim, project, case):
    config, patterns = CONFIG_ERRORS[case]
    project.network("net", PIPES, SINK, config)
    run = sim(project.root, "net")
    assert run.wait(20) != 0, run.output()
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1, run.output()
    for pattern in patterns:
        assert re.search(pattern, run.stderr), (pattern, run.stderr)
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
    assert not list((project.root / "net").glob("simulation/*/job.log")), "a job was started"


@pytest.mark.timeout(40)
def test_a_job_killed_from_outside_stops_the_network(sim, project):
    project.network("net", PIPES, SINK, """
        from netjobs import CountSource, Double
        JOBS = [
            CountSource(sleep=0.01, outputs=[PicklePipe(1)]),
            Double(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(2)]),
        ]
    """)
    run = sim(project.root, "net")
    out = run.job_dir(3) / "out.csv"
    wait_until(lambda: out.exists() and len(read_csv(out)) > 3, 15, "the first rows")
    double = wait_until(lambda: run.job_process(2), 5, "the process of job 2")
    double.kill()
    assert run.wait(20) == 1, run.output()
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Double 2" in errors[0] and "signal 9" in errors[0], run.output()
    wait_until(lambda: not run.members(), 5, "every job process to exit")


@pytest.mark.timeout(40)
def test_job_processes_die_with_a_killed_backend(sim, project):
    project.network("net", PIPES, SINK, """
        from netjobs import CountSource
        JOBS = [
            CountSource(sleep=0.01, outputs=[PicklePipe(1)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(1)]),
        ]
    """)
    run = sim(project.root, "net")
    out = run.job_dir(2) / "out.csv"
    wait_until(lambda: out.exists() and len(read_csv(out)) > 3, 15, "the first rows")
    jobs = [p for p in run.members() if p.pid != run.popen.pid]
    assert len(jobs) == 4  # each job and its keeper
    run.popen.kill()  # SIGKILL to the backend alone: no cleanup code of its runs
    run.popen.wait(5)
    gone, alive = psutil.wait_procs(jobs, timeout=5)
    assert not alive, f"job processes outlived their backend: {alive}"


# -- flow control ---------------------------------------------------------------------------


def _count(path) -> int:
    try:
        return int(path.read_text() or 0)
    except FileNotFoundError:
        return 0


@pytest.mark.timeout(30)
def test_backpressure_keeps_a_fast_source_close_to_a_slow_sink(sim, project):
    project.network("net", PIPES, """
        from netjobs import CountSource, SlowCounter
        JOBS = [
            CountSource(count_file="count", every=10, outputs=[PicklePipe(1)]),
            SlowCounter(sleep=0.01, count_file="count", inputs=[PicklePipe(1)]),
        ]
    """)
    run = sim(project.root, "net")
    source, sink = run.job_dir(1) / "count", run.job_dir(2) / "count"
    # Sampled as the sink progresses (not after so many seconds of a loaded machine): by
    # the time the sink has taken N blocks, the source has had N sink-runs' time to run ahead.
    ahead = []
    for runs in (50, 100, 150, 200):
        wait_until(lambda runs=runs: _count(sink) >= runs, 15, f"the sink to run {runs} times")
        ahead.append(_count(source) - _count(sink))
    assert run.popen.poll() is None, run.output()
    # Unbounded, the source would be hundreds of thousands of blocks ahead by now; with
    # high-water marks of 256 blocks per side it stays within a few hundred to a thousand.
    assert all(0 < gap < 2000 for gap in ahead), ahead


@pytest.mark.timeout(40)
def test_max_queue_drops_the_oldest_blocks_and_logs_it(sim, project):
    project.network("net", PIPES, SINK, """
        from netjobs import CountSource, LossySlowCounter
        JOBS = [
            CountSource(n=3000, outputs=[PicklePipe(1)]),
            LossySlowCounter(sleep=0.002, inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(2)]),
        ]
    """)
    run = sim(project.root, "net")
    _finished_cleanly(run)
    # Every run got a block the source sent (no stand-ins), in order, none twice.
    rows = [row[0] for row in read_csv(run.job_dir(3) / "out.csv")[1:]]
    assert all(row.isdigit() for row in rows), f"runs with values never sent: {rows[:20]}"
    values = [int(row) for row in rows]
    assert values == sorted(set(values)), "blocks must stay in order and never repeat"
    assert values[-1] == 2999, "the newest blocks are kept, the oldest dropped"

    log = (run.job_dir(2) / "job.log").read_text()
    assert "'dropped': " in log
    stats = job_stats(run, 2)
    pipe = stats["inputs"][1]
    assert pipe["dropped"] > 0
    assert pipe["dummies"] == 0
    assert stats["runs"] == len(values)
    assert stats["runs"] + pipe["dropped"] + pipe["stale"] == 3000
    # ... and the console says so when the network ends.
    assert (f"FISSION: LossySlowCounter 2 {pipe['dropped']} blocks dropped (MAX_QUEUE"
            in run.stderr), run.stderr


@pytest.mark.timeout(40)
def test_a_second_simulate_of_a_running_network_is_refused(sim, manage, project):
    project.network("net", PIPES, SINK, """
        from netjobs import CountSource
        JOBS = [
            CountSource(sleep=0.05, outputs=[PicklePipe(1)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(1)]),
        ]
    """)
    first = sim(project.root, "net")
    out = first.job_dir(2) / "out.csv"
    wait_until(lambda: out.exists() and len(read_csv(out)) > 2, 15, "the first rows")
    second = manage(project.root, "net", "simulate", "--duration", "1")
    assert second.returncode == 1, second
    assert "already running" in second.stderr and "Traceback" not in second.stderr
    rows = len(read_csv(out))
    wait_until(lambda: len(read_csv(out)) > rows, 10, "the first network to go on writing")
    first.interrupt()
    assert first.wait(10) == 0, first.output()
    assert manage(project.root, "net", "send", "1", "x").returncode == 1  # nothing runs now


@pytest.mark.timeout(60)
def test_a_producer_of_large_blocks_retains_none_of_them_under_simulate(sim, project):
    """Only `run` replays: 40 blocks of 4 MB must not stay in the producer (REPLAY_COUNT 64)."""
    project.network("net", PIPES, """
        from netjobs import BigBlocks, CountsBlocks
        JOBS = [
            BigBlocks(n=40, size=4_000_000, outputs=[PicklePipe(1)]),
            CountsBlocks(inputs=[PicklePipe(1)]),
        ]
    """)
    run = sim(project.root, "net")
    count = run.job_dir(2) / "count"
    wait_until(lambda: count.exists() and count.read_text() == "40", 30,
               f"the 40 blocks to arrive\n{run.output()}")
    producer = run.job_process(1)
    assert producer is not None, run.output()
    rss = producer.memory_info().rss
    run.interrupt()
    assert run.wait(20) == 0, run.output()
    assert rss < 100_000_000, f"the producer holds {rss / 1e6:.0f} MB after 40 blocks of 4 MB"
