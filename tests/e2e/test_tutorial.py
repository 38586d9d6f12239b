"""The tutorial's networks (examples/demo_network_v1..v4), run unmodified with `simulate`."""

from __future__ import annotations

import time

import pytest
from simhelp import read_csv, wait_until


def _stop_with_ctrl_c(run) -> None:
    """Ctrl+C the group: simulate exits 0 and every process of the group is gone within 5 s."""
    run.interrupt()
    interrupted = time.monotonic()
    assert run.wait(10) == 0, run.output()
    wait_until(lambda: not run.members(), 5 - (time.monotonic() - interrupted),
               "every process of the simulation to exit after Ctrl+C")
    assert time.monotonic() - interrupted < 5, "the network took 5 s or more to stop on Ctrl+C"
    assert "stopped" in run.stderr


@pytest.mark.timeout(40)
def test_v1_prints_prefixed_lines_and_stops_on_ctrl_c(sim, examples_project):
    run = sim(examples_project, "demo_network_v1")
    wait_until(lambda: "[JoinJob 4] 4 -> 8\n" in run.stdout, 20, "JoinJob 4 to print 4 -> 8")
    _stop_with_ctrl_c(run)

    lines = run.stdout.splitlines()
    # Every source prints "<id> -> <value>" with its id, each line prefixed by the job's name.
    for job_id in (1, 2, 3):
        assert f"[SourceJob {job_id}] {job_id} -> 1" in lines
        assert f"[SourceJob {job_id}] {job_id} -> 2" in lines
    joins = [line for line in lines if line.startswith("[JoinJob 4] ")]
    assert joins[:2] == ["[JoinJob 4] 4 -> 1", "[JoinJob 4] 4 -> 8"]
    assert all(line.startswith("[") for line in lines if line), run.output()

    info = (run.folder / "info.txt").read_text()
    classes = {1: "SourceJob", 2: "SourceJob", 3: "SourceJob", 4: "JoinJob", 5: "ReduceJob"}
    info_lines = info.splitlines()
    for job_id, name in classes.items():
        assert any(line.startswith(f"{job_id}\t") and f".{name}\t" in line
                   for line in info_lines), info
        assert (run.job_dir(job_id) / "job.log").is_file()
    assert sorted(p.name for p in run.folder.iterdir()) == [
        "1", "2", "3", "4", "5", "info.txt", "statistics.json"]


@pytest.mark.timeout(40)
def test_v2_runs_for_its_duration_and_exits_0(sim, examples_project):
    run = sim(examples_project, "demo_network_v2", "--duration", "5")
    started = time.monotonic()
    assert run.wait(20) == 0, run.output()
    assert 5 <= time.monotonic() - started < 12
    assert "[JoinJob 4] 4 -> 1\n" in run.stdout
    assert "[JoinJob 4] 4 -> 8\n" in run.stdout
    assert "--duration" in run.stderr
    assert not run.members()
    for job_id in range(1, 6):
        assert (run.job_dir(job_id) / "job.log").is_file()
    assert "demo_network_v2.jobs.jobs.JoinJob" in (run.folder / "info.txt").read_text()


@pytest.mark.timeout(60)
def test_v3_writes_join_and_reduce_csv(sim, examples_project):
    run = sim(examples_project, "demo_network_v3")
    reduce_csv = examples_project / "demo_network_v3" / "simulation" / "7" / "reduce.csv"
    # The sources yield once a second; ReduceJob needs 5 JoinJob results for its first row.
    wait_until(lambda: reduce_csv.exists() and len(read_csv(reduce_csv)) >= 2, 30,
               "the first row of reduce.csv")
    _stop_with_ctrl_c(run)

    join = read_csv(run.job_dir(6) / "join.csv")
    assert join[0] == ["pipe_201", "pipe_202", "pipe_203", "pipe_205"]
    rows = join[1:]
    assert len(rows) >= 5
    assert rows == [[str(k), str(k), str(k), str(k**3)] for k in range(1, len(rows) + 1)]

    reduce = read_csv(reduce_csv)
    assert reduce[0] == ["pipe_301"]
    assert reduce[1] == [str(1 + 8 + 27 + 64 + 125)]
    for row, values in enumerate(reduce[1:]):
        assert values == [str(sum(k**3 for k in range(5 * row + 1, 5 * row + 6)))]
    assert "[ReduceJob 5] 5 -> Sum over [1, 8, 27, 64, 125] is 225\n" in run.stdout


def _join_rows(run) -> list[list[str]]:
    path = run.job_dir(7) / "join.csv"
    return read_csv(path)[1:] if path.exists() else []


@pytest.mark.timeout(60)
def test_v4_send_switches_the_operator(sim, manage, examples_project):
    run = sim(examples_project, "demo_network_v4")
    wait_until(lambda: len(_join_rows(run)) >= 2, 20, "two rows in join.csv")

    # Only job 1 is an InteractiveJob: sending to another job is a clear error.
    wrong = manage(examples_project, "demo_network_v4", "send", "2", "*")
    assert wrong.returncode != 0
    assert "error:" in wrong.stderr and "job 2" in wrong.stderr
    assert "InteractiveJob" in wrong.stderr
    assert run.popen.poll() is None, "a bad send must not disturb the running network"

    sent = manage(examples_project, "demo_network_v4", "send", "1", "*")
    assert sent.returncode == 0, sent.stderr
    wait_until(lambda: any(row[4] == "*" for row in _join_rows(run)), 15,
               "a join.csv row with the operator '*'")
    _stop_with_ctrl_c(run)

    header = read_csv(run.job_dir(7) / "join.csv")[0]
    assert header == ["pipe_201", "pipe_202", "pipe_203", "pipe_204", "pipe_205"]
    rows = _join_rows(run)
    operators = [row[4] for row in rows]
    switch = operators.index("*")
    assert switch >= 2
    assert operators == ["+"] * switch + ["*"] * (len(rows) - switch)
    for k, row in enumerate(rows, start=1):
        # Sources: start 1 step 1; start 20 step 2; start 1 step -1.
        assert row[:3] == [str(k), str(20 + 2 * (k - 1)), str(1 - (k - 1))]
        assert row[3] == str(eval(row[4].join(row[:3])))

    # The network is gone: send says so and fails.
    late = manage(examples_project, "demo_network_v4", "send", "1", "+")
    assert late.returncode != 0
    assert "not running" in late.stderr


@pytest.mark.timeout(30)
def test_send_when_nothing_runs_fails_clearly(manage, examples_project):
    result = manage(examples_project, "demo_network_v4", "send", "1", "*")
    assert result.returncode != 0
    assert result.stderr.startswith("error: ")
    assert "demo_network_v4" in result.stderr and "not running" in result.stderr
    assert "Traceback" not in result.stderr
