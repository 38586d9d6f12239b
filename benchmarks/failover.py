"""Distributed start-up and failover of ``python manage.py NET run``, on agents of this machine.

Three node agents (``fission node``) play the nodes 127.0.0.2, .3 and .4; the client is
``python manage.py NET run`` in a copy of a project in a temporary folder. Figures:

1. **startup**: launch of ``run`` -> first data row of ``local/6/join.csv`` of the
   tutorial's ``demo_network_v3`` (jobs unmodified) on three warm agents (started and
   idle, or left over from the previous run). Same-run references: ``simulate`` of the
   same network (launch -> first row of ``simulation/6/join.csv``), and the time of
   ``python -c "import fission.backends.run"``. Target: median <= 2 s.
2. **kill**: ``failover_net/`` (a counter every 5 ms -> a forward pinned to 127.0.0.3 ->
   a sink on the client that logs each block's arrival time, value and the forward's
   pid). Time of the SIGKILL of the 127.0.0.3 agent's process group (taken just before
   ``os.killpg``) -> first block at the sink from the replacement. A fresh agent is
   started for 127.0.0.3 after each repetition. Target: median <= 0.3 s.
3. **stop**: the same with SIGSTOP of the agent's process group (its job processes have
   their own sessions and keep running, so fencing must drop their blocks); default
   NODE_TIMEOUT (1.5 s). SIGCONT afterwards; the agent must rejoin. Target <= 2.5 s.
4. **cut** (root, ``ip netns`` and ``nft`` needed, else skipped): the forward's node is an
   agent in a network namespace of a :class:`fission.loopback.Subnet` (the client on a
   bridge at 10.231.0.1, the node behind a veth pair at 10.231.0.2); an nftables table in
   the namespace drops all its traffic. Cut ->
   first block from the replacement. Target <= 2.5 s.
5. **soak**: the failover network for ``--soak`` seconds with two busy-loop processes
   keeping both cores busy; ``node_down`` events must be 0.

Blocks lost are the values missing at the sink over the whole run (the counter never
fails over, so its values number the blocks). "Old copy" counts blocks of the replaced
forward that reached the sink after the fault, and after the replacement's first block
(fencing must make the latter 0).

Usage: ``.venv/bin/python benchmarks/failover.py [--quick] [--soak S] [--only ...]``.
Prints a Markdown section and appends it to ``benchmarks/results.md`` (``--output``,
``--no-append``). Exit status 0 when every target is met. Every process started here
(agents, clients, busy loops, and job processes left in the temporary folder) is ended
when the benchmark ends, whatever the way; the namespace, veth pair and nftables table
are deleted.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import harness
import psutil

from fission import loopback
from fission.security.credentials import init_project

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
EXAMPLES = REPO / "examples"
FAILOVER_PROJECT = BENCH_DIR / "failover_net"
NET = "fastnet"
V3 = "demo_network_v3"
ARRIVALS = "arrivals.txt"  # fastnet/jobs.py writes it
SINK_ID, FORWARD_ID = 3, 2  # ids of fastnet's jobs (config order)
PYTHON = sys.executable
_SCRIPT = Path(PYTHON).parent / "fission"
FISSION = [str(_SCRIPT)] if _SCRIPT.exists() else [PYTHON, "-m", "fission.cli.main"]

LOOPBACK_NODES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
VICTIM = "127.0.0.3"
NS_SUBNET = "10.231.0"
NS_CLIENT, NS_NODE = f"{NS_SUBNET}.1", f"{NS_SUBNET}.2"

STARTUP_LIMIT_S = 2.0
KILL_LIMIT_S = 0.3
STOP_LIMIT_S = 2.5
CUT_LIMIT_S = 2.5
#: Blocks through the pinned forward before the fault is injected.
STEADY_BLOCKS = 100
#: Seconds of blocks collected after the replacement's first one (for the loss count).
TAIL_S = 0.5
#: Seconds to wait for the replacement's first block.
RECOVERY_TIMEOUT_S = 20.0
#: Seconds a fresh or released agent gets to be ready for the next run.
IDLE_TIMEOUT_S = 20.0
#: Seconds a run gets to place its jobs and deliver data (NODE_WAIT is 30 s).
START_TIMEOUT_S = 60.0


class BenchError(RuntimeError):
    """A repetition that produced no figure; the message says what was seen."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no output)"
    return "\n".join(text[-lines:]) or "(no output)"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# -------------------------------------------------------------------- processes


