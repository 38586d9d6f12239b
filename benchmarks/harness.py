"""What the raw baseline and the FISSION benchmark share: process-tree sampling, the
analysis of a sink's record, and cleaning up every process a benchmark started.

Clocks: sinks stamp blocks with ``time.perf_counter_ns()``, which on Linux is the
system-wide CLOCK_MONOTONIC, so times taken here and in any job process compare directly.

A sink's record (a JSON object, written by ``raw_chain.py``'s sink and by the FISSION
chain's ``Sink`` job) holds:

- ``received``: blocks received; ``gaps``: times a sequence number was not the expected
  one (0 for a lossless, ordered chain);
- ``progress``: ``[[blocks received so far, perf_counter_ns], ...]`` taken every
  ``progress_every`` blocks plus the first and last block;
- ``latencies_ns``: ``receive time - send stamp`` per block (latency mode only).
"""

from __future__ import annotations

import argparse
import atexit
import bisect
import contextlib
import ctypes
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import psutil

#: The numpy payload of a "large" block: float32[4096].
LARGE_FLOATS = 4096
LARGE_PAYLOAD_BYTES = LARGE_FLOATS * 4
#: The first part of a throughput run that is not measured (start-up, connection).
WARMUP_FRACTION = 0.1
#: The first part of a latency run that is not measured (a backlog built during start-up).
LATENCY_WARMUP_FRACTION = 0.2

#: Seconds between two samples of a chain's processes. Latency runs need no CPU figure, and
#: sampling every 50 ms there visibly raised the p99 of both systems on a 2-core machine.
SAMPLE_INTERVAL = {"small": 0.05, "large": 0.05, "latency": 1.0, "array16k": 0.05,
                   "array1m": 0.05}
#: The array modes: float64 arrays of this many bytes, through ArrayPipes (raw: the same bytes).
ARRAY_BYTES = {"array16k": 16 * 1024, "array1m": 1024 * 1024}
#: High-water mark of both systems' sockets in the array modes (1 MiB blocks: bounded memory).
ARRAY_HWM = 64

