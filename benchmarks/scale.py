"""Scale: 50 node agents of this machine, both cores busy, no false failover.

Fifty ``fission node`` agents (:mod:`fission.loopback`) on 127.0.0.2-51, each with
``--cpus 1`` (one job each), run ``benchmarks/scale_net``'s network ``scale``: ``--chains``
(default 20) chains of a counter and a forward at ``--rate`` blocks/s (default 10) into
one CSV sink on the client, so 40 jobs spread over 40 nodes, and 10 nodes are left to take
the jobs of a node declared dead (so that a false failover does not end the run). From the
first row at the sink on, a CPU burner per core keeps both cores busy for ``--minutes``
(default 5); node_down events are counted from the launch of `run`, start-up included.

Figures: agents that joined, jobs placed, the run's length, ``node_down`` events (no fault
is injected, so each is a false failover: target 0), rounds lost or wrong at the sink (a
row must hold one value once per chain), and the peak RSS of the client (``manage.py
scale run``: scheduler and supervisor, its local sink job apart) sampled once a second.
Prints a Markdown section (``--no-append``: not appended to ``benchmarks/results.md``); exit
status 0 when there was no false failover. Every process started here is ended.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import harness
import psutil

from fission import loopback

BENCH_DIR = Path(__file__).resolve().parent
PROJECT = BENCH_DIR / "scale_net"
NET = "scale"
SINK_CSV = "rounds.csv"
AGENTS = 50
CHAINS = 20
RATE = 10.0
#: Seconds the agents get to start (50 Python processes importing Dask on 2 busy cores).
AGENTS_TIMEOUT_S = 600.0
START_TIMEOUT_S = 300.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def burners(count: int) -> list[Any]:
    """``count`` busy loops, one per core, each tied to this process."""
    return [harness.track(subprocess.Popen(
        [sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, start_new_session=True, preexec_fn=loopback.die_with_parent))
        for _ in range(count)]


def sink_rows(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()[1:]
    return [line.split(",") for line in lines]


def check(rows: list[list[str]], chains: int) -> dict[str, int]:
    """Rounds lost (between the first and the last seen), repeated and wrong at the sink."""
    seen: list[int] = []
    wrong = 0
    for row in rows:
        if len(row) != chains or len(set(row)) != 1 or not row[0].isdigit():
            wrong += 1
            continue
        seen.append(int(row[0]))
    unique = set(seen)
    lost = (max(seen) - min(seen) + 1 - len(unique)) if seen else 0
    return {"rounds": len(seen), "lost": lost, "repeated": len(seen) - len(unique),
            "wrong": wrong}


def run(minutes: float = 5.0, agents: int = AGENTS, chains: int = CHAINS, rate: float = RATE,
        keep: bool = False, node_timeout: float | None = None) -> dict[str, Any]:
    """``node_timeout``: NODE_TIMEOUT of the network (None: FISSION's default)."""
    seconds = minutes * 60.0
    root = Path(tempfile.mkdtemp(prefix="fission-scale-"))
    result: dict[str, Any] = {"minutes": minutes, "agents": agents, "chains": chains,
                              "jobs": 2 * chains + 1, "rate": rate,
                              "node_timeout": node_timeout}
    hot: list[Any] = []
    try:
        with loopback.Cluster(root / "nodes", hosts=loopback.node_hosts(agents), cpus=1,
                              tied=True) as cluster:
            for agent in cluster.agents:
                harness.track(agent.popen)
            project = loopback.copy_project(PROJECT, root / "project", cluster.keys)
            log(f"scale: {agents} agents starting ...")
            began = time.monotonic()
            cluster.wait_idle(AGENTS_TIMEOUT_S)
            result["agents_ready_s"] = time.monotonic() - began
            log(f"  agents waiting after {result['agents_ready_s']:.0f} s; run for {minutes:g} "
                "min ...")
            env = {"SCALE_PORT": str(cluster.port), "SCALE_NODES": ",".join(cluster.hosts),
                   "SCALE_CHAINS": str(chains), "SCALE_RATE": f"{rate:g}",
                   "SCALE_NODE_TIMEOUT": "" if node_timeout is None else f"{node_timeout:g}"}
            client = loopback.Run(project, NET, env=env, tied=True)
            launched_wall = time.time()
            harness.track(client.popen)
            sink = client.local / str(2 * chains + 1) / SINK_CSV
            peak = 0
            try:
                process = psutil.Process(client.popen.pid)
                launched = time.monotonic()
                first_row = None
                while True:
                    with contextlib.suppress(psutil.Error):
                        peak = max(peak, process.memory_info().rss)
                    if client.popen.poll() is not None:
                        result["ended_early"] = (f"`run` exited with {client.popen.returncode}:"
                                                 f"\n{client.output[-2000:]}")
                        break
                    if first_row is None and len(sink_rows(sink)) > 0:
                        first_row = time.monotonic()
                        result["first_row_s"] = first_row - launched
                        hot = burners(psutil.cpu_count() or 2)
                        log(f"  first row {result['first_row_s']:.1f} s after the launch; "
                            f"{len(hot)} CPU burners")
                    if first_row is None and time.monotonic() - launched > START_TIMEOUT_S:
                        result["ended_early"] = (f"no row within {START_TIMEOUT_S:g} s:\n"
                                                 f"{client.output[-2000:]}")
                        break
                    if first_row is not None and time.monotonic() - first_row >= seconds:
                        break
                    time.sleep(1.0)
                result["ran_s"] = 0.0 if first_row is None else time.monotonic() - first_row
            finally:
                result["stop_status"] = client.stop(grace=30)
            events = client.events()
            result["client_peak_rss_mb"] = peak / 2**20
            result["node_up"] = len({e["node"] for e in events if e["event"] == "node_up"})
            result["placed"] = sum(1 for e in events if e["event"] == "placed"
                                   and e.get("incarnation") == 0)
            result["nodes_used"] = len({e["node"] for e in events if e["event"] == "placed"
                                        and e.get("incarnation") == 0
                                        and e["node"] != loopback.CLIENT_IP})
            result["launched_at"] = launched_wall
            result["node_down"] = [e for e in events if e["event"] == "node_down"]
            result["failovers"] = sum(1 for e in events if e["event"] == "failover_started")
            result.update(check(sink_rows(sink), chains))
            result["tracebacks"] = client.output.count("Traceback")
    except Exception as error:  # noqa: BLE001 - reported with what was measured
        result["error"] = str(error)
        log(f"scale: {error}")
    finally:
        for burner in hot:
            harness.stop(burner, grace=1.0)
        if keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return result


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    downs = result.get("node_down")
    if downs is None:
        return [{"figure": f"scale: {result['agents']} agents", "shown": "not measured",
                 "target": "0 false failovers", "ok": None}]
    shown = (f"{len(downs)} false failovers; {result['node_up']} agents joined, "
             f"{result['placed']} jobs placed on {result['nodes_used']} nodes and the client, "
             f"{result['ran_s'] / 60:.1f} min, both cores busy; client peak RSS "
             f"{result['client_peak_rss_mb']:.0f} MB; rounds lost {result['lost']}, "
             f"repeated {result['repeated']}, wrong {result['wrong']}")
    ok = not downs and not result.get("ended_early")
    timeout = ("" if result.get("node_timeout") is None
               else f", NODE_TIMEOUT {result['node_timeout']:g} s")
    return [{"figure": f"scale: {result['agents']} agents (--cpus 1), {result['jobs']} jobs"
             f"{timeout}, node_down events", "shown": shown, "target": "0", "ok": ok}]


def render_section(result: dict[str, Any], heading_level: int = 2) -> str:
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [f"{'#' * heading_level} Scale, {when} ({result['minutes']:g} min)", "",
             f"`benchmarks/scale.py`: {result['agents']} agents of this machine, "
             f"{result['chains']} chains at {result['rate']:g} blocks/s, a CPU burner per "
             "core. See benchmarks/README.md.", "",
             "| figure | measured | target | result |", "|---|---|---|---|"]
    verdict = {True: "pass", False: "**FAIL**", None: "**error**"}
    for row in rows(result):
        lines.append(f"| {row['figure']} | {row['shown']} | {row['target']} | "
                     f"{verdict[row['ok']]} |")
    notes = []
    for key, label in (("agents_ready_s", "agents waiting for a client after"),
                       ("first_row_s", "first row after the launch of `run`")):
        if key in result:
            notes.append(f"{label} {result[key]:.0f} s")
    downs = result.get("node_down") or []
    if downs:
        after = sorted(e["time"] - result["launched_at"] for e in downs)
        notes.append(f"node_down ({len(downs)}) at these seconds after the launch of `run`: "
                     + ", ".join(f"{s:.1f}" for s in after) + "; nodes: "
                     + ", ".join(sorted({e["node"] for e in downs})))
    for key in ("ended_early", "error"):
        if result.get(key):
            notes.append(f"{key.replace('_', ' ')}: {result[key]}")
    if result.get("tracebacks"):
        notes.append(f"{result['tracebacks']} traceback(s) in the client's output")
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}".replace("\n", "\n  ") for n in notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length (default 5)")
    parser.add_argument("--agents", type=int, default=AGENTS, help=f"default {AGENTS}")
    parser.add_argument("--chains", type=int, default=CHAINS, help=f"default {CHAINS}")
    parser.add_argument("--rate", type=float, default=RATE, help="blocks/s of each counter")
    parser.add_argument("--node-timeout", type=float,
                        help="NODE_TIMEOUT of the network, s (default: FISSION's default)")
    harness.add_report_arguments(parser, BENCH_DIR / "results.md", "the figures")
    args = parser.parse_args(argv)
    try:
        result = run(args.minutes, args.agents, args.chains, args.rate, args.keep,
                     args.node_timeout)
    finally:
        harness.stop_all()
    text = render_section(result)
    harness.publish(text, result, args)
    return 0 if all(row["ok"] for row in rows(result)) else 1


if __name__ == "__main__":
    sys.exit(main())
