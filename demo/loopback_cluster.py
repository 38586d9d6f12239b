"""The tutorial's version-3 network on three nodes of this machine, with a failover.

`make demo` runs this after the simulation. It plays a cluster on one Linux machine:
three `fission node` agents bound to 127.0.0.2, .3 and .4, each with its own home
folder and its own credentials (exported as a user does, with `fission credentials
export`), and `python3 manage.py demo_network_v3 run` as the client on 127.0.0.1. After
a few rows it SIGKILLs the agent running the JoinJob, as if that Raspberry Pi had lost
power, and the network goes on on the two others. It stops by itself and leaves no
process behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NETWORK = "demo_network_v3"
NODES = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="fission-demo-") as scratch:
        root = Path(scratch)
        project = root / "project"
        shutil.copytree(EXAMPLES, project, ignore=shutil.ignore_patterns(
            "simulation", "local", "collection", ".fission", "__pycache__", "*.log",
            "credentials"))
        port = _free_port()
        _configure(project / NETWORK / "config.py", port)
        agents = [_start_agent(root, project, host, port) for host in NODES]
        client = None
        try:
            client = subprocess.Popen([sys.executable, "manage.py", NETWORK, "run",
                                       "--duration", "14"], cwd=project, start_new_session=True)
            join_csv = project / NETWORK / "local" / "6" / "join.csv"
            _wait(lambda: _rows(join_csv) >= 4, 30)
            node = _placed(project, 4)
            print(f"\n*** demo: SIGKILL of the node agent on {node}, which runs the JoinJob ***\n",
                  flush=True)
            agents[NODES.index(node)].send_signal(signal.SIGKILL)
            status = client.wait(60)
            print(f"\n{join_csv.relative_to(project)} (each row's last column is the product of "
                  "the others, also after the failover):")
            print(join_csv.read_text())
            print("failover as NET/local/events.jsonl recorded it:")
            for event in _events(project):
                if event["event"] in ("node_down", "failover_started", "failover_done"):
                    print("  " + json.dumps(event))
            return status
        finally:
            if client is not None and client.poll() is None:
                os.killpg(client.pid, signal.SIGINT)
                client.wait(10)
            for agent in agents:
                _stop(agent)


def _configure(config: Path, port: int) -> None:
    text = config.read_text()
    text = text.replace('CLIENT_IP = "192.168.4.1"', 'CLIENT_IP = "127.0.0.1"')
    text = text.replace('REMOTE_ROOT = f"/home/{USER}/fission/"', 'REMOTE_ROOT = "~/fission"')
    for index, host in enumerate(NODES):
        text = text.replace(f'BaseNode("192.168.4.{index + 2}")', f'BaseNode("{host}")')
    config.write_text(text + f"\nSCHEDULER_PORT = {port}\n")


def _start_agent(root: Path, project: Path, host: str, port: int) -> subprocess.Popen:
    home = root / f"node-{host}"
    home.mkdir()
    fission = [sys.executable, "-m", "fission.cli.main"]
    credentials = home / "fission-credentials.json"
    subprocess.run([*fission, "credentials", "export", host, str(credentials)], cwd=project,
                   check=True, stdout=subprocess.DEVNULL)
    return subprocess.Popen(
        [*fission, "node", "--client", "127.0.0.1", "--port", str(port), "--host", host,
         "--cpus", "4", "--credentials", str(credentials)],
        env={**os.environ, "HOME": str(home)}, stdout=subprocess.DEVNULL,
        start_new_session=True)


def _stop(agent: subprocess.Popen) -> None:
    if agent.poll() is None:
        os.killpg(agent.pid, signal.SIGTERM)
        try:
            agent.wait(8)
        except subprocess.TimeoutExpired:
            os.killpg(agent.pid, signal.SIGKILL)
            agent.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rows(path: Path) -> int:
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


def _events(project: Path) -> list[dict]:
    path = project / NETWORK / "local" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _placed(project: Path, job: int) -> str:
    return next(e["node"] for e in _events(project) if e["event"] == "placed" and e["job"] == job)


def _wait(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: nothing happened within {timeout} s")
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main())
