"""Chaos: a network shaped like the tutorial's version 3 under one fault every 30 s.

Four node agents of this machine (:mod:`fission.loopback`), each in a network namespace of
its own on one bridge (root, ``ip`` and ``nft`` needed; without them the agents run on
127.0.0.2-5 and the two network faults are skipped), run ``benchmarks/chaos_net``'s network
``chaos`` at 200 blocks/s per source for ``--minutes`` (default 10). After a warm-up, one
fault every 30 s, in rotation, each aimed at the node running the JoinJob at that moment:

1. ``kill``: SIGKILL of the node's agent (a fresh agent is started on it 3 s later);
2. ``stop``: SIGSTOP of the node (its agent and its job processes) for 5 s;
3. ``cut``: every packet of the node's link dropped (nftables in its namespace) for 5 s;
4. ``loss``: 30 % of the node's packets dropped at random, each way, for 20 s;
5. ``jobkill``: SIGKILL of the JoinJob's process alone (as the OOM killer would).

Figures per fault kind, from the sinks' CSV files (every row checks itself, see
``chaos_net/chaos/jobs.py``) and ``events.jsonl``:

- *data again*: seconds from the fault to the end of the last pause of more than
  ``PAUSE_S`` between two rows of ``join.csv`` that began while the fault lasted or up to
  ``AFTERMATH_S`` after (0 when rows never paused; *never* when none came before the next
  fault); a `run` that a fault ends is counted as *crashed* and started again, and one
  whose rows are all still wrong when the next fault is due (``HEALED_S``) as *never
  healed*, and started again too, so that each fault starts from a clean stream;
- *lost*: rounds missing at the sink (between the first and the last round seen), each
  counted in the window of the first row after it; *repeated*: rows of a round already
  seen (a dummy repeats the previous row); *wrong*: rows of ``join.csv`` that mix rounds or
  whose product is not theirs (a run of wrong rows counts for the fault in whose window it
  began, however long it lasts), and rows of ``reduce.csv`` whose sum is not that of the
  rounds it names or that name no run of consecutive rounds (among them rounds in which the
  Join was handed a dummy, ``None``, which it writes as -1 rather than fail);
- *false node_down*: a node declared dead that no fault was aimed at or that was only
  meant to lose one job process (target 0).

Targets: lost, repeated and wrong 0 for every kind, false node_down 0. Prints a Markdown
section (``--no-append``: not appended to ``benchmarks/results.md``); exit status 0 when
every target is met. Every process, namespace and nftables table is gone at the end.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import datetime
import json
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
import psutil

from fission import loopback

BENCH_DIR = Path(__file__).resolve().parent
PROJECT = BENCH_DIR / "chaos_net"
NET = "chaos"
JOIN_ID = 4
DUMMY = -1  # chaos_net/chaos/jobs.py's
JOIN_CSV, REDUCE_CSV = "6/join.csv", "7/reduce.csv"
RATE = 200.0
AGENTS = 4
FAULT_EVERY_S = 30.0
WARMUP_S = 20.0
#: A pause between two rows of join.csv longer than this is the flow stopping (20 blocks).
PAUSE_S = 0.1
#: Pauses that begin this long after a fault has ended are not its doing.
AFTERMATH_S = 10.0
#: A fault after which every row of the last HEALED_S seconds before the next fault is
#: still wrong has not healed: the run is started again, so the next fault starts clean.
HEALED_S = 3.0
#: How long a fault lasts (kill and jobkill: instantaneous).
DURATION_S = {"kill": 0.0, "stop": 5.0, "cut": 5.0, "loss": 20.0, "jobkill": 0.0}
LOSS_PERCENT = 30
KINDS = ("kill", "stop", "cut", "loss", "jobkill")
NAMES = {"kill": "SIGKILL of an agent", "stop": "SIGSTOP of a node for 5 s",
         "cut": "link cut for 5 s", "loss": f"{LOSS_PERCENT} % packet loss for 20 s",
         "jobkill": "SIGKILL of one job process"}
RESTART_AFTER_KILL_S = 3.0
START_TIMEOUT_S = 90.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Fault:
    kind: str
    node: str
    at: float
    until: float = 0.0
    notes: list[str] = field(default_factory=list)


class Rows:
    """A CSV file of a sink read as it grows, each row with the time it was first seen."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[tuple[float, list[str]]] = []
        self._offset = 0
        self._partial = b""
        self._header = True

    def poll(self) -> None:
        try:
            with self.path.open("rb") as file:
                file.seek(self._offset)
                data = file.read()
        except FileNotFoundError:
            return
        now = time.time()
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            if self._header:
                self._header = False
                continue
            self.rows.append((now, line.decode(errors="replace").strip().split(",")))


