"""Failover when a node's link is cut: a node in a network namespace, its traffic dropped.

The client and two agents use addresses on the host's end of a veth pair; the third
agent runs inside a network namespace at the other end. Cutting the link is an
nftables rule in the namespace that drops everything, as a dead radio link would:
no connection is reset, the node just goes silent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from clusterhelp import (
    Cluster,
    check_products,
    csv_rows,
    job_processes,
    make_project,
    network_package,
    wait_until,
)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nft"),
    reason="needs root, iproute2 and nftables to build a network namespace",
)

SUBNET = f"10.231.{os.getpid() % 250}"
CLIENT, CUT_NODE, NODES = f"{SUBNET}.1", f"{SUBNET}.2", [f"{SUBNET}.3", f"{SUBNET}.4"]


def _sh(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=10)


@pytest.fixture
def namespace():
    name = f"fission-test-{os.getpid()}"
    host_end, node_end = f"fh{os.getpid() % 100000}", f"fn{os.getpid() % 100000}"
    _sh("ip", "netns", "add", name)
    try:
        _sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", node_end)
        _sh("ip", "link", "set", node_end, "netns", name)
        for address in (CLIENT, *NODES):
            _sh("ip", "addr", "add", f"{address}/24", "dev", host_end)
        _sh("ip", "link", "set", host_end, "up")
        _sh("ip", "netns", "exec", name, "ip", "addr", "add", f"{CUT_NODE}/24", "dev", node_end)
        _sh("ip", "netns", "exec", name, "ip", "link", "set", node_end, "up")
        _sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "delete", host_end], capture_output=True, timeout=10)


@pytest.mark.timeout(120)
def test_cut_link_fails_over_and_the_cut_node_stops_its_jobs(namespace, runs,
                                                               tmp_path: Path) -> None:
    # One agent inside the namespace, two on the host's end of the veth pair.
    cluster = Cluster(tmp_path / "nodes", hosts=[CUT_NODE, *NODES], client=CLIENT,
                      namespaces={CUT_NODE: namespace})
    try:
        project = make_project(tmp_path, cluster)
        folder = network_package(project, "cut", (project / "demo_network_v3" / "config.py")
                                 .read_text()
                                 .replace('CLIENT_IP = "127.0.0.1"', f'CLIENT_IP = "{CLIENT}"')
                                 .replace("from demo_network_v3.jobs.jobs import ReduceJob, "
                                          "JoinJob", "from cut.jobs import ReduceJob, JoinJob"))
        (folder / "jobs.py").write_text(
            "from demo_network_v3.jobs.jobs import JoinJob as Join, ReduceJob\n\n\n"
            f"class JoinJob(Join):\n    DEFAULT_NODE = {CUT_NODE!r}\n"
        )
        run = runs(project, "cut")
        join_csv = run.local / "6" / "join.csv"
        wait_until(lambda: len(csv_rows(join_csv)) >= 2, 40, f"two rows\n{run.output}")
        assert run.placed()[4] == CUT_NODE
        agent = cluster.agents[0]
        assert job_processes(agent.home)
        for hook in ("input", "output"):
            _sh("ip", "netns", "exec", namespace, "nft", "add", "table", "inet", "cut")
            _sh("ip", "netns", "exec", namespace, "nft", "add", "chain", "inet", "cut", hook,
                f"{{ type filter hook {hook} priority 0 ; policy drop ; }}")
        before = len(csv_rows(join_csv))
        wait_until(lambda: run.events_of("failover_done", job=4), 15,
                   f"JoinJob 4 to be replaced\n{run.output}")
        assert run.events_of("node_down", node=CUT_NODE)[0]["why"] == "silent"
        wait_until(lambda: len(csv_rows(join_csv)) >= before + 3, 15, "rows after the cut")
        check_products(csv_rows(join_csv))
        # The cut node's agent loses the scheduler and stops the old copies by itself.
        wait_until(lambda: not job_processes(agent.home), 40,
                   f"the cut node to stop its jobs\n{agent.log}")
        run.interrupt()
        assert run.wait(10) == 0, run.output
        # What the cut node had not passed on was computed again by its replacement.
        assert run.input_totals("dummies") == dict.fromkeys(run.placed(), 0), run.output
    finally:
        cluster.close()
