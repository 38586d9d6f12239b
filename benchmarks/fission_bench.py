"""The FISSION side of the benchmarks: the chain of ``fission_chain/`` run by ``simulate``,
the RSS of long-running job processes, and the start-up time of the tutorial's network.

Every network runs as ``python manage.py NET simulate`` in a new session (its own process
group), exactly as a user starts it; CPU and RSS are sampled over its whole process tree
(the supervisor and its job processes).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import harness

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
CHAIN_PROJECT = BENCH_DIR / "fission_chain"
CHAIN_RESULT = CHAIN_PROJECT / "chain" / "simulation" / "3" / "result.json"
EXAMPLES = REPO / "examples"
#: A job process's command line contains this.
JOB_ENTRY = "fission.runtime.entry"


class BenchError(RuntimeError):
    """A run that produced no figures; the message says what was seen."""


def _env(**extra: str) -> dict[str, str]:
    """The environment of a network: this checkout's ``fission`` first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _start(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return harness.track(
            subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=harness.die_with_parent,
            )
        )


def _tail(log: Path, lines: int = 15) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no output)"
    return "\n".join(text[-lines:]) or "(no output)"


def simulate_chain(
    mode: str,
    count: int,
    *,
    rate: float = 1000.0,
    duration: float | None = None,
    timeout: float | None = None,
    interval: float | None = None,
    secure: bool = True,
    dashboard: bool = True,
    watch: bool = False,
    state: bool | str = False,
) -> tuple[dict[str, Any], harness.TreeSampler, float]:
    """Run the chain once; return the sink's record, the samples and the launch time (ns).

    ``secure`` sets the chain's ``SECURE`` (``FISSION_BENCH_SECURE``): True, the default,
    makes every pipe a CURVE socket; False runs plaintext pipes. ``dashboard`` sets
    ``FISSION_BENCH_DASHBOARD``; ``watch`` has a viewer on it all along (the page's
    stream open, ``/metrics`` scraped every second), as a user watching the run.
    ``state``: True, the forward job has 4 KiB of snapshotted state; ``"history"``, it
    writes the same 4 KiB every run without snapshots (``FISSION_BENCH_STATE``).
    """
    argv = [sys.executable, "manage.py", "chain", "simulate"]
    if duration is not None:
        argv += ["--duration", str(duration)]
    if timeout is None:
        pace = count / rate if mode == "latency" else count / 5_000
        timeout = 60.0 + (duration if duration is not None else pace)
    env = _env(FISSION_BENCH_MODE=mode, FISSION_BENCH_COUNT=str(count),
               FISSION_BENCH_RATE=str(rate), FISSION_BENCH_SECURE="1" if secure else "0",
               FISSION_BENCH_DASHBOARD="1" if dashboard else "0",
               FISSION_BENCH_STATE=state if isinstance(state, str) else "1" if state else "0")
    what = mode if secure else f"{mode}, SECURE = False"
    CHAIN_RESULT.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="fission-bench-") as tmp:
        log = Path(tmp) / "simulate.log"
        launched = time.perf_counter_ns()
        proc = _start(argv, CHAIN_PROJECT, env, log)
        viewer = _Viewer(log) if watch else None
        try:
            interval = harness.SAMPLE_INTERVAL[mode] if interval is None else interval
            with harness.TreeSampler([proc.pid], interval=interval) as sampler:
                try:
                    code = proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    raise BenchError(
                        f"simulate ({what}, {count} blocks) did not end within {timeout:.0f} s; "
                        f"its last output:\n{_tail(log)}"
                    ) from None
        finally:
            harness.stop(proc, sig=signal.SIGINT)
            if viewer is not None:
                viewer.join(5)
        if viewer is not None and not viewer.snapshots:
            raise BenchError(f"the viewer never got a snapshot of the dashboard ({what}); "
                             f"its last output:\n{_tail(log)}")
        if code != 0:
            raise BenchError(
                f"simulate ({what}) exited with {code}; its last output:\n{_tail(log)}"
            )
        try:
            record = json.loads(CHAIN_RESULT.read_text())
        except (OSError, ValueError) as error:
            raise BenchError(
                f"simulate ({what}) exited 0 but the sink wrote no result ({error}); "
                f"its last output:\n{_tail(log)}"
            ) from None
    return record, sampler, launched


