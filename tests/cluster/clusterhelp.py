"""Helpers of the cluster tests: node agents on loopback addresses and `run` processes.

Each agent is a real ``fission node`` process in a session of its own, bound to its own
loopback address (127.0.0.2, 127.0.0.3, ...) and with its own HOME, so that the nodes'
folders (``REMOTE_ROOT = "~/fission"``) are as separate as on real machines.

A cluster holds the credentials of one project (made once, in the cluster's folder),
and each agent the bundle exported for its address; every test project of that
cluster gets a copy of them, as if it were that one project.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from childprocess import EXAMPLES, child_env, wait_until  # noqa: F401 - re-exported

from fission.events import EVENTS, read_events
from fission.security.credentials import export_node, init_project

HERE = Path(__file__).resolve().parent
CLIENT_IP = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((CLIENT_IP, 0))
        return probe.getsockname()[1]


def job_processes(under: Path) -> list[psutil.Process]:
    """Live job runtime processes working anywhere under ``under``."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        try:
            if (process.info["status"] != psutil.STATUS_ZOMBIE
                    and "fission.runtime.entry" in " ".join(process.info["cmdline"] or ())
                    and Path(process.cwd()).is_relative_to(under)):
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


def running_jobs(under: Path) -> list[psutil.Process]:
    """The processes running a job under ``under``: of :func:`job_processes`, those whose
    parent is the job's keeper (fission.runtime.descendants), not the keepers themselves
    nor forks the jobs made."""
    found = job_processes(under)
    pids = {process.pid for process in found}
    return [process for process in found
            if process.ppid() in pids and psutil.Process(process.ppid()).ppid() not in pids]


class Agent:
    """One ``fission node`` process; in network namespace ``namespace`` if one is given."""

    def __init__(self, root: Path, host: str, port: int, cpus: int = 4,
                 client: str = CLIENT_IP, namespace: str | None = None,
                 credentials: Path | None = None) -> None:
        """``credentials``: the project whose node this is; None for an ``--insecure`` one."""
        self.host = host
        self.home = root / f"node-{host}"
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path = self.home / "agent.log"
        inside = ["ip", "netns", "exec", namespace] if namespace else []
        if credentials is None:
            trust = ["--insecure"]
        else:
            bundle = self.home / "node-credentials.json"
            export_node(credentials, host, bundle)
            trust = ["--credentials", str(bundle)]
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [*inside, sys.executable, "-m", "fission.cli.main", "node", "--client", client,
                 "--port", str(port), "--host", host, "--cpus", str(cpus), *trust],
                env=child_env(HOME=str(self.home)), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def joins(self) -> int:
        return self.log.count("joined the client")

    def folder(self, network: str) -> Path:
        return self.home / "fission" / network

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal_session(self, signum: int) -> None:
        os.killpg(self.popen.pid, signum)

    def kill(self) -> None:
        """SIGKILL the agent alone: its job processes must die with it by themselves."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def close(self) -> None:
        if self.alive:
            for signum in (signal.SIGCONT, signal.SIGTERM):
                try:
                    os.killpg(self.popen.pid, signum)
                except ProcessLookupError:
                    pass
            try:
                self.popen.wait(8)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(10)


class Cluster:
    """Agents on 127.0.0.2.. for one scheduler port."""

    def __init__(self, root: Path, count: int = 3, cpus: int = 4, secure: bool = True) -> None:
        """``secure``: agents with the cluster's credentials, else ``--insecure`` ones."""
        self.root = root
        self.port = free_port()
        #: The project folder whose credentials the agents hold (it holds nothing else).
        self.keys = root / "keys"
        self.keys.mkdir(parents=True)
        init_project(self.keys)
        self.agents = [Agent(root, f"127.0.0.{2 + index}", self.port, cpus,
                             credentials=self.keys if secure else None)
                       for index in range(count)]

    def agent(self, host: str) -> Agent:
        return next(agent for agent in self.agents if agent.host == host)

    def close(self) -> None:
        for agent in self.agents:
            agent.close()


