"""The monitor's figures (rates, states from events, backing-up pipes) and /metrics' series."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from fission.backends.monitor import CLIENT, Monitor
from fission.core.jobs import PythonJob
from fission.core.network import Network
from fission.core.pipes import PicklePipe
from fission.dashboard.metrics import exposition, registry
from fission.events import record


class Src(PythonJob):
    def run(self):
        yield 1


class One(PythonJob):
    def run(self, a):
        return a


def _monitor() -> Monitor:
    network = Network.from_jobs([Src(outputs=[PicklePipe(7)]), One(inputs=[PicklePipe(7)])])
    return Monitor("net", network, "run", client_ip="10.0.0.1")


def _figures(runs: int, sent: int, received: int, waiting: int = 0, cpu: float = 0.0) -> tuple:
    source = {"runs": runs, "inputs": {}, "blocks_out": {"7": sent}, "blocks_in": {},
              "waiting": {}, "cpu": cpu, "rss": 1000}
    sink = {"runs": received, "inputs": {"7": {"dummies": 2, "dropped": 1, "garbage": 3,
                                               "stale": 0}},
            "blocks_in": {"7": received}, "blocks_out": {}, "waiting": {"7": waiting},
            "cpu": cpu, "rss": 2000}
    return source, sink


def _series(monitor: Monitor) -> dict[tuple[str, tuple], float]:
    text = exposition(registry(monitor)).decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_rates_and_cpu_come_from_two_reports(monkeypatch) -> None:
    monitor = _monitor()
    clock = iter([100.0, 102.0])
    monkeypatch.setattr("fission.backends.monitor.time.monotonic", lambda: next(clock))
    monitor.figures(1, _figures(10, 10, 0, cpu=1.0)[0])
    monitor.figures(1, _figures(30, 30, 0, cpu=2.0)[0])
    job = monitor.snapshot()["jobs"][0]
    assert job["runs"] == 30
    assert job["runs_per_s"] == 10.0
    assert job["cpu_percent"] == 50.0
    assert job["blocks_out"] == {7: 30}


def test_a_job_that_runs_every_few_seconds_shows_its_average_rate(monkeypatch) -> None:
    monitor = _monitor()
    clock = iter(float(second) for second in range(100))
    monkeypatch.setattr("fission.backends.monitor.time.monotonic", lambda: next(clock))
    for runs in (0, 0, 0, 0, 0, 5):  # one report a second; five runs at once, then nothing
        monitor.figures(2, {**_figures(0, 0, 0)[1], "runs": runs})
    assert monitor.snapshot()["jobs"][1]["runs_per_s"] == 1.0
    monitor.finished(2, {**_figures(0, 0, 0)[1], "runs": 6})
    monitor.event(record("job_finished", job=2))
    assert monitor.snapshot()["jobs"][1]["runs_per_s"] == 0.0


def test_states_and_nodes_follow_the_events() -> None:
    monitor = _monitor()
    monitor.event(record("placed", job=1, node="10.0.0.1", incarnation=0))
    monitor.event(record("placed", job=2, node="10.0.0.2", incarnation=0))
    monitor.event(record("job_started", job=2, node="10.0.0.2", incarnation=0))
    jobs = {job["id"]: job for job in monitor.snapshot()["jobs"]}
    assert (jobs[1]["node"], jobs[1]["state"]) == (CLIENT, "starting")
    assert (jobs[2]["node"], jobs[2]["state"]) == ("10.0.0.2", "running")
    monitor.event(record("failover_started", node="10.0.0.2", jobs=[2]))
    assert monitor.snapshot()["jobs"][1]["state"] == "moving"
    monitor.event(record("placed", job=2, node="10.0.0.3", incarnation=1))
    monitor.event(record("job_started", job=2, node="10.0.0.3", incarnation=1))
    monitor.event(record("failover_done", node="10.0.0.2", jobs=[2], seconds=0.5))
    job = monitor.snapshot()["jobs"][1]
    assert (job["node"], job["state"], job["restarts"]) == ("10.0.0.3", "running", 1)
    assert monitor.snapshot()["failovers"] == 1
    assert monitor.snapshot()["failover_seconds"] == [0.5]


def test_a_job_ends_finished_failed_or_stopped() -> None:
    monitor = _monitor()
    for job_id in (1, 2):
        monitor.event(record("placed", job=job_id, node="10.0.0.2", incarnation=0))
        monitor.event(record("job_started", job=job_id, node="10.0.0.2", incarnation=0))
    monitor.event(record("job_finished", job=1))
    monitor.event(record("job_failed", job=2, error="ValueError: no"))
    assert [job["state"] for job in monitor.snapshot()["jobs"]] == ["finished", "failed"]
    stopped = _monitor()
    stopped.event(record("job_started", job=2, node="10.0.0.2", incarnation=0))
    stopped.finished(2, _figures(0, 0, 3)[1], stopped=True)
    assert stopped.snapshot()["jobs"][1]["state"] == "stopped"


def test_a_pipe_with_a_backlog_of_its_hwm_is_backing_up() -> None:
    monitor = _monitor()
    hwm = PicklePipe(7).HWM
    source, sink = _figures(hwm + 5, hwm + 5, 4, waiting=1)
    monitor.figures(1, source)
    monitor.figures(2, sink)
    (pipe,) = monitor.snapshot()["pipes"]
    assert (pipe["from"], pipe["to"], pipe["backlog"]) == (1, 2, hwm + 2)
    assert pipe["backing_up"]
    source, sink = _figures(10, 10, 10)
    monitor.figures(1, source)
    monitor.figures(2, sink)
    assert not monitor.snapshot()["pipes"][0]["backing_up"]


def test_metrics_have_the_fission_series_with_their_labels() -> None:
    monitor = _monitor()
    monitor.event(record("placed", job=2, node="10.0.0.2", incarnation=0))
    source, sink = _figures(5, 5, 4, waiting=1)
    monitor.figures(1, source)
    monitor.figures(2, sink)
    monitor.nodes([{"ip": "10.0.0.2", "cpus": 4, "cpu": 50.0}])
    monitor.event(record("failover_started", node="10.0.0.4", jobs=[1, 2]))
    monitor.event(record("failover_done", job=1, node="10.0.0.5", seconds=1.5))
    monitor.event(record("failover_done", job=2, node="10.0.0.5", seconds=0.5))
    series = _series(monitor)
    one = (("job", "1"), ("name", "Src"), ("node", CLIENT))
    two = (("job", "2"), ("name", "One"), ("node", "10.0.0.2"))
    assert series[("fission_job_runs_total", one)] == 5
    assert series[("fission_pipe_blocks_sent_total", (*one, ("pipe", "7")))] == 5
    assert series[("fission_pipe_blocks_received_total", (*two, ("pipe", "7")))] == 4
    assert series[("fission_input_waiting_blocks", (*two, ("pipe", "7")))] == 1
    assert series[("fission_input_dummies_total", (*two, ("pipe", "7")))] == 2
    assert series[("fission_input_drops_total", (*two, ("pipe", "7")))] == 1
    assert series[("fission_input_garbage_total", (*two, ("pipe", "7")))] == 3
    assert series[("fission_job_restarts_total", two)] == 0
    assert series[("fission_failovers_total", ())] == 1
    assert series[("fission_failover_duration_seconds_sum", ())] == 2.0
    assert series[("fission_failover_duration_seconds_count", ())] == 2
    assert series[("fission_node_up", (("node", "10.0.0.2"),))] == 1
    monitor.nodes([])
    assert _series(monitor)[("fission_node_up", (("node", "10.0.0.2"),))] == 0
    assert all(re.fullmatch(r"fission_\w+", name) for name, _ in series)


def test_lines_keep_the_last_ones_of_each_job() -> None:
    monitor = _monitor()
    for number in range(50):
        monitor.line(2, f"line {number}\n")
    lines = monitor.snapshot()["jobs"][1]["lines"]
    assert lines[-1] == "line 49" and len(lines) == 20