class Workspace:
    """The temporary folder of one benchmark: projects, agents' homes, logs."""

    def __init__(self, keep: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fission-failover-"))
        self.keep = keep
        self._count = 0
        #: The one project whose credentials every project and agent here shares.
        self.keys = self.root / "keys"
        self.keys.mkdir()
        init_project(self.keys)

    def path(self, name: str) -> Path:
        self._count += 1
        return self.root / f"{self._count:03d}-{name}"

    def copy_failover(self, name: str) -> Path:
        return loopback.copy_project(FAILOVER_PROJECT, self.path(name), self.keys)

    def copy_v3(self, port: int) -> Path:
        """examples/ with demo_network_v3's config pointed at the loopback agents."""
        target = loopback.copy_project(EXAMPLES, self.path("examples"), self.keys)
        nodes = ", ".join(f'BaseNode("{ip}")' for ip in LOOPBACK_NODES)
        with (target / V3 / "config.py").open("a") as config:
            config.write(
                "\n# Set by benchmarks/failover.py: the loopback agents of this machine.\n"
                f'CLIENT_IP = "127.0.0.1"\nSCHEDULER_PORT = {port}\n'
                f'REMOTE_ROOT = "~/fission"\nNODES = [{nodes}]\n')
        return target

    def sweep(self) -> int:
        """SIGKILL job processes still running in this workspace."""
        found = loopback.job_processes(self.root)
        for proc in found:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        return len(found)

    def close(self) -> None:
        self.sweep()
        if self.keep:
            log(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)


def _popen(argv: list[str], cwd: Path, env: dict[str, str], out: Path) -> subprocess.Popen:
    with open(out, "ab") as file:
        return harness.track(subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=file,
            stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=harness.die_with_parent))


class Agent(loopback.Agent):
    """A ``fission node`` of :mod:`fission.loopback`, started by :meth:`start` and tracked
    for cleanup; its home is per scheduler port, as two pools may play one address."""

    def __init__(self, ws: Workspace, host: str, client: str, port: int,
                 netns: str | None = None) -> None:
        super().__init__(ws.root / f"port-{port}", host, port, 4, client=client,
                         namespace=netns, credentials=ws.keys, start=False, tied=True)

    def start(self) -> None:
        super().start()
        harness.track(self.popen)

    def signal(self, signum: int) -> float:
        """Signal the agent's process group; return ``time.time()`` taken just before."""
        return self.signal_session(signum)

    def stop(self) -> None:
        self.close()


class Pool:
    """The agents of one client address and port."""

    def __init__(self, ws: Workspace, client: str, port: int, hosts: tuple[str, ...]) -> None:
        self.ws, self.client, self.port = ws, client, port
        self.agents = {host: Agent(ws, host, client, port) for host in hosts}

    def start(self) -> None:
        for agent in self.agents.values():
            agent.start()

    def restart(self, host: str) -> None:
        agent = self.agents[host]
        agent.stop()
        agent.start()

    def wait_idle(self, extra: list[Agent] = ()) -> None:
        agents = [*self.agents.values(), *extra]
        deadline = time.monotonic() + IDLE_TIMEOUT_S
        while True:
            states = {a.host: a.state() for a in agents}
            dead = [h for h, s in states.items() if s == "dead"]
            if dead:
                agent = next(a for a in agents if a.host == dead[0])
                raise BenchError(f"the agent of {dead[0]} exited with {agent.popen.returncode}; "
                                 f"its last output:\n{_tail(agent.log_path)}")
            if all(s == "idle" for s in states.values()):
                return
            if time.monotonic() > deadline:
                raise BenchError(f"agents not idle within {IDLE_TIMEOUT_S:g} s: {states}")
            time.sleep(0.02)

    def stop(self) -> None:
        for agent in self.agents.values():
            agent.stop()


