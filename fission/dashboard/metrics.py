"""``/metrics``: a run's figures in the Prometheus text format.

A collector turns the monitor's snapshot into metric families at each scrape, so
nothing is kept twice and the series always match what the page shows. Labels:
``job`` (its id), ``name`` (its class), ``node`` (where it runs; ``client`` for the
client), and ``pipe`` on the series of one pipe.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from fission.backends.monitor import Monitor

JOB = ["job", "name", "node"]
PIPE = [*JOB, "pipe"]


class _Collector(Collector):
    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Metric]:
        snapshot = self.monitor.snapshot()
        runs = CounterMetricFamily("fission_job_runs", "Runs of a job so far", labels=JOB)
        restarts = CounterMetricFamily("fission_job_restarts",
                                       "Times a job was started again (failover)", labels=JOB)
        cpu = GaugeMetricFamily("fission_job_cpu_percent", "CPU use of a job's process",
                                labels=JOB)
        rss = GaugeMetricFamily("fission_job_rss_bytes", "Resident memory of a job's process",
                                labels=JOB)
        state = GaugeMetricFamily("fission_job_state", "1 for a job's current state",
                                  labels=[*JOB, "state"])
        sent = CounterMetricFamily("fission_pipe_blocks_sent", "Blocks a job sent on a pipe",
                                   labels=PIPE)
        received = CounterMetricFamily("fission_pipe_blocks_received",
                                       "Blocks a job received on an input pipe", labels=PIPE)
        waiting = GaugeMetricFamily("fission_input_waiting_blocks",
                                    "Blocks of an input waiting for their run", labels=PIPE)
        dummies = CounterMetricFamily("fission_input_dummies",
                                      "Dummy blocks put in for missing ones", labels=PIPE)
        drops = CounterMetricFamily("fission_input_drops",
                                    "Blocks dropped beyond MAX_QUEUE or by an optional "
                                    "input's policy", labels=PIPE)
        garbage = CounterMetricFamily("fission_input_garbage",
                                      "Unreadable blocks dropped", labels=PIPE)
        for job in snapshot["jobs"]:
            labels = [str(job["id"]), job["kind"], job["node"]]
            runs.add_metric(labels, job["runs"])
            restarts.add_metric(labels, job["restarts"])
            cpu.add_metric(labels, job["cpu_percent"])
            rss.add_metric(labels, job["rss"])
            state.add_metric([*labels, job["state"]], 1)
            for pipe, count in job["blocks_out"].items():
                sent.add_metric([*labels, str(pipe)], count)
            for pipe, count in job["blocks_in"].items():
                received.add_metric([*labels, str(pipe)], count)
            for pipe, count in job["waiting"].items():
                waiting.add_metric([*labels, str(pipe)], count)
            for pipe, counts in job["inputs"].items():
                pipe_labels = [*labels, str(pipe)]
                dummies.add_metric(pipe_labels, counts.get("dummies", 0))
                drops.add_metric(pipe_labels, counts.get("dropped", 0))
                garbage.add_metric(pipe_labels, counts.get("garbage", 0))
        yield from (runs, restarts, cpu, rss, state, sent, received, waiting, dummies, drops,
                    garbage)
        yield from _failovers(snapshot)
        yield _nodes(snapshot["nodes"])


def _failovers(snapshot: dict[str, Any]) -> Iterator[Metric]:
    durations = snapshot["failover_seconds"]
    yield CounterMetricFamily("fission_failovers", "Failovers started (one per node lost)",
                              value=snapshot["failovers"])
    yield SummaryMetricFamily("fission_failover_duration_seconds",
                              "From a node's loss to one of its jobs running again, wired "
                              "(one observation per job replaced)",
                              count_value=len(durations), sum_value=sum(durations))


def _nodes(nodes: list[dict[str, Any]]) -> Metric:
    up = GaugeMetricFamily("fission_node_up", "1 while a node is up, 0 once it is down",
                           labels=["node"])
    for node in nodes:
        up.add_metric([node["ip"]], 1 if node["up"] else 0)
    return up


def registry(monitor: Monitor) -> CollectorRegistry:
    """A registry of this run's series only (not the process-wide default one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(monitor))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The text format a Prometheus server scrapes."""
    return generate_latest(registry)