def make_project(root: Path, cluster: Cluster, network: str = "demo_network_v3", *,
                 nodes: str | None = None, extra: str = "") -> Path:
    """A copy of examples/ whose ``network`` runs on ``cluster``; returns the project."""
    project = root / "project"
    if not project.exists():
        shutil.copytree(EXAMPLES, project, ignore=shutil.ignore_patterns(
            "simulation", "local", ".fission", "__pycache__", "FISSION.log", "collection",
            "credentials"))
        shutil.copytree(cluster.keys / "credentials", project / "credentials")
        shutil.copy(HERE / "clusterjobs.py", project / "shared" / "clusterjobs.py")
    config = project / network / "config.py"
    text = config.read_text()
    hosts = [agent.host for agent in cluster.agents]
    text = text.replace('CLIENT_IP = "192.168.4.1"', f'CLIENT_IP = "{CLIENT_IP}"')
    text = text.replace('REMOTE_ROOT = f"/home/{USER}/fission/"', 'REMOTE_ROOT = "~/fission"')
    default_nodes = "[" + ", ".join(f'BaseNode("{host}")' for host in hosts) + "]"
    start = text.index("NODES = [")
    end = text.index("]", start) + 1
    text = text[:start] + f"NODES = {nodes or default_nodes}" + text[end:]
    text += f"\nSCHEDULER_PORT = {cluster.port}\nNODE_WAIT = 20\n{extra}\n"
    config.write_text(text)
    return project


def settings_for(cluster: Cluster) -> str:
    """The config.py lines that point a test network at ``cluster``'s scheduler and nodes."""
    nodes = ", ".join(f'BaseNode("{agent.host}")' for agent in cluster.agents)
    return (f'CLIENT_IP = "{CLIENT_IP}"\nREMOTE_ROOT = "~/fission"\n'
            f"SCHEDULER_PORT = {cluster.port}\nNODE_WAIT = 20\n"
            f"from fission.core.nodes import BaseNode\nNODES = [{nodes}]\n")


def network_package(project: Path, name: str, config: str) -> Path:
    folder = project / name
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "config.py").write_text(config)
    return folder


class Run:
    """One ``python3 manage.py NET run ...`` process, leading its own process group."""

    def __init__(self, project: Path, network: str, *args: str) -> None:
        self.project, self.network = project, network
        self.out_path = project / f".{network}.{time.monotonic_ns()}.out"
        with self.out_path.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "manage.py", network, "run", *args], cwd=project,
                env=child_env(), stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.started = time.monotonic()

    @property
    def local(self) -> Path:
        return self.project / self.network / "local"

    @property
    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def events(self) -> list[dict]:
        path = self.local / "events.jsonl"
        return read_events(path) if path.exists() else []

    def events_of(self, kind: str, **fields) -> list[dict]:
        """The events named ``kind`` with these ``fields``; a name no run writes is a
        mistake of the test (it would match nothing, and the test could never fail)."""
        if kind not in EVENTS:
            raise ValueError(f"no event is called {kind!r}; the events are {sorted(EVENTS)}")
        return [e for e in self.events() if e["event"] == kind
                and all(e.get(key) == value for key, value in fields.items())]

    def placed(self, incarnation: int = 0) -> dict[int, str]:
        return {e["job"]: e["node"] for e in self.events_of("placed", incarnation=incarnation)}

    def wait(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"run did not exit within {timeout} s\n{self.output}")

    def interrupt(self) -> None:
        os.killpg(self.popen.pid, signal.SIGINT)

    def kill(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(10)


def csv_rows(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [line.split(",") for line in lines[1:] if line.count(",") == lines[0].count(",")]


def check_products(rows: list[list[str]]) -> None:
    """join.csv of the tutorial's v3: each row's last column is the product of the others."""
    assert rows, "join.csv has no rows"
    for row in rows:
        a, b, c, product = (int(value) for value in row)
        assert a * b * c == product, f"row {row}: {a}*{b}*{c} != {product}"