class Client:
    """``python manage.py NET COMMAND`` in a project folder: a :class:`fission.loopback.Run`
    started by :meth:`start`, tracked for cleanup."""

    def __init__(self, ws: Workspace, project: Path, network: str, command: str = "run",
                 env: dict[str, str] | None = None, duration: float | None = None) -> None:
        self.ws, self.project, self.network, self.command = ws, project, network, command
        self.env = env or {}
        self.duration = duration
        self.proc: subprocess.Popen | None = None
        self.run: loopback.Run | None = None
        self.returncode: int | None = None

    @property
    def folder(self) -> Path:
        return self.project / self.network / ("local" if self.command == "run" else "simulation")

    @property
    def log(self) -> Path | None:
        return None if self.run is None else self.run.out_path

    def start(self) -> None:
        # The backend clears this folder too, but only after its imports: never let a
        # previous run's files be read as this run's.
        shutil.rmtree(self.folder, ignore_errors=True)
        args = [] if self.duration is None else ["--duration", f"{self.duration:g}"]
        self.run = loopback.Run(self.project, self.network, *args, command=self.command,
                                env=self.env, tied=True)
        self.proc = harness.track(self.run.popen)

    def check(self, what: str) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError(f"{what}: `{self.command}` exited with {self.proc.returncode}; "
                             f"its last output:\n{self.tail()}")

    def stop(self) -> int | None:
        if self.proc is None:
            return self.returncode
        harness.stop(self.proc, sig=signal.SIGINT, grace=15.0)
        self.returncode = self.proc.returncode
        self.proc = None
        return self.returncode

    def tail(self, lines: int = 15) -> str:
        return "(not started)" if self.log is None else _tail(self.log, lines)

    def events(self) -> list[dict[str, Any]]:
        return [] if self.run is None else self.run.events()

    def problems(self) -> list[str]:
        """What in the client's output or exit status a user would call a fault."""
        found = []
        lines = self.tail(10_000).splitlines()
        for index, line in enumerate(lines):
            if not line.startswith("Traceback"):
                continue
            # The exception is the first line after the frames that is not indented.
            end = next((j for j in range(index + 1, len(lines))
                        if lines[j] and not lines[j][0].isspace()), len(lines))
            error = lines[end] if end < len(lines) else "?"
            where = next((frame.strip() for frame in reversed(lines[index + 1:end]) if
                          frame.strip().startswith('File "') and "/fission/" in frame), "")
            found.append(f"a traceback in the output of `{self.command}`: {error.strip()[:200]}"
                         + (f" ({where[:160]})" if where else ""))
        if self.returncode not in (0, None):
            found.append(f"`{self.command}` exited with {self.returncode}")
        return found


def wait_for(what: str, predicate: Callable[[], Any], timeout: float,
             client: Client | None = None, step: float = 0.005) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if client is not None:
            client.check(what)
        if time.monotonic() > deadline:
            tail = f"; the client's last output:\n{client.tail()}" if client else ""
            raise BenchError(f"{what}: not within {timeout:g} s{tail}")
        time.sleep(step)