class Watcher(threading.Thread):
    """Polls both sinks' files every 10 ms."""

    def __init__(self, local: Path) -> None:
        super().__init__(name="chaos-watcher", daemon=True)
        self.joins = Rows(local / JOIN_CSV)
        self.reduces = Rows(local / REDUCE_CSV)
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.01):
            self.joins.poll()
            self.reduces.poll()

    def stop(self) -> None:
        self.stopped.set()
        self.join(5)
        self.joins.poll()
        self.reduces.poll()


def product(seq: int) -> int:
    return (10 * seq + 1) * (10 * seq + 2) * (10 * seq + 3)


def check_join_row(row: list[str]) -> int | None:
    """The round of a correct join.csv row, None for a wrong one."""
    try:
        a, b, c, p = (int(value) for value in row)
    except ValueError:
        return None
    seq = a // 10
    if (a, b, c) != (10 * seq + 1, 10 * seq + 2, 10 * seq + 3) or p != product(seq):
        return None
    return seq


def check_reduce_row(row: list[str]) -> bool:
    try:
        first, last, total = (int(value) for value in row[0].split(":"))
    except ValueError:
        return False
    return last - first == 4 and total == sum(product(s) for s in range(first, last + 1))


# -------------------------------------------------------------------- the faults


class Chaos:
    """The cluster, its subnet, the run, and the faults injected into them."""

    def __init__(self, root: Path, subnet: loopback.Subnet | None) -> None:
        self.subnet = subnet
        hosts = subnet.inside if subnet else loopback.node_hosts(AGENTS)
        self.cluster = loopback.Cluster(
            root / "nodes", hosts=hosts, client=subnet.client if subnet else loopback.CLIENT_IP,
            namespaces=subnet.namespaces if subnet else None, tied=True)
        for agent in self.cluster.agents:
            harness.track(agent.popen)
        self.project = loopback.copy_project(PROJECT, root / "project", self.cluster.keys)
        self.run: loopback.Run | None = None
        self._timers: list[threading.Timer] = []
        #: (when, action) to be done by the thread that drives the faults (:meth:`tick`).
        self._due: list[tuple[float, Callable[[], None]]] = []

    def start(self, seconds: float) -> loopback.Run:
        self.cluster.wait_idle(90)
        env = {"CHAOS_CLIENT_IP": self.cluster.client, "CHAOS_PORT": str(self.cluster.port),
               "CHAOS_NODES": ",".join(self.cluster.hosts), "CHAOS_RATE": f"{RATE:g}"}
        # The backend clears its results folder too, but only after its imports: never let
        # the previous run's rows be read as this run's.
        shutil.rmtree(self.project / NET / "local", ignore_errors=True)
        self.run = loopback.Run(self.project, NET, "--duration", f"{seconds:g}", env=env,
                                tied=True)
        harness.track(self.run.popen)
        return self.run

    def join_node(self) -> str:
        assert self.run is not None
        return self.run.where()[JOIN_ID]

    def inject(self, kind: str) -> Fault:
        node = self.join_node()
        agent = self.cluster.agent(node)
        fault = Fault(kind, node, time.time())
        if kind == "kill":
            fault.at = agent.signal_session(signal.SIGKILL)
            # Not from a timer thread: a tied agent dies when the thread that started it
            # ends (PR_SET_PDEATHSIG), so a restarted agent would be killed at once.
            self._due.append((time.monotonic() + RESTART_AFTER_KILL_S,
                              lambda: self._restart(agent)))
        elif kind == "stop":
            processes = self._node_processes(agent)
            fault.at = time.time()
            for process in processes:
                with contextlib.suppress(psutil.Error):
                    process.suspend()
            self._later(DURATION_S["stop"], lambda: self._resume(processes))
        elif kind in ("cut", "loss"):
            assert self.subnet is not None
            fault.at = (self.subnet.cut(node) if kind == "cut"
                        else self.subnet.lose(node, LOSS_PERCENT))
            self._later(DURATION_S[kind], lambda: self.subnet.heal(node))
        elif kind == "jobkill":
            victims = [p for p in loopback.running_jobs(agent.folder(NET))
                       if Path(p.cwd()).name == str(JOIN_ID)]
            if not victims:
                fault.notes.append(f"no process of JoinJob {JOIN_ID} found on {node}")
            fault.at = time.time()
            for process in victims:
                with contextlib.suppress(psutil.Error):
                    process.kill()
        fault.until = fault.at + DURATION_S[kind]
        return fault

    def _node_processes(self, agent: loopback.Agent) -> list[psutil.Process]:
        """The agent and every job process of its node (they lead sessions of their own)."""
        found = [psutil.Process(agent.popen.pid)]
        found += loopback.job_processes(agent.home)
        return found

    @staticmethod
    def _resume(processes: list[psutil.Process]) -> None:
        for process in processes:
            with contextlib.suppress(psutil.Error):
                process.resume()

    def _restart(self, agent: loopback.Agent) -> None:
        agent.close()
        agent.start()
        harness.track(agent.popen)

    def tick(self) -> None:
        """Do what has become due (agents to start again)."""
        now = time.monotonic()
        for due in [due for due in self._due if due[0] <= now]:
            self._due.remove(due)
            due[1]()

    def _later(self, seconds: float, action) -> None:
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def settle(self) -> None:
        """After a run: every fault undone (its pending timer waited for), the run stopped,
        dead agents started again and job processes left behind killed."""
        for timer in self._timers:
            timer.join(30)
        self._timers.clear()
        self._due.clear()  # the dead agents are started again below
        if self.run is not None:
            self.run.stop(grace=20)
        for agent in self.cluster.agents:
            if not agent.alive:
                self._restart(agent)
        for process in loopback.job_processes(self.cluster.root):
            with contextlib.suppress(psutil.Error):
                process.kill()

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
            if timer.is_alive():
                timer.join(10)
        if self.subnet is not None:
            for host in self.subnet.inside:
                self.subnet.heal(host)
        if self.run is not None:
            self.run.stop(grace=20)
        self.cluster.close()
        for process in loopback.job_processes(self.cluster.root):
            with contextlib.suppress(psutil.Error):
                process.kill()


