"""A FISSION cluster on one machine: node agents on loopback addresses, and `run` clients.

The cluster tests, the benchmarks and `make demo` all need the same thing: real
``fission node`` agents playing separate machines, a project pointed at them, and a
``manage.py NET run`` whose events can be read. This module is that one helper.

- :class:`Agent`: one ``fission node`` process in a session of its own, bound to its own
  address (127.0.0.2, 127.0.0.3, ...) and with its own HOME, so that the nodes' folders
  (``REMOTE_ROOT = "~/fission"``) are as separate as on real machines. It can run inside a
  network namespace of a :class:`Subnet`, whose link can then be cut or made lossy.
- :class:`Cluster`: agents for one scheduler port, holding the credentials of one project
  (made once, in the cluster's folder); each agent gets the bundle exported for its address,
  and every project of that cluster gets a copy of them (:func:`copy_project`).
- :class:`Run`: one ``manage.py NET run`` (or ``simulate``) process and its ``events.jsonl``.

Everything started here is ended by ``close``/``kill``; with ``tied=True`` a process also
dies (PR_SET_PDEATHSIG) when the process that started it does, for scripts that may be
killed themselves. Linux only, like the node agent.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import psutil

import fission
from fission.events import EVENTS, read_events
from fission.security.credentials import export_node, init_project

#: The checkout this module was imported from (FISSION is installed editable in it).
REPO = Path(fission.__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
CLIENT_IP = "127.0.0.1"
#: What never belongs in a copied project: results, logs, caches and credentials.
PROJECT_LEFTOVERS = ("simulation", "local", ".fission", "__pycache__", "FISSION.log",
                     "collection", "credentials")
#: ``python -m`` entry point of every job process.
JOB_ENTRY = "fission.runtime.entry"

_PR_SET_PDEATHSIG = 1


def node_hosts(count: int, first: int = 2) -> list[str]:
    """``count`` loopback addresses for nodes: 127.0.0.2, 127.0.0.3, ..."""
    if first + count - 1 > 254:
        raise ValueError(f"{count} nodes from 127.0.0.{first} do not fit in 127.0.0.0/24")
    return [f"127.0.0.{first + index}" for index in range(count)]


def free_port(host: str = CLIENT_IP) -> int:
    """A TCP port nothing listens on at ``host`` right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: this checkout's ``fission`` imports, installed or
    not, output is unbuffered, and ``extra`` variables are set."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def die_with_parent() -> None:
    """``preexec_fn``: be SIGKILLed when the thread that started this process ends."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _spawn(argv: Sequence[str], *, cwd: Path | None, env: dict[str, str], out: Path | None,
           tied: bool) -> subprocess.Popen[bytes]:
    """``argv`` leading a session of its own, its output appended to ``out`` (None: to
    this process's terminal)."""
    with contextlib.ExitStack() as stack:
        log = None if out is None else stack.enter_context(out.open("ab"))
        return subprocess.Popen(
            list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=None if out is None else subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent if tied else None,
        )


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def job_processes(under: Path) -> list[psutil.Process]:
    """Live job runtime processes working anywhere under ``under``."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        try:
            if (process.info["status"] != psutil.STATUS_ZOMBIE
                    and JOB_ENTRY in " ".join(process.info["cmdline"] or ())
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
                 credentials: Path | None = None, *, start: bool = True,
                 tied: bool = False) -> None:
        """``credentials``: the project whose node this is; None for an ``--insecure`` one.
        ``start=False``: :meth:`start` it later; ``tied``: it dies with its starter."""
        self.host, self.port, self.cpus, self.client = host, port, cpus, client
        self.namespace, self.tied = namespace, tied
        self.home = root / f"node-{host}"
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path = self.home / "agent.log"
        if credentials is None:
            self._trust = ["--insecure"]
        else:
            bundle = self.home / "node-credentials.json"
            export_node(credentials, host, bundle)
            self._trust = ["--credentials", str(bundle)]
        self.popen: subprocess.Popen[bytes] | None = None
        self._log_start = 0
        self._children: dict[int, float] = {}
        if start:
            self.start()

    def start(self) -> None:
        """Start the agent process (again, after it ended)."""
        inside = ["ip", "netns", "exec", self.namespace] if self.namespace else []
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.popen = _spawn(
            [*inside, sys.executable, "-m", "fission.cli.main", "node", "--client", self.client,
             "--port", str(self.port), "--host", self.host, "--cpus", str(self.cpus),
             *self._trust],
            cwd=None, env=child_env(HOME=str(self.home)), out=self.log_path, tied=self.tied)

    def restart(self) -> None:
        self.close()
        self.start()

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def joins(self) -> int:
        return self.log.count("joined the client")

    def state(self) -> str:
        """``idle`` (waiting for a client), ``joined``, ``dead`` or ``starting``, from what
        the current process wrote to its log."""
        if not self.alive:
            return "dead"
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            lines = log.read().decode(errors="replace").splitlines()
        state = "starting"
        for line in lines:
            if "joined the client" in line:
                state = "joined"
            elif "waiting for a client" in line or "left the client" in line:
                state = "idle"
        return state

    def folder(self, network: str) -> Path:
        return self.home / "fission" / network

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal_session(self, signum: int) -> float:
        """Signal the agent's session (the agent; its jobs lead sessions of their own);
        return ``time.time()`` taken just before."""
        assert self.popen is not None
        self._remember_children()
        now = time.time()
        os.killpg(self.popen.pid, signum)
        return now

    def kill(self) -> None:
        """SIGKILL the agent alone: its job processes must die with it by themselves."""
        assert self.popen is not None
        self._remember_children()
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def _remember_children(self) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.popen.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    self._children[child.pid] = child.create_time()

    def close(self) -> None:
        """SIGCONT (it may be stopped) and SIGTERM, SIGKILL after 8 s; then any process it
        was seen to have started that outlived it (checked by pid and start time)."""
        if self.popen is None:
            return
        self._remember_children()
        if self.alive:
            for signum in (signal.SIGCONT, signal.SIGTERM):
                _signal_group(self.popen.pid, signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(8)
        _signal_group(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)
        for pid, created in self._children.items():
            with contextlib.suppress(psutil.Error):
                child = psutil.Process(pid)
                if child.create_time() == created:
                    child.kill()
        self._children.clear()


class Cluster:
    """Agents for one scheduler port, with the credentials of one project."""

    def __init__(self, root: Path, count: int = 3, cpus: int = 4, secure: bool = True, *,
                 hosts: Iterable[str] | None = None, client: str = CLIENT_IP,
                 namespaces: dict[str, str] | None = None, tied: bool = False) -> None:
        """Agents on ``hosts`` (default: ``count`` loopback addresses from 127.0.0.2),
        ``--insecure`` unless ``secure``; ``namespaces`` maps a host to the network
        namespace its agent runs in."""
        self.root, self.client = root, client
        self.port = free_port(client)
        #: The project folder whose credentials the agents hold (it holds nothing else).
        self.keys = root / "keys"
        self.keys.mkdir(parents=True)
        init_project(self.keys)
        namespaces = namespaces or {}
        self.agents = [Agent(root, host, self.port, cpus, client=client,
                             namespace=namespaces.get(host),
                             credentials=self.keys if secure else None, tied=tied)
                       for host in (node_hosts(count) if hosts is None else hosts)]

    @property
    def hosts(self) -> list[str]:
        return [agent.host for agent in self.agents]

    def agent(self, host: str) -> Agent:
        return next(agent for agent in self.agents if agent.host == host)

    def settings(self) -> str:
        """The config.py lines that point a network at this cluster's scheduler and nodes."""
        nodes = ", ".join(f'BaseNode("{host}")' for host in self.hosts)
        return (f'CLIENT_IP = "{self.client}"\nREMOTE_ROOT = "~/fission"\n'
                f"SCHEDULER_PORT = {self.port}\nNODE_WAIT = 20\n"
                f"from fission.core.nodes import BaseNode\nNODES = [{nodes}]\n")

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Until every agent waits for a client; RuntimeError naming a dead or late one."""
        deadline = time.monotonic() + timeout
        while True:
            states = {agent.host: agent.state() for agent in self.agents}
            dead = [host for host, state in states.items() if state == "dead"]
            if dead:
                agent = self.agent(dead[0])
                raise RuntimeError(f"the agent of {dead[0]} exited with "
                                   f"{agent.popen.returncode if agent.popen else None}; its "
                                   f"log:\n{agent.log[-2000:]}")
            if all(state == "idle" for state in states.values()):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"agents not waiting for a client within {timeout:g} s: "
                                   f"{states}")
            time.sleep(0.05)

    def close(self) -> None:
        for agent in self.agents:
            agent.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def copy_project(source: Path, target: Path, keys: Path) -> Path:
    """A copy of the project ``source`` at ``target`` with the credentials of the project
    ``keys`` (a cluster's :attr:`Cluster.keys`), without ``source``'s results, logs and
    credentials; returns ``target``."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*PROJECT_LEFTOVERS))
    shutil.copytree(keys / "credentials", target / "credentials")
    return target


def point_config(config: Path, cluster: Cluster, extra: str = "",
                 nodes: str | None = None) -> None:
    """Point a tutorial-style ``NET/config.py`` at ``cluster``: its CLIENT_IP, a REMOTE_ROOT
    in each agent's home, its nodes (or the ``NODES`` expression ``nodes``) and its port;
    ``extra`` config lines are appended."""
    text = config.read_text()
    text = text.replace('CLIENT_IP = "192.168.4.1"', f'CLIENT_IP = "{cluster.client}"')
    text = text.replace('REMOTE_ROOT = f"/home/{USER}/fission/"', 'REMOTE_ROOT = "~/fission"')
    listed = "[" + ", ".join(f'BaseNode("{host}")' for host in cluster.hosts) + "]"
    start = text.index("NODES = [")
    end = text.index("]", start) + 1
    text = text[:start] + f"NODES = {nodes or listed}" + text[end:]
    text += f"\nSCHEDULER_PORT = {cluster.port}\nNODE_WAIT = 20\n{extra}\n"
    config.write_text(text)


class Run:
    """One ``python3 manage.py NET run ...`` process (or another ``command``), leading its
    own process group, its output in a file of the project (``show``: on this process's
    terminal instead, and :attr:`output` is empty)."""

    command = "run"

    def __init__(self, project: Path, network: str, *args: str, command: str = "run",
                 env: dict[str, str] | None = None, tied: bool = False,
                 show: bool = False) -> None:
        self.project, self.network, self.command = project, network, command
        self.out_path = project / f".{network}.{time.monotonic_ns()}.out"
        self.out_path.touch()
        self.popen = _spawn([sys.executable, "manage.py", network, command, *args],
                            cwd=project, env=child_env(**(env or {})),
                            out=None if show else self.out_path, tied=tied)
        self.started = time.monotonic()

    @property
    def local(self) -> Path:
        """The folder of the client's results: ``NET/local`` (``NET/simulation``)."""
        return self.project / self.network / ("local" if self.command == "run" else "simulation")

    @property
    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def events(self) -> list[dict[str, Any]]:
        path = self.local / "events.jsonl"
        return read_events(path) if path.exists() else []

    def events_of(self, kind: str, **fields: Any) -> list[dict[str, Any]]:
        """The events named ``kind`` with these ``fields``; a name no run writes is a
        mistake of the caller (it would match nothing, and a test could never fail)."""
        if kind not in EVENTS:
            raise ValueError(f"no event is called {kind!r}; the events are {sorted(EVENTS)}")
        return [e for e in self.events() if e["event"] == kind
                and all(e.get(key) == value for key, value in fields.items())]

    def statistics(self) -> dict[int, dict[str, Any]]:
        """Each job's final figures, from the ``statistics.json`` a run writes as it ends
        (a job that did not report them is missing)."""
        jobs = json.loads((self.local / "statistics.json").read_text())["jobs"]
        return {int(job): figures for job, figures in jobs.items()}

    def input_totals(self, figure: str) -> dict[int, int]:
        """Job id -> ``figure`` (``dummies``, ``dropped``, ``garbage``) summed over its
        inputs, for every job that reported its figures at the end."""
        return {job: sum(int(port.get(figure, 0)) for port in stats.get("inputs", {}).values())
                for job, stats in self.statistics().items()}

    def placed(self, incarnation: int = 0) -> dict[int, str]:
        return {e["job"]: e["node"] for e in self.events_of("placed", incarnation=incarnation)}

    def where(self) -> dict[int, str]:
        """Each job's node now: its latest placement."""
        return {e["job"]: e["node"] for e in self.events_of("placed")}

    def wait(self, timeout: float) -> int:
        """Its exit status; ``subprocess.TimeoutExpired`` if it runs on."""
        return self.popen.wait(timeout)

    def interrupt(self) -> None:
        _signal_group(self.popen.pid, signal.SIGINT)

    def stop(self, grace: float = 15.0) -> int:
        """Ctrl+C, then SIGKILL of its group after ``grace`` seconds; its exit status."""
        if self.popen.poll() is None:
            self.interrupt()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(grace)
        self.kill()
        return self.popen.returncode

    def kill(self) -> None:
        _signal_group(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)


def _ip(*argv: str, input: str | None = None, check: bool = True) -> None:
    result = subprocess.run(["ip", *argv], input=input, capture_output=True, text=True,
                            timeout=10)
    if check and result.returncode != 0:
        raise RuntimeError(f"`ip {' '.join(argv)}` failed: {result.stderr.strip()}")


def namespaces_unavailable() -> str | None:
    """Why :class:`Subnet` cannot work here, or None."""
    if os.geteuid() != 0:
        return "not running as root (network namespaces and nftables need it)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (Debian: iproute2, nftables)"
    return None


class Subnet:
    """A /24 on a bridge of this machine: the client and ``outside`` hosts on the bridge,
    each ``inside`` host in a network namespace of its own behind a veth pair.

    A namespace's link can be cut (every packet on its veth dropped: no connection is
    reset, the node goes silent as behind a dead radio link) or made lossy, each with an
    nftables table inside the namespace; the job processes of an agent in a namespace
    share its link. ``with Subnet(...)`` deletes namespaces, links and tables again.
    """

    TABLE = "fissionfault"

    def __init__(self, inside: int, outside: int = 0, prefix: str | None = None) -> None:
        """``prefix``: the /24's first three numbers (default 10.X.Y from this process's id,
        so that two scripts at once do not collide)."""
        tag = str(os.getpid() % 100_000)
        self.tag = tag
        if prefix is None:
            prefix = f"10.{200 + int(tag) // 250 % 50}.{int(tag) % 250}"
        self.client = f"{prefix}.1"
        self.inside = [f"{prefix}.{2 + index}" for index in range(inside)]
        self.outside = [f"{prefix}.{2 + inside + index}" for index in range(outside)]
        self.bridge = f"fbr{tag}"
        self.namespaces = {host: f"fission-{tag}-{index}" for index, host in
                           enumerate(self.inside)}
        self._made: list[str] = []

    def __enter__(self) -> Subnet:
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            self._made.append("bridge")
            for address in (self.client, *self.outside):
                _ip("addr", "add", f"{address}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for index, (host, name) in enumerate(self.namespaces.items()):
                outer, inner = f"fo{self.tag}x{index}", f"fi{self.tag}x{index}"
                _ip("netns", "add", name)
                self._made.append(name)
                _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
                _ip("link", "set", inner, "netns", name)
                _ip("link", "set", outer, "master", self.bridge, "up")
                _ip("netns", "exec", name, "ip", "addr", "add", f"{host}/24", "dev", inner)
                _ip("netns", "exec", name, "ip", "link", "set", inner, "up")
                _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def _nft(self, host: str, rules: str) -> None:
        subprocess.run(["ip", "netns", "exec", self.namespaces[host], "nft", "-f", "-"],
                       input=rules, capture_output=True, text=True, timeout=10, check=True)

    def _drop(self, host: str, condition: str) -> float:
        rules = (f"table inet {self.TABLE} {{\n"
                 f"  chain input {{ type filter hook input priority 0; policy accept; "
                 f'iifname != "lo" {condition} drop; }}\n'
                 f"  chain output {{ type filter hook output priority 0; policy accept; "
                 f'oifname != "lo" {condition} drop; }}\n'
                 "}\n")
        now = time.time()
        self._nft(host, rules)
        return now

    def cut(self, host: str) -> float:
        """Drop every packet of ``host``'s link; returns ``time.time()`` just before."""
        return self._drop(host, "")

    def lose(self, host: str, percent: int) -> float:
        """Drop ``percent`` % (1-99; 100 is :meth:`cut`) of ``host``'s packets at random,
        each way."""
        if not 1 <= percent <= 99:
            raise ValueError(f"a loss of {percent} %: give 1-99 (cut() drops everything)")
        return self._drop(host, f"numgen random mod 100 < {percent}")

    def heal(self, host: str) -> None:
        subprocess.run(["ip", "netns", "exec", self.namespaces[host], "nft", "delete", "table",
                        "inet", self.TABLE], capture_output=True, timeout=10, check=False)

    def __exit__(self, *exc: object) -> None:
        for made in reversed(self._made):
            if made == "bridge":
                _ip("link", "del", self.bridge, check=False)
            else:
                _ip("netns", "del", made, check=False)  # takes its veth pair along
        self._made.clear()
