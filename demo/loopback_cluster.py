"""The tutorial's version-3 network on three nodes of this machine, with a failover.

`make demo` runs this after the simulation. It plays a cluster on one Linux machine with
:mod:`fission.loopback`: three `fission node` agents bound to 127.0.0.2, .3 and .4, each
with its own home folder and its own node credentials (the bundle `fission credentials
export` writes), and `python3 manage.py demo_network_v3 run` as the client on 127.0.0.1.
After a few rows it SIGKILLs the agent running the JoinJob, as if that Raspberry Pi had
lost power, and the network goes on on the two others. It stops by itself and leaves no
process behind.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from fission.loopback import EXAMPLES, Cluster, Run, copy_project, point_config

NETWORK = "demo_network_v3"
JOIN = 4


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="fission-demo-") as scratch:
        root = Path(scratch)
        with Cluster(root / "nodes", count=3, tied=True) as cluster:
            project = copy_project(EXAMPLES, root / "project", cluster.keys)
            point_config(project / NETWORK / "config.py", cluster)
            run = Run(project, NETWORK, "--duration", "14", tied=True, show=True)
            try:
                join_csv = run.local / "6" / "join.csv"
                _wait(lambda: _rows(join_csv) >= 4, 30, run)
                node = run.placed()[JOIN]
                print(f"\n*** demo: SIGKILL of the node agent on {node}, which runs the "
                      "JoinJob ***\n", flush=True)
                cluster.agent(node).kill()
                status = run.wait(60)
                print(f"{join_csv.relative_to(project)} (each row's last column is the "
                      "product of the others, also after the failover):")
                print(join_csv.read_text())
                print("failover as NET/local/events.jsonl recorded it:")
                for event in run.events():
                    if event["event"] in ("node_down", "failover_started", "failover_done"):
                        print("  " + json.dumps(event))
                return status
            finally:
                run.stop(grace=10)


def _rows(path: Path) -> int:
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


def _wait(predicate, timeout: float, run: Run) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline or run.popen.poll() is not None:
            raise SystemExit(f"demo: no rows within {timeout} s")
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main())