# -------------------------------------------------------------------- analysis


def _window(faults: list[Fault], t: float) -> int:
    """Index of the fault whose window holds ``t`` (-1: before the first fault)."""
    return bisect.bisect_right([f.at for f in faults], t) - 1


def analyse(faults: list[Fault], joins: list[tuple[float, list[str]]],
            reduces: list[tuple[float, list[str]]], events: list[dict[str, Any]],
            node_timeout: float = 1.5) -> dict[str, Any]:
    """Per fault (and before the first one): lost, repeated and wrong rows, data again."""
    count = len(faults)
    lost, repeated, wrong = [0] * (count + 1), [0] * (count + 1), [0] * (count + 1)
    dummies = [0] * (count + 1)
    first_seen: dict[int, float] = {}
    streak: int | None = None  # the window in which the current run of wrong rows began
    for t, row in joins:
        seq = check_join_row(row)
        index = _window(faults, t) + 1
        if seq is None:
            streak = index if streak is None else streak
            wrong[streak] += 1
            dummies[streak] += row[-1:] == [str(DUMMY)]
            continue
        streak = None
        if seq in first_seen:
            repeated[index] += 1
        else:
            first_seen[seq] = t
    streak = None
    for t, row in reduces:
        if check_reduce_row(row):
            streak = None
        else:
            streak = _window(faults, t) + 1 if streak is None else streak
            wrong[streak] += 1
    seen = sorted(first_seen)
    if seen:
        present = set(seen)
        for seq in range(seen[0], seen[-1] + 1):
            if seq not in present:
                later = seen[bisect.bisect_right(seen, seq)]
                lost[_window(faults, first_seen[later]) + 1] += 1
    times = [t for t, _ in joins]
    per_fault = []
    for index, fault in enumerate(faults):
        end = faults[index + 1].at if index + 1 < count else (times[-1] if times else fault.at)
        inside = [t for t in times if fault.at <= t <= end]
        resumed = 0.0
        previous = fault.at
        for t in inside:
            if t - previous > PAUSE_S and previous <= fault.until + AFTERMATH_S:
                resumed = t - fault.at
            previous = t
        if not inside:
            resumed = None
        downs = [e for e in events if e["event"] == "node_down" and fault.at <= e["time"] <= end]
        per_fault.append({
            "kind": fault.kind, "node": fault.node, "at": fault.at, "data_again_s": resumed,
            "lost": lost[index + 1], "repeated": repeated[index + 1],
            "wrong": wrong[index + 1], "dummies": dummies[index + 1], "rows": len(inside),
            "notes": fault.notes,
            "node_down": [e.get("node") for e in downs],
        })
    false_downs = []
    for event in (e for e in events if e["event"] == "node_down"):
        meant = any(f.node == event.get("node") and f.kind not in ("jobkill",)
                    and f.at <= event["time"] <= f.until + node_timeout + 5.0 for f in faults)
        if not meant:
            false_downs.append(event)
    return {"faults": per_fault, "before": {"lost": lost[0], "repeated": repeated[0],
                                            "wrong": wrong[0], "dummies": dummies[0]},
            "false_node_down": false_downs, "join_rows": len(joins),
            "reduce_rows": len(reduces),
            "failovers": sum(1 for e in events if e["event"] == "failover_started"),
            "job_lost": sum(1 for e in events if e["event"] == "job_lost")}


