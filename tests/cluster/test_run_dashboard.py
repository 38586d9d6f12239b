"""The dashboard of a `run`: nodes, placement, and a failover seen in the page and /metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from browserhelp import cell, chromium, graph_parent
from clusterhelp import csv_rows, make_project, wait_until
from dashhelp import dashboard_of, get
from prometheus_client.parser import text_string_to_metric_families

V3 = "demo_network_v3"


def _snapshot(base: str, token: str) -> dict:
    status, _, body = get(base + "snapshot", {"Authorization": f"Bearer {token}"})
    assert status == 200
    return json.loads(body)


def _metrics(base: str, token: str) -> dict:
    status, _, body = get(base + "metrics", {"Authorization": f"Bearer {token}"})
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


@pytest.mark.timeout(120)
def test_a_killed_node_shows_in_the_timeline_and_its_job_moves(own_cluster, runs,
                                                               tmp_path: Path) -> None:
    project = make_project(tmp_path, own_cluster)
    run = runs(project, V3)
    base, token = dashboard_of(lambda: run.output, 30)
    wait_until(lambda: len(csv_rows(run.local / "6" / "join.csv")) >= 2, 30, "two rows")
    snapshot = _snapshot(base, token)
    nodes = {node["ip"]: node for node in snapshot["nodes"]}
    assert set(nodes) == {agent.host for agent in own_cluster.agents}
    assert all(node["up"] and node["cpus"] == 4 and node["age"] < 2 for node in nodes.values())
    # Free CPU, memory, disk, swap and TQ, as each node's heartbeat measured them.
    assert all(0 <= node["cpu"] <= 100 and node["memory"] > 0 and node["disk"] > 0
               and 0 <= node["swap"] <= 100 and 0 <= node["TQ"] <= 255 for node in nodes.values())
    old = run.placed()[4]
    jobs = {job["id"]: job for job in snapshot["jobs"]}
    assert jobs[4]["node"] == old and jobs[6]["node"] == "client"
    assert sorted(nodes[old]["jobs"]) == sorted(j for j, n in run.placed().items() if n == old)

    with chromium() as browser:
        browser.get(f"{base}?token={token}")
        wait_until(lambda: graph_parent(browser, 4) == f"m:{old}", 20,
                   "JoinJob 4 drawn in its node")
        own_cluster.agent(old).kill()
        wait_until(lambda: run.events_of("failover_done", job=4), 15, "the failover")
        new = run.placed(incarnation=1)[4]
        wait_until(lambda: graph_parent(browser, 4) == f"m:{new}", 10,
                   "JoinJob 4 to move to its new node on the page")
        wait_until(lambda: "failover_done" in browser.find_element("id", "events").text, 5,
                   "the failover in the page's timeline")
        wait_until(lambda: cell(browser, 4, 12) == "1", 5, "JoinJob's restart in the table")

    snapshot = _snapshot(base, token)
    job = snapshot["jobs"][3]
    assert (job["node"], job["restarts"], job["incarnation"]) == (new, 1, 1)
    assert {node["ip"]: node["up"] for node in snapshot["nodes"]}[old] is False
    kinds = [event["event"] for event in snapshot["events"]]
    assert kinds.index("node_down") < kinds.index("failover_started") < kinds.index(
        "failover_done")
    metrics = _metrics(base, token)
    assert metrics[("fission_failovers_total", ())] == 1  # one node lost
    assert 0 < metrics[("fission_failover_duration_seconds_sum", ())] < 5
    assert metrics[("fission_node_up", (("node", old),))] == 0
    assert metrics[("fission_job_restarts_total",
                    (("job", "4"), ("name", "JoinJob"), ("node", new)))] == 1
    run.interrupt()
    assert run.wait(20) == 0, run.output