class _Viewer(threading.Thread):
    """A user watching the dashboard: its event stream read, ``/metrics`` scraped each
    second, until the run ends."""

    def __init__(self, log: Path) -> None:
        super().__init__(daemon=True, name="bench-viewer")
        self.log = log
        self.snapshots = 0
        self.start()

    def run(self) -> None:
        deadline = time.monotonic() + 30
        match = None
        while match is None and time.monotonic() < deadline:
            match = re.search(r"dashboard: (\S+/)\?token=(\S+)", self.log.read_text(
                errors="replace"))
            time.sleep(0.05)
        if match is None:
            return
        base, token = match.groups()
        headers = {"Authorization": f"Bearer {token}"}
        scraper = threading.Thread(target=self._scrape, args=(base, headers), daemon=True)
        scraper.start()
        try:
            request = urllib.request.Request(base + "stream", headers=headers)
            with urllib.request.urlopen(request, timeout=10) as stream:
                for line in stream:
                    self.snapshots += line.startswith(b"data: ")
        except OSError:
            pass  # the run has ended

    def _scrape(self, base: str, headers: dict[str, str]) -> None:
        while True:
            try:
                request = urllib.request.Request(base + "metrics", headers=headers)
                with urllib.request.urlopen(request, timeout=10) as response:
                    response.read()
            except OSError:
                return
            time.sleep(1)


def run(mode: str, count: int, *, rate: float = 1000.0, secure: bool = True,
        dashboard: bool = True, watch: bool = False, state: bool | str = False) -> dict[str, Any]:
    """Run the chain to its end once; return the figures of :func:`harness.analyse`.

    ``secure``: encrypted (CURVE) pipes, the default, or plaintext ones (``SECURE = False``).
    ``dashboard``, ``watch``: see :func:`simulate_chain`.
    """
    record, sampler, _ = simulate_chain(mode, count, rate=rate, secure=secure,
                                        dashboard=dashboard, watch=watch, state=state)
    out = harness.analyse(record, sampler, mode)
    if record["received"] != count:
        out["error"] = f"the sink received {record['received']} of {count} blocks"
    out.update(system="fission", mode=mode, count=count, secure=secure, state=state)
    return out


def rss(seconds: float, *, first_mark: float = 5.0) -> dict[str, Any]:
    """Run the small chain at full speed for ``seconds``; RSS of each job at two instants.

    RSS is read from the samples at ``first_mark`` seconds after launch and at the end
    (``seconds`` after launch, just before ``--duration`` stops the network).
    """
    first_mark = min(first_mark, seconds / 2)
    record, sampler, launched = simulate_chain("small", 0, duration=seconds, interval=0.5)
    jobs = sampler.pids_matching(JOB_ENTRY)
    t_first = launched + int(first_mark * 1e9)
    t_end = launched + int(seconds * 1e9)
    per_job = []
    for pid in sorted(jobs):
        first, end = sampler.rss_at(pid, t_first), sampler.rss_at(pid, t_end)
        if first is None or end is None:
            continue
        per_job.append({"pid": pid, "cwd": sampler.cwds.get(pid, ""), "first_mb": first / 2**20,
                        "end_mb": end / 2**20, "growth_mb": (end - first) / 2**20})
    if not per_job:
        raise BenchError(f"no job process was sampled (pids seen: {sampler.cmdlines})")
    figures = harness.analyse(record, sampler, "small")
    return {
        "seconds": seconds,
        "first_mark_s": first_mark,
        "jobs": per_job,
        "max_first_mb": max(j["first_mb"] for j in per_job),
        "max_end_mb": max(j["end_mb"] for j in per_job),
        "max_growth_mb": max(j["growth_mb"] for j in per_job),
        "blocks": figures["blocks"],
        "blocks_per_s": figures.get("blocks_per_s"),
        "gaps": figures["gaps"],
    }


def first_block_v3(*, timeout: float = 30.0) -> float:
    """Seconds from launching the tutorial's v3 network to the first data row of join.csv."""
    csv = EXAMPLES / "demo_network_v3" / "simulation" / "6" / "join.csv"
    if not (EXAMPLES / "manage.py").is_file():
        raise BenchError(f"{EXAMPLES / 'manage.py'} does not exist")
    csv.unlink(missing_ok=True)  # never read a previous run's file
    with tempfile.TemporaryDirectory(prefix="fission-bench-") as tmp:
        log = Path(tmp) / "simulate.log"
        argv = [sys.executable, "manage.py", "demo_network_v3", "simulate"]
        launched = time.perf_counter()
        proc = _start(argv, EXAMPLES, _env(), log)
        try:
            while True:
                elapsed = time.perf_counter() - launched
                if _has_data_row(csv):
                    return elapsed
                if proc.poll() is not None:
                    raise BenchError(
                        f"demo_network_v3 exited with {proc.returncode} before writing a row; "
                        f"its last output:\n{_tail(log)}"
                    )
                if elapsed > timeout:
                    raise BenchError(f"no row in {csv} after {timeout:.0f} s:\n{_tail(log)}")
                time.sleep(0.002)
        finally:
            harness.stop(proc, sig=signal.SIGINT, grace=10.0)


def _has_data_row(csv: Path) -> bool:
    """True once the file holds a complete line after its header line."""
    try:
        data = csv.read_bytes()
    except OSError:
        return False
    return data.count(b"\n") >= 2