class Arrivals:
    """The sink's ``arrivals.txt``, read as it grows: ``(time, value, forward pid)``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[tuple[float, int, int]] = []
        self._offset = 0
        self._partial = b""

    def poll(self) -> int:
        try:
            with open(self.path, "rb") as file:
                file.seek(self._offset)
                data = file.read()
        except FileNotFoundError:
            return 0
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            t, value, pid = line.split()
            self.rows.append((float(t), int(value), int(pid)))
        return len(lines)


def _has_data_row(csv: Path) -> bool:
    try:
        return csv.read_bytes().count(b"\n") >= 2
    except OSError:
        return False


def _timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, preexec_fn=harness.die_with_parent)
    return time.perf_counter() - start


# -------------------------------------------------------------------- 1. startup


def first_row(ws: Workspace, project: Path, command: str) -> tuple[float, list[str], dict]:
    """Seconds from launching ``command`` to the first data row of 6/join.csv.

    Also returns the problems seen and, for ``run``, when (seconds after the launch)
    the first and the last node joined and the last job reported ready.
    """
    client = Client(ws, project, V3, command)
    csv = client.folder / "6" / "join.csv"
    csv.unlink(missing_ok=True)  # never read a previous run's file
    launched_wall = time.time()
    launched = time.perf_counter()
    client.start()
    try:
        wait_for(f"{V3} {command}: first row of {csv.name}", lambda: _has_data_row(csv),
                 START_TIMEOUT_S, client, step=0.002)
        elapsed = time.perf_counter() - launched
    finally:
        client.stop()
    phases = {}
    events = client.events()
    for name, kind, pick in (("first_node_up_s", "node_up", min),
                             ("all_nodes_up_s", "node_up", max),
                             ("all_jobs_ready_s", "job_started", max)):
        times = [e["time"] - launched_wall for e in events if e["event"] == kind]
        if times:
            phases[name] = pick(times)
    return elapsed, client.problems(), phases


def bench_startup(ws: Workspace, pool: Pool, repeat: int) -> dict[str, Any]:
    project = ws.copy_v3(pool.port)
    runs: list[float] = []
    sims: list[float] = []
    notes: list[str] = []
    phases: list[dict[str, float]] = []
    for i in range(repeat):
        pool.wait_idle()
        log(f"startup: run {i + 1}/{repeat} on 3 warm agents ...")
        elapsed, problems, steps = first_row(ws, project, "run")
        runs.append(elapsed)
        phases.append(steps)
        notes += [f"startup run {i + 1}: {p}" for p in problems]
        steps_text = ", ".join(f"{k[:-2].replace('_', ' ')} {v:.2f}" for k, v in steps.items())
        log(f"  run: {elapsed:.3f} s ({steps_text}); simulate {i + 1}/{repeat} ...")
        elapsed, problems, _ = first_row(ws, project, "simulate")
        sims.append(elapsed)
        notes += [f"startup simulate {i + 1}: {p}" for p in problems]
        log(f"  simulate: {elapsed:.3f} s")
    imports = [_timed([PYTHON, "-c", "import fission.backends.run"], project)
               for _ in range(max(3, repeat))]
    bare = [_timed([PYTHON, "-c", "pass"], project) for _ in range(max(3, repeat))]
    log(f"  import fission.backends.run: {_median(imports):.3f} s; "
        f"bare interpreter {_median(bare):.3f} s")
    return {"run_s": runs, "simulate_s": sims, "import_s": imports, "bare_s": bare,
            "run_steps_s": phases,
            "median_s": _median(runs), "simulate_median_s": _median(sims),
            "import_median_s": _median(imports), "bare_median_s": _median(bare),
            "notes": notes}


# -------------------------------------------------------------------- 2.-4. faults


def failover_env(client: str, port: int, nodes: tuple[str, ...], forward: str) -> dict[str, str]:
    return {"FAILOVER_CLIENT_IP": client, "FAILOVER_PORT": str(port),
            "FAILOVER_NODES": ",".join(nodes), "FAILOVER_FORWARD_NODE": forward}


def fault_run(ws: Workspace, project: Path, env: dict[str, str], victim: str,
              inject: Callable[[], float],
              after: Callable[[Client, float], dict[str, Any]] | None = None) -> dict[str, Any]:
    """One run of the failover network: steady flow, ``inject()`` the fault, measure.

    ``inject`` returns the fault's ``time.time()``; ``after(client, t_fault)`` runs once
    the replacement delivered (SIGCONT and rejoin, for instance) and adds figures.
    """
    client = Client(ws, project, NET, "run", env)
    arrivals = Arrivals(client.folder / str(SINK_ID) / ARRIVALS)
    extra: dict[str, Any] = {}
    client.start()
    try:
        wait_for(f"{STEADY_BLOCKS} blocks at the sink",
                 lambda: arrivals.poll() >= 0 and len(arrivals.rows) >= STEADY_BLOCKS,
                 START_TIMEOUT_S, client)
        placed = [e for e in client.events() if e["event"] == "placed"
                  and e.get("job") == FORWARD_ID and e.get("incarnation") == 0]
        if not placed or placed[0].get("node") != victim:
            raise BenchError(f"the forward was placed on {placed and placed[0].get('node')}, "
                             f"not on {victim}")
        old_pid = arrivals.rows[-1][2]
        t_fault = inject()

        def replaced() -> tuple[float, int, int] | None:
            arrivals.poll()
            return next((r for r in arrivals.rows if r[0] > t_fault and r[2] != old_pid), None)

        first = wait_for("a block from the replacement at the sink", replaced,
                         RECOVERY_TIMEOUT_S, client)
        if after is not None:
            extra = after(client, t_fault)
        time.sleep(TAIL_S)
        arrivals.poll()
    finally:
        client.stop()
    arrivals.poll()
    events = client.events()
    return {**_analyse(arrivals.rows, events, victim, t_fault, old_pid, first), **extra,
            "problems": client.problems()}


def _analyse(rows: list[tuple[float, int, int]], events: list[dict[str, Any]], victim: str,
             t_fault: float, old_pid: int, first: tuple[float, int, int]) -> dict[str, Any]:
    values = [value for _, value, _ in rows]
    unique = set(values)
    downs = [e for e in events if e["event"] == "node_down"]
    down = next((e for e in downs if e.get("node") == victim and e["time"] >= t_fault), None)
    done = next((e for e in events if e["event"] == "failover_done"
                 and e.get("job") == FORWARD_ID), None)
    moved = next((e for e in events if e["event"] == "placed" and e.get("job") == FORWARD_ID
                  and e.get("incarnation", 0) > 0), None)
    return {
        "resume_s": first[0] - t_fault,
        "detected_s": None if down is None else down["time"] - t_fault,
        "why": None if down is None else down.get("why"),
        "failover_done_s": None if done is None else done.get("seconds"),
        "replaced_on": None if moved is None else moved.get("node"),
        "blocks": len(rows),
        "lost": (max(values) - min(values) + 1 - len(unique)) if values else 0,
        "duplicates": len(values) - len(unique),
        "old_after_fault": sum(1 for t, _, pid in rows if pid == old_pid and t > t_fault),
        "old_after_replacement": sum(1 for t, _, pid in rows if pid == old_pid and t > first[0]),
        "other_node_down": [e.get("node") for e in downs if e is not down],
    }


def _summary(rep: dict[str, Any]) -> str:
    def s(key: str) -> str:
        value = rep.get(key)
        return "—" if value is None else f"{value:.3f} s"

    return (f"data again after {s('resume_s')} (node_down after {s('detected_s')}, "
            f"failover_done {s('failover_done_s')}), replaced on {rep.get('replaced_on')}, "
            f"{rep['lost']} lost, {rep['duplicates']} duplicated, old copy after fault "
            f"{rep['old_after_fault']}, after replacement {rep['old_after_replacement']}")


def bench_fault(ws: Workspace, pool: Pool, fault: str, repeat: int) -> dict[str, Any]:
    """SIGKILL (``kill``) or SIGSTOP (``stop``) of the agent running the forward."""
    project = ws.copy_failover(f"failover-{fault}")
    env = failover_env(pool.client, pool.port, tuple(pool.agents), VICTIM)
    reps: list[dict[str, Any]] = []
    notes: list[str] = []
    victim = pool.agents[VICTIM]
    for i in range(repeat):
        log(f"{fault}: repetition {i + 1}/{repeat} ...")
        try:
            if not victim.alive:
                pool.restart(VICTIM)
            pool.wait_idle()
            if fault == "kill":
                rep = fault_run(ws, project, env, VICTIM, lambda: victim.signal(signal.SIGKILL))
                victim.stop()  # reaped; a fresh agent for the next repetition
                victim.start()
            else:
                rep = fault_run(ws, project, env, VICTIM, lambda: victim.signal(signal.SIGSTOP),
                                after=lambda client, t: _resume_and_rejoin(victim, client))
        except BenchError as error:
            notes.append(f"{fault} repetition {i + 1}: {error}")
            log(f"  failed: {error}")
            pool.restart(VICTIM)
            continue
        finally:
            ws.sweep()
        reps.append(rep)
        notes += [f"{fault} repetition {i + 1}: {p}" for p in rep["problems"]]
        if rep["other_node_down"]:
            notes.append(f"{fault} repetition {i + 1}: node_down also for "
                         f"{', '.join(rep['other_node_down'])}")
        log(f"  {_summary(rep)}")
    return _fault_figures(reps, notes)


def _resume_and_rejoin(agent: Agent, client: Client) -> dict[str, Any]:
    """SIGCONT the stopped agent and wait until it has joined the run again."""
    t_cont = agent.signal(signal.SIGCONT)

    def rejoined() -> float | None:
        return next((e["time"] for e in client.events() if e["event"] == "node_up"
                     and e.get("node") == agent.host and e["time"] >= t_cont), None)

    try:
        t_up = wait_for(f"{agent.host} rejoining after SIGCONT", rejoined, IDLE_TIMEOUT_S,
                        client, step=0.02)
    except BenchError as error:
        return {"rejoin_s": None, "rejoin_error": str(error).splitlines()[0]}
    return {"rejoin_s": t_up - t_cont}


def _fault_figures(reps: list[dict[str, Any]], notes: list[str]) -> dict[str, Any]:
    resume = [r["resume_s"] for r in reps]
    return {
        "reps": reps, "notes": notes,
        "median_s": _median(resume), "max_s": max(resume) if resume else None,
        "lost_median": _median([r["lost"] for r in reps]),
        "lost_max": max((r["lost"] for r in reps), default=None),
        "stale": sum(r["old_after_replacement"] for r in reps),
        "clean": bool(reps) and all(
            r["old_after_replacement"] == 0 and r["duplicates"] == 0 and not r["other_node_down"]
            for r in reps),
    }


# -------------------------------------------------------------------- 4. link cut


def _run(argv: list[str], *, check: bool = True, input: str | None = None) -> str:
    result = subprocess.run(argv, input=input, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise BenchError(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")
    return result.stdout


def cut_unavailable() -> str | None:
    """Why the link-cut benchmark cannot run here, or None."""
    why = loopback.namespaces_unavailable()
    if why is not None:
        return why
    used = _run(["ip", "-o", "-4", "addr", "show"], check=False)
    if f" {NS_SUBNET}." in used:
        return f"{NS_SUBNET}.0/24 is already in use on this machine"
    probe = f"fbprobe{os.getpid()}"
    try:
        _run(["ip", "netns", "add", probe])
    except BenchError as error:
        return f"`ip netns` does not work: {error}"
    try:
        _run(["ip", "netns", "exec", probe, "nft", "add", "table", "inet", "fissionprobe"])
    except BenchError as error:
        return f"`nft` does not work in a network namespace: {error}"
    finally:
        _run(["ip", "netns", "del", probe], check=False)
    return None


def netem_available() -> bool:
    """Whether ``tc ... netem`` works, probed in a throwaway namespace (it is not used)."""
    probe = f"fbnetem{os.getpid()}"
    if shutil.which("tc") is None or subprocess.run(
            ["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        return False
    try:
        return subprocess.run(["ip", "netns", "exec", probe, "tc", "qdisc", "add", "dev", "lo",
                               "root", "netem", "delay", "1ms"],
                              capture_output=True).returncode == 0
    finally:
        _run(["ip", "netns", "del", probe], check=False)


def bench_cut(ws: Workspace, repeat: int) -> dict[str, Any]:
    why = cut_unavailable()
    if why is not None:
        log(f"cut: skipped: {why}")
        return {"skipped": why, "reps": [], "notes": []}
    reps: list[dict[str, Any]] = []
    notes = [f"cut: `tc netem` is {'available' if netem_available() else 'not available'} "
             "here (probed in a throwaway namespace); not used"]
    project = ws.copy_failover("failover-cut")
    with loopback.Subnet(inside=1, prefix=NS_SUBNET) as subnet:
        port = loopback.free_port()
        pool = Pool(ws, NS_CLIENT, port, ("127.0.0.2", "127.0.0.4"))
        nodes = ("127.0.0.2", NS_NODE, "127.0.0.4")
        env = failover_env(NS_CLIENT, port, nodes, NS_NODE)
        inner = Agent(ws, NS_NODE, NS_CLIENT, port, netns=subnet.namespaces[NS_NODE])
        try:
            pool.start()
            for i in range(repeat):
                log(f"cut: repetition {i + 1}/{repeat} ...")
                inner.start()
                try:
                    pool.wait_idle([inner])
                    rep = fault_run(ws, project, env, NS_NODE, lambda: subnet.cut(NS_NODE))
                except BenchError as error:
                    notes.append(f"cut repetition {i + 1}: {error}")
                    log(f"  failed: {error}")
                    continue
                finally:
                    subnet.heal(NS_NODE)
                    inner.stop()
                    ws.sweep()
                reps.append(rep)
                notes += [f"cut repetition {i + 1}: {p}" for p in rep["problems"]]
                log(f"  {_summary(rep)}")
        finally:
            inner.stop()
            pool.stop()
            ws.sweep()
    return _fault_figures(reps, notes)


# -------------------------------------------------------------------- 5. soak


def bench_soak(ws: Workspace, pool: Pool, seconds: float) -> dict[str, Any]:
    project = ws.copy_failover("failover-soak")
    env = failover_env(pool.client, pool.port, tuple(pool.agents), VICTIM)
    if not pool.agents[VICTIM].alive:
        pool.restart(VICTIM)
    pool.wait_idle()
    log(f"soak: {seconds:g} s with 2 busy loops ...")
    burners = [_popen([PYTHON, "-c", "while True: pass"], ws.root, dict(os.environ),
                      ws.path("burner.log")) for _ in range(2)]
    client = Client(ws, project, NET, "run", env, duration=seconds)
    try:
        client.start()
        try:
            client.proc.wait(seconds + START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise BenchError(f"soak: `run --duration {seconds:g}` did not end; its last "
                             f"output:\n{client.tail()}") from None
    finally:
        for burner in burners:
            harness.stop(burner, grace=1.0, sig=signal.SIGKILL)
        client.stop()
        ws.sweep()
    events = client.events()
    arrivals = Arrivals(client.folder / str(SINK_ID) / ARRIVALS)
    arrivals.poll()
    rows = arrivals.rows
    values = [v for _, v, _ in rows]
    gaps = [b[0] - a[0] for a, b in zip(rows, rows[1:], strict=False)]
    result = {
        "seconds": seconds,
        "node_down": sum(1 for e in events if e["event"] == "node_down"),
        "failovers": sum(1 for e in events if e["event"] == "failover_started"),
        "node_down_events": [e for e in events if e["event"] == "node_down"],
        "blocks": len(rows),
        "lost": (max(values) - min(values) + 1 - len(set(values))) if values else 0,
        "max_gap_s": max(gaps) if gaps else None,
        "notes": [f"soak: {p}" for p in client.problems()],
    }
    if not rows:
        result["notes"].append(f"soak: no block reached the sink; the client's last output:\n"
                               f"{client.tail()}")
    log(f"  {result['node_down']} node_down, {result['blocks']:,} blocks, {result['lost']} lost, "
        f"longest pause between two blocks {result['max_gap_s'] or math.nan:.3f} s")
    return result


# -------------------------------------------------------------------- all of it

PHASES = ("startup", "kill", "stop", "cut", "soak")


def run(*, quick: bool = False, soak: float | None = None, only: tuple[str, ...] = PHASES,
        keep: bool = False) -> dict[str, Any]:
    """Run the phases in ``only``; return their figures (a phase that failed: ``error``)."""
    soak = (60.0 if quick else 600.0) if soak is None else soak
    counts = {"startup": 1 if quick else 3, "kill": 2 if quick else 5,
              "stop": 2 if quick else 5, "cut": 1 if quick else 3}
    results: dict[str, Any] = {"quick": quick, "counts": counts}
    ws = Workspace(keep)
    pool: Pool | None = None
    try:
        on_loopback = [p for p in only if p != "cut"]
        if on_loopback:
            pool = Pool(ws, "127.0.0.1", loopback.free_port(), LOOPBACK_NODES)
            pool.start()
        for phase in only:
            started = time.monotonic()
            try:
                if phase == "startup":
                    results[phase] = bench_startup(ws, pool, counts["startup"])
                elif phase in ("kill", "stop"):
                    results[phase] = bench_fault(ws, pool, phase, counts[phase])
                elif phase == "cut":
                    results[phase] = bench_cut(ws, counts["cut"])
                elif phase == "soak":
                    results[phase] = bench_soak(ws, pool, soak)
            except Exception as error:  # noqa: BLE001 - reported; the other phases go on
                results[phase] = {"error": str(error), "reps": [], "notes": []}
                log(f"{phase} failed: {error}")
            results[phase]["wall_s"] = time.monotonic() - started
    finally:
        if pool is not None:
            pool.stop()
        harness.stop_all()
        ws.close()
    return results


def rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The table's lines: figure, value, reference, target, ok (None: not measured)."""
    out = []
    counts = results.get("counts", {})

    def fmt(value: float | None, pattern: str = "{:.2f}") -> str:
        return "—" if value is None else pattern.format(value)

    def add(figure: str, value: float | None, shown: str, reference: str, target: str,
            ok: bool | None, verdict: str | None = None) -> None:
        out.append({"figure": figure, "value": value, "shown": shown, "reference": reference,
                    "target": target, "ok": ok, "verdict": verdict})

    if "startup" in results:
        r = results["startup"]
        median = r.get("median_s")
        ref = (f"simulate {fmt(r.get('simulate_median_s'))} s; `import fission.backends.run` "
               f"{fmt(r.get('import_median_s'))} s (bare interpreter "
               f"{fmt(r.get('bare_median_s'))} s); original FISSION ~3.3 s"
               if median is not None else "—")
        add(f"{V3} on 3 warm agents: launch → first row of join.csv, s "
            f"(median of {len(r.get('run_s', []))})", median, fmt(median), ref,
            f"<= {STARTUP_LIMIT_S:g} s", None if median is None else median <= STARTUP_LIMIT_S)
    names = {"kill": ("SIGKILL of the forward's agent", KILL_LIMIT_S, "original (dispy) 0.5–0.6 s"),
             "stop": ("SIGSTOP of the forward's agent (NODE_TIMEOUT 1.5 s)", STOP_LIMIT_S, "—"),
             "cut": ("link cut (nftables drop on the veth)", CUT_LIMIT_S, "—")}
    for phase, (what, limit, reference) in names.items():
        if phase not in results:
            continue
        r = results[phase]
        if r.get("skipped"):
            add(f"{what} → data from the replacement, s", None, "—", r["skipped"],
                f"<= {limit:g} s", True, "skipped")
            continue
        median = r.get("median_s")
        n = len(r.get("reps", []))
        shown = fmt(median, "{:.3f}") + ("" if median is None else f" (max {r['max_s']:.3f})")
        ok = None if median is None else median <= limit and r["clean"]
        add(f"{what} → data from the replacement, s (median of {n}/{counts.get(phase, n)})",
            median, shown, reference, f"<= {limit:g} s, no stale block", ok)
        if median is not None:
            lost = f"{r['lost_median']:g} (max {r['lost_max']})"
            why = ("blocks sent into the cut link before node_down, less those the counter "
                   "replays to the replacement" if phase == "cut"
                   else "original (dispy): 2–11, as dummies")
            add(f"{what}: blocks lost at 200 blocks/s (median)", r["lost_median"], lost,
                why, "reported", True)
    if "soak" in results:
        r = results["soak"]
        downs = r.get("node_down")
        shown = "—" if downs is None else f"{downs} ({r['blocks']:,} blocks, {r['lost']} lost)"
        add(f"node_down events in a {r.get('seconds', 0):g} s run, both cores busy", downs, shown,
            "—", "0", None if downs is None else downs == 0)
    return out