_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` (or first call in a child): be SIGKILLed when the parent dies."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


# -------------------------------------------------------------------- process cleanup

_LIVE: list[subprocess.Popen[Any]] = []
_STRAYS: dict[int, float] = {}  # pid -> create_time of every descendant ever sampled


def track(proc: subprocess.Popen[Any]) -> subprocess.Popen[Any]:
    """Remember ``proc`` so that :func:`stop_all` ends it on any exit."""
    _LIVE.append(proc)
    return proc


def stop(proc: subprocess.Popen[Any], *, grace: float = 5.0, sig: int = signal.SIGTERM) -> None:
    """End ``proc`` (its whole process group if it leads one): ``sig``, then SIGKILL."""
    try:
        group = os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        group = False
    if proc.poll() is None:
        _signal(proc, sig, group)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            _signal(proc, signal.SIGKILL, group)
            proc.wait()
    elif group:
        # The leader is gone; members of its group may not be.
        _signal(proc, signal.SIGKILL, True)
    if proc in _LIVE:
        _LIVE.remove(proc)
    kill_strays()


def _signal(proc: subprocess.Popen[Any], sig: int, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)


def kill_strays() -> None:
    """SIGKILL every sampled descendant still alive (checked by pid and start time)."""
    for pid, created in list(_STRAYS.items()):
        try:
            proc = psutil.Process(pid)
            if proc.create_time() == created:
                proc.kill()
        except psutil.Error:
            pass
        _STRAYS.pop(pid, None)


def stop_all() -> None:
    for proc in list(_LIVE):
        stop(proc, grace=2.0)
    kill_strays()


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def install_cleanup() -> None:
    """Make SIGTERM/SIGHUP unwind (running ``finally`` blocks) and clean up at exit."""
    atexit.register(stop_all)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)


install_cleanup()


# -------------------------------------------------------------------- sampling


class TreeSampler:
    """Samples CPU (user+sys) and RSS of some processes and all their descendants.

    A background thread takes one *sweep* every ``interval`` seconds; each sweep has one
    ``perf_counter_ns`` time. CPU of reaped children (``children_user``) is not added, so
    no process is counted twice.
    """

    def __init__(self, roots: Iterable[int], *, interval: float = 0.05) -> None:
        self.interval = interval
        self.sweeps: list[int] = []
        #: pid -> [(sweep time, cpu seconds, rss bytes), ...]
        self.series: dict[int, list[tuple[int, float, int]]] = {}
        self.cmdlines: dict[int, list[str]] = {}
        self.cwds: dict[int, str] = {}
        self._roots: list[psutil.Process] = []
        for pid in roots:
            with contextlib.suppress(psutil.Error):
                self._roots.append(psutil.Process(pid))
        self._known: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while True:
            self.sweep()
            if self._stop.wait(self.interval):
                self.sweep()
                return

    def sweep(self) -> None:
        now = time.perf_counter_ns()
        procs: list[psutil.Process] = []
        for root in self._roots:
            procs.append(root)
            with contextlib.suppress(psutil.Error):
                procs.extend(root.children(recursive=True))
        taken = False
        for proc in procs:
            known = self._known.get(proc.pid)
            if known is None:
                try:
                    created = proc.create_time()
                    self.cmdlines[proc.pid] = proc.cmdline()
                    self.cwds[proc.pid] = proc.cwd()
                except psutil.Error:
                    continue
                self._known[proc.pid] = known = proc
                if proc not in self._roots:
                    _STRAYS[proc.pid] = created
            try:
                with known.oneshot():
                    cpu = known.cpu_times()
                    rss = known.memory_info().rss
            except psutil.Error:
                continue
            self.series.setdefault(proc.pid, []).append((now, cpu.user + cpu.system, rss))
            taken = True
        if taken:
            self.sweeps.append(now)

    def _at(self, pid: int, t_ns: int) -> tuple[int, float, int] | None:
        """The last sample of ``pid`` taken at or before ``t_ns``."""
        points = self.series.get(pid, [])
        index = bisect.bisect_right(points, (t_ns, math.inf, 0)) - 1
        return points[index] if index >= 0 else None

    def cpu_between(self, t0_ns: int, t1_ns: int) -> float:
        """CPU seconds the sampled processes used between two sweep times."""
        total = 0.0
        for pid in self.series:
            end = self._at(pid, t1_ns)
            if end is None:
                continue
            start = self._at(pid, t0_ns)
            total += end[1] - (start[1] if start is not None else 0.0)
        return total

    def total_cpu(self) -> float:
        """CPU seconds of every sampled process, as last seen (a lower bound)."""
        return sum(points[-1][1] for points in self.series.values())

    def rss_at(self, pid: int, t_ns: int) -> int | None:
        sample = self._at(pid, t_ns)
        return sample[2] if sample is not None else None

    def pids_matching(self, needle: str) -> list[int]:
        return [pid for pid, argv in self.cmdlines.items() if any(needle in a for a in argv)]


# -------------------------------------------------------------------- analysis


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def _blocks_at(progress: Sequence[Sequence[int]], t_ns: int) -> float:
    """Blocks received by ``t_ns``, interpolated linearly in the sink's progress record."""
    times = [t for _, t in progress]
    index = bisect.bisect_right(times, t_ns)
    if index == 0:
        return 0.0
    if index == len(progress):
        return float(progress[-1][0])
    (n0, t0), (n1, t1) = progress[index - 1], progress[index]
    return n0 + (n1 - n0) * (t_ns - t0) / (t1 - t0) if t1 > t0 else float(n0)


def analyse(record: dict[str, Any], sampler: TreeSampler, mode: str) -> dict[str, Any]:
    """Turn a sink's record and the CPU samples of the chain into the reported figures.

    Throughput and CPU per block use the steady part of the run: from the block at
    ``WARMUP_FRACTION`` of the run to the last block. CPU is measured between the first
    and the last sampler sweep inside that window and divided by the blocks the sink
    received between the same two instants.
    """
    progress = record["progress"]
    out: dict[str, Any] = {"blocks": record["received"], "gaps": record["gaps"]}
    if len(progress) < 2:
        out["error"] = f"the sink received {record['received']} block(s)"
        return out
    n_end, t_end = progress[-1]
    start = max(1, int(n_end * WARMUP_FRACTION))
    n_a, t_a = next(p for p in progress if p[0] >= start)
    if t_end > t_a:
        out["blocks_per_s"] = (n_end - n_a) * 1e9 / (t_end - t_a)
        if mode == "large":
            out["mb_per_s"] = out["blocks_per_s"] * LARGE_PAYLOAD_BYTES / 1e6
        elif mode in ARRAY_BYTES:
            out["mb_per_s"] = out["blocks_per_s"] * ARRAY_BYTES[mode] / 1e6
    window = [t for t in sampler.sweeps if t_a <= t <= t_end]
    blocks = _blocks_at(progress, window[-1]) - _blocks_at(progress, window[0]) if window else 0
    if len(window) >= 2 and blocks > 0:
        out["cpu_us_per_block"] = sampler.cpu_between(window[0], window[-1]) * 1e6 / blocks
        out["cpu_window_s"] = (window[-1] - window[0]) / 1e9
    else:  # a run too short for two sweeps: whole-run CPU, start-up included
        out["cpu_us_per_block"] = sampler.total_cpu() * 1e6 / max(1, n_end)
        out["cpu_window_s"] = 0.0
    out["cpu_total_s"] = sampler.total_cpu()
    latencies = record.get("latencies_ns")
    if latencies:
        kept = sorted(latencies[int(len(latencies) * LATENCY_WARMUP_FRACTION) :])
        out["latency_n"] = len(kept)
        out["p50_us"] = percentile(kept, 50) / 1e3
        out["p99_us"] = percentile(kept, 99) / 1e3
        out["max_us"] = kept[-1] / 1e3
    return out


def add_report_arguments(parser: argparse.ArgumentParser, default_output: Path,
                         figures: str) -> None:
    """The options every fault benchmark shares: where its Markdown section goes, a JSON
    copy of ``figures`` (what it measured), and keeping its temporary folder."""
    parser.add_argument("--output", type=Path, default=default_output,
                        help="the Markdown file the section is appended to")
    parser.add_argument("--no-append", action="store_true", help="only print the section")
    parser.add_argument("--json", type=Path, help=f"also write {figures} here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")


def publish(text: str, figures: Any, args: argparse.Namespace) -> None:
    """Print a benchmark's section, append it to ``--output`` unless ``--no-append``, and
    write ``figures`` to ``--json`` if asked."""
    print(text)
    if not args.no_append:
        with args.output.open("a") as out:
            out.write("\n" + text)
        print(f"appended to {args.output}", file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=str))