def summary(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per fault kind: count, data again (median, max), lost, repeated, wrong (sums)."""
    kinds: dict[str, dict[str, Any]] = {}
    for fault in result["faults"]:
        entry = kinds.setdefault(fault["kind"], {"n": 0, "again": [], "lost": 0,
                                                 "repeated": 0, "wrong": 0, "stalled": 0,
                                                 "crashed": 0, "dummies": 0, "unhealed": 0})
        entry["n"] += 1
        if fault.get("unhealed"):
            entry["unhealed"] += 1
        if fault.get("crashed"):
            entry["crashed"] += 1
        elif fault["data_again_s"] is None:
            entry["stalled"] += 1
        else:
            entry["again"].append(fault["data_again_s"])
        for key in ("lost", "repeated", "wrong", "dummies"):
            entry[key] += fault[key]
    for entry in kinds.values():
        again = entry["again"]
        entry["median_s"] = statistics.median(again) if again else None
        entry["max_s"] = max(again) if again else None
    return kinds


# -------------------------------------------------------------------- the run


def _segment(chaos: Chaos, kinds: tuple[str, ...], first_kind: int, seconds: float,
             result: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """One `run` with a fault every FAULT_EVERY_S until ``seconds`` have passed or the run
    exits; returns what was measured and the rotation index of the next fault."""
    run_ = chaos.start(seconds + 30)
    watcher = Watcher(run_.local)
    watcher.start()
    faults: list[Fault] = []
    index = first_kind
    crash = None
    unhealed = False
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not watcher.joins.rows:
            if run_.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"no row reached join.csv; the client said:\n"
                                   f"{run_.output[-3000:]}")
            time.sleep(0.1)
        started = time.monotonic()
        next_fault = started + WARMUP_S
        while time.monotonic() < started + seconds:
            if run_.popen.poll() is not None:
                errors = [line for line in run_.output.splitlines() if line.startswith("error")]
                crash = (f"`run` exited with {run_.popen.returncode}"
                         + (f": {errors[0]}" if errors else ""))
                log(f"  {time.monotonic() - started:5.0f} s: {crash}")
                break
            if time.monotonic() >= next_fault and faults and _unhealed(watcher.joins.rows):
                crash = (f"rows of join.csv still wrong {FAULT_EVERY_S:g} s after the fault; "
                         "the run was stopped and started again")
                log(f"  {time.monotonic() - started:5.0f} s: {crash}")
                unhealed = True
                break
            if time.monotonic() >= next_fault and started + seconds - next_fault > 10:
                kind = kinds[index % len(kinds)]
                try:
                    fault = chaos.inject(kind)
                except Exception as error:  # noqa: BLE001 - reported; the run goes on
                    result.setdefault("notes", []).append(f"{kind}: {error}")
                    log(f"  {kind} failed: {error}")
                else:
                    faults.append(fault)
                    log(f"  {time.monotonic() - started:5.0f} s: {NAMES[kind]} on "
                        f"{fault.node} ({len(watcher.joins.rows):,} rows so far)")
                index += 1
                next_fault += FAULT_EVERY_S
            chaos.tick()
            time.sleep(0.05)
    finally:
        chaos.settle()
        watcher.stop()
    segment = analyse(faults, watcher.joins.rows, watcher.reduces.rows, run_.events())
    if crash is not None and segment["faults"]:
        segment["faults"][-1]["unhealed" if unhealed else "crashed"] = crash
    elif crash is not None:
        segment["crash_before_fault"] = crash
    segment["problems"] = [line for line in run_.output.splitlines()
                           if "Traceback" in line][:5]
    return segment, index


def _unhealed(rows: list[tuple[float, list[str]]]) -> bool:
    """Whether every row of the last HEALED_S seconds is wrong (a fault that never heals
    would make every later fault's figures its own)."""
    recent = [row for t, row in rows if t >= time.time() - HEALED_S]
    return bool(recent) and all(check_join_row(row) is None for row in recent)


def run(minutes: float = 10.0, keep: bool = False) -> dict[str, Any]:
    """``minutes`` of faults; a `run` that a fault ends is reported and started again."""
    seconds = minutes * 60.0
    root = Path(tempfile.mkdtemp(prefix="fission-chaos-"))
    why = loopback.namespaces_unavailable()
    kinds = KINDS if why is None else tuple(k for k in KINDS if k not in ("cut", "loss"))
    result: dict[str, Any] = {"minutes": minutes, "skipped": why, "kinds": kinds,
                              "faults": [], "false_node_down": [], "runs": 0,
                              "before": {"lost": 0, "repeated": 0, "wrong": 0, "dummies": 0},
                              "join_rows": 0, "reduce_rows": 0, "failovers": 0,
                              "job_lost": 0, "problems": []}
    try:
        with contextlib.ExitStack() as stack:
            subnet = None if why else stack.enter_context(loopback.Subnet(inside=AGENTS))
            chaos = Chaos(root, subnet)
            stack.callback(chaos.close)
            log(f"chaos: {AGENTS} agents{' in namespaces' if subnet else ''}, {minutes:g} min, "
                f"a fault every {FAULT_EVERY_S:g} s ...")
            end = time.monotonic() + seconds
            index = 0
            while end - time.monotonic() > WARMUP_S + 20:
                segment, index = _segment(chaos, kinds, index, end - time.monotonic(), result)
                result["runs"] += 1
                result["faults"] += segment["faults"]
                result["false_node_down"] += segment["false_node_down"]
                result["problems"] += segment["problems"]
                for key in ("lost", "repeated", "wrong", "dummies"):
                    result["before"][key] += segment["before"][key]
                for key in ("join_rows", "reduce_rows", "failovers", "job_lost"):
                    result[key] += segment[key]
                if "crash_before_fault" in segment:
                    result.setdefault("notes", []).append(
                        f"run {result['runs']} ended before any fault: "
                        f"{segment['crash_before_fault']}")
    except Exception as error:  # noqa: BLE001 - reported with what was measured
        result["error"] = str(error)
        log(f"chaos: {error}")
    finally:
        if keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return result


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The table's lines: figure, shown, target, ok."""
    out = []
    kinds = summary(result) if "faults" in result else {}
    for kind in KINDS:
        if kind not in result.get("kinds", KINDS):
            out.append({"figure": f"chaos: {NAMES[kind]}", "shown": "—",
                        "target": "0 / 0 / 0", "ok": True, "verdict": "skipped"})
            continue
        entry = kinds.get(kind)
        if entry is None:
            out.append({"figure": f"chaos: {NAMES[kind]}", "shown": "not injected",
                        "target": "0 / 0 / 0", "ok": None})
            continue
        again = ("—" if entry["median_s"] is None
                 else f"{entry['median_s']:.2f} s (max {entry['max_s']:.2f})")
        stalled = f", {entry['stalled']} never again" if entry["stalled"] else ""
        crashed = f", **`run` ended {entry['crashed']}×**" if entry["crashed"] else ""
        if entry["unhealed"]:
            crashed += f", **never healed {entry['unhealed']}×**"
        shown = (f"{entry['n']}×: data again {again}{stalled}{crashed}; lost {entry['lost']}, "
                 f"repeated {entry['repeated']}, wrong {entry['wrong']}"
                 + (f" ({entry['dummies']} a dummy)" if entry["dummies"] else ""))
        ok = (entry["lost"] == entry["repeated"] == entry["wrong"] == 0
              and not entry["stalled"] and not entry["crashed"] and not entry["unhealed"])
        out.append({"figure": f"chaos: {NAMES[kind]} (lost / repeated / wrong)",
                    "shown": shown, "target": "0 / 0 / 0", "ok": ok})
    if "false_node_down" in result:
        downs = len(result["false_node_down"])
        out.append({"figure": f"chaos: false node_down in {result['minutes']:g} min",
                    "shown": str(downs), "target": "0", "ok": downs == 0})
    if result.get("error"):
        out.append({"figure": "chaos: the benchmark", "shown": "failed (see notes)",
                    "target": "runs", "ok": None})
    return out


def render_section(result: dict[str, Any], heading_level: int = 2) -> str:
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [f"{'#' * heading_level} Chaos, {when} ({result.get('minutes', 0):g} min)", "",
             f"`benchmarks/chaos.py`: the chaos network (tutorial v3's shape) at {RATE:g} "
             f"blocks/s per source on {AGENTS} agents of this machine, one fault every "
             f"{FAULT_EVERY_S:g} s aimed at the JoinJob's node. See benchmarks/README.md.", "",
             "| figure | measured | target | result |", "|---|---|---|---|"]
    verdict = {True: "pass", False: "**FAIL**", None: "**error**"}
    for row in rows(result):
        lines.append(f"| {row['figure']} | {row['shown']} | {row['target']} | "
                     f"{row.get('verdict') or verdict[row['ok']]} |")
    faults = result.get("faults", [])
    if faults:
        lines += ["", "Per fault (seconds from the fault; rows of join.csv in its window):", "",
                  "| # | fault | node | data again, s | rows | lost | repeated | wrong | "
                  "node_down |", "|---|---|---|---|---|---|---|---|---|"]
        for i, f in enumerate(faults, 1):
            again = "never" if f["data_again_s"] is None else f"{f['data_again_s']:.2f}"
            if f.get("crashed"):
                again = "`run` ended"
            elif f.get("unhealed"):
                again += ", never healed"
            lines.append(f"| {i} | {f['kind']} | {f['node']} | {again} | {f['rows']:,} | "
                         f"{f['lost']} | {f['repeated']} | {f['wrong']} | "
                         f"{', '.join(f['node_down']) or '—'} |")
    notes = list(result.get("notes", []))
    if result.get("skipped"):
        notes.append(f"cut and loss skipped: {result['skipped']}")
    if "before" in result:
        b = result["before"]
        notes.append(f"before the first fault: lost {b['lost']}, repeated {b['repeated']}, "
                     f"wrong {b['wrong']} ({b['dummies']} a dummy); {result['runs']} run(s), "
                     f"{result['join_rows']:,} rows of join.csv, "
                     f"{result['reduce_rows']:,} of reduce.csv; {result['failovers']} "
                     f"failovers, {result['job_lost']} job_lost")
    for event in result.get("false_node_down", []):
        notes.append(f"false node_down: {json.dumps(event)}")
    for fault in faults:
        notes += [f"{fault['kind']} on {fault['node']}: {n}" for n in fault["notes"]]
    for i, fault in enumerate(faults, 1):
        if fault.get("crashed"):
            notes.append(f"fault {i} ({fault['kind']}) ended the run, started again: "
                         f"{fault['crashed']}")
        if fault.get("unhealed"):
            notes.append(f"fault {i} ({fault['kind']}): {fault['unhealed']}")
    notes += [f"in the client's output: {p}" for p in result.get("problems", [])]
    if result.get("error"):
        notes.append(f"error: {result['error']}")
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}".replace("\n", "\n  ") for n in notes]
    return "\n".join(lines) + "\n"


def all_met(result: dict[str, Any]) -> bool:
    table = rows(result)
    return bool(table) and all(row["ok"] for row in table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length (default 10)")
    harness.add_report_arguments(parser, BENCH_DIR / "results.md", "every fault's figures")
    args = parser.parse_args(argv)
    try:
        result = run(args.minutes, args.keep)
    finally:
        harness.stop_all()
    text = render_section(result)
    harness.publish(text, result, args)
    return 0 if all_met(result) else 1


if __name__ == "__main__":
    sys.exit(main())