def render_section(results: dict[str, Any], heading_level: int = 2) -> str:
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    quick = " (--quick)" if results.get("quick") else ""
    lines = [f"{'#' * heading_level} Failover and distributed start-up, {when}{quick}", "",
             "`benchmarks/failover.py`: node agents on 127.0.0.2–4 of this machine (2 CPUs, "
             "shared); the client is `python manage.py NET run`. See benchmarks/README.md.", "",
             "| figure | FISSION run | same-run reference | target | result |",
             "|---|---|---|---|---|"]
    verdict = {True: "pass", False: "**FAIL**", None: "**error**"}
    for row in rows(results):
        lines.append(f"| {row['figure']} | {row['shown']} | {row['reference']} | "
                     f"{row['target']} | {row['verdict'] or verdict[row['ok']]} |")
    details = []
    for phase in ("kill", "stop", "cut"):
        for i, rep in enumerate(results.get(phase, {}).get("reps", []), 1):
            def s(key: str, r: dict = rep) -> str:
                return "—" if r.get(key) is None else f"{r[key]:.3f}"
            rejoin = f"; rejoined {s('rejoin_s')} s after SIGCONT" if phase == "stop" else ""
            details.append(f"| {phase} {i} | {s('detected_s')} | {s('failover_done_s')} | "
                           f"{s('resume_s')} | {rep.get('replaced_on')} | {rep['lost']} | "
                           f"{rep['old_after_fault']} / {rep['old_after_replacement']}{rejoin} |")
    if details:
        lines += ["", "Per repetition (seconds from the fault; *old copy* = blocks of the replaced "
                  "forward at the sink after the fault / after the replacement's first block):",
                  "", "| fault | node_down | failover_done (own clock) | data again | replaced on "
                  "| blocks lost | old copy |", "|---|---|---|---|---|---|---|", *details]
    notes = []
    for phase in PHASES:
        r = results.get(phase, {})
        if r.get("error"):
            notes.append(f"{phase}: {r['error']}")
        notes += r.get("notes", [])
        if r.get("node_down_events"):
            notes.append(f"soak: node_down events: {json.dumps(r['node_down_events'])}")
    steps = results.get("startup", {}).get("run_steps_s") or []
    if steps:
        names = {"first_node_up_s": "first node joined", "all_nodes_up_s": "last node joined",
                 "all_jobs_ready_s": "last job ready"}
        parts = [f"{label} {statistics.median(s[key] for s in steps if key in s):.2f} s"
                 for key, label in names.items() if any(key in s for s in steps)]
        notes.append("startup, medians after the launch of `run`: " + ", ".join(parts))
    walls = [f"{phase} {results[phase]['wall_s']:.0f} s" for phase in PHASES
             if "wall_s" in results.get(phase, {})]
    if walls:
        notes.append("wall time: " + ", ".join(walls))
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}".replace("\n", "\n  ") for n in notes]
    return "\n".join(lines) + "\n"


def all_met(results: dict[str, Any]) -> bool:
    table = rows(results)
    return bool(table) and all(row["ok"] for row in table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="1 start-up run, 2 of each fault, 1 link cut, a 60 s soak")
    parser.add_argument("--soak", type=float, metavar="SECONDS",
                        help="length of the no-false-failover run (default 600; --quick: 60)")
    parser.add_argument("--only", nargs="+", choices=PHASES, default=list(PHASES),
                        help="run only these parts")
    harness.add_report_arguments(parser, BENCH_DIR / "results.md", "every repetition's figures")
    args = parser.parse_args(argv)
    results = run(quick=args.quick, soak=args.soak, only=tuple(args.only), keep=args.keep)
    text = render_section(results)
    harness.publish(text, results, args)
    return 0 if all_met(results) else 1


if __name__ == "__main__":
    sys.exit(main())
