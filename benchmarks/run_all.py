"""Run every FISSION benchmark next to its raw pyzmq baseline and report the ratios.

The machine is shared and noisy, so each figure is the median of ``--repeat`` runs, and
the two sides of a comparison (raw and FISSION, or plaintext and encrypted) run
alternately: both see the same machine. Every comparison is like for like: FISSION's
``SECURE`` (CURVE on every pipe, the default) against a plaintext raw baseline would charge
libzmq's encryption to the framework. Targets:

- small blocks ``(seq, t_ns)``: FISSION blocks/s >= 30 % of raw; CPU per block <= 4x raw;
- 16 KiB numpy blocks: FISSION MB/s >= 50 % of raw;
- ``arrays``: float64 arrays of 16 KiB and 1 MiB through ``ArrayPipe``s: FISSION MB/s
  >= 90 % of raw pyzmq sending the same bytes;
  (these two measure the framework's overhead: FISSION runs with plaintext pipes,
  ``SECURE = False``, as the raw baseline is plaintext);
- ``encryption``: the FISSION chain with encrypted pipes (CURVE, ``SECURE`` on) keeps
  >= 70 % of its throughput with plaintext pipes, for small and for 16 KiB blocks. Next to
  each, with no target, the same ratio for the raw pyzmq chain (over ipc, as ``simulate``)
  with CURVE on every socket against plaintext: the cost of CURVE in libzmq itself; and,
  for 16 KiB blocks, an estimate of what the FISSION chain would keep if CURVE cost no more
  than libsodium's box calls alone (``curve_floor.py``);
- ``state``: the FISSION chain whose forward job has 4 KiB of ``STATE`` (snapshotted, as
  ``RESTART = "on-failure"`` makes it under ``simulate``) keeps >= 95 % of the small-block
  throughput of the plain chain (both plaintext);
- latency over two hops at 1000 blocks/s: p50 <= 2x raw p50; p99 <= 2 ms;
- RSS of each job process after ``--rss-seconds`` at full speed <= 40 MB, not growing;
- first data row of the tutorial's demo_network_v3 within 1.5 s of launching it;
  (latency, RSS and start-up run FISSION as configured by default: encrypted pipes);
- ``failover`` (``failover.py``, ``run`` on node agents of this machine): v3's first row
  within 2 s on warm agents; data from a replacement within 0.3 s of a node's SIGKILL and
  2.5 s of its SIGSTOP or a link cut; no node declared dead while both cores are busy;
- ``chaos`` (``chaos.py``): tutorial v3's shape at 200 blocks/s on four agents, a fault
  every 30 s (agent SIGKILL, SIGSTOP, link cut, 30 % loss, job SIGKILL): no block lost,
  repeated or wrong, no false ``node_down``;
- ``scale`` (``scale.py``): 50 agents, both cores busy: no false failover.

Prints a Markdown table and writes it to ``benchmarks/results.md``. Exit status: 0 when
every target is met, 1 when one is missed or a run failed (rows without a target, marked
"reference", do not count).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chaos
import curve_floor
import failover
import fission_bench
import raw_chain
import scale

BENCH_DIR = Path(__file__).resolve().parent

#: A watched dashboard keeps at least this share of small-block throughput (<= 3 % cost).
DASHBOARD_MIN_RATIO = 0.97
#: Encrypted pipes keep at least this share of the plaintext throughput of the chain.
ENCRYPTED_MIN_RATIO = 0.70
#: Transport of the raw CURVE-vs-plaintext reference: ipc, as FISSION's simulate uses.
ENCRYPTION_RAW_TRANSPORT = "ipc"
#: Hops of the chain (source -> forward -> sink): each seals a block once and opens it once.
CHAIN_HOPS = 2
#: Pipes of each FISSION figure, shown in the figure's name.
PLAIN_PIPES = "FISSION plaintext pipes"
ENCRYPTED_PIPES = "FISSION encrypted pipes"
#: ArrayPipe chains keep at least this share of raw pyzmq's throughput of the same bytes.
ARRAY_MIN_RATIO = 0.90
#: Transport of the arrays' raw baseline: ipc, as FISSION's simulate uses (like for like).
ARRAY_RAW_TRANSPORT = "ipc"
RSS_LIMIT_MB = 40.0
#: "Not growing": RSS at the end may exceed RSS at the first mark by at most this much.
RSS_GROWTH_LIMIT_MB = 2.0
FIRST_BLOCK_LIMIT_S = 1.5


@dataclass
class Row:
    """One line of the table."""

    figure: str
    raw: float | None
    fission: float | None
    ratio: float | None
    target: str
    ok: bool | None  # None: could not be measured
    unit_format: str = "{:,.0f}"
    #: Shown instead of the formatted FISSION figure, e.g. "0.104 (max 0.116)".
    shown: str | None = None
    #: Shown instead of pass/FAIL/error, e.g. "skipped", or "reference" for a figure with no
    #: target (``ok`` then says how it counts for the exit status: True, not at all).
    verdict: str | None = None

    def cells(self) -> list[str]:
        def fmt(value: float | None, pattern: str) -> str:
            return "—" if value is None or math.isnan(value) else pattern.format(value)

        verdict = self.verdict or {True: "pass", False: "**FAIL**", None: "**error**"}[self.ok]
        fission = self.shown if self.shown is not None else fmt(self.fission, self.unit_format)
        return [self.figure, fmt(self.raw, self.unit_format), fission,
                fmt(self.ratio, "{:.2f}"), self.target, verdict]


class Report:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.details: dict[str, Any] = {}
        #: Markdown sections printed after the table and its notes.
        self.sections: list[str] = []

    def error(self, what: str, error: BaseException) -> None:
        message = str(error) if isinstance(error, fission_bench.BenchError) else (
            "".join(traceback.format_exception(type(error), error, error.__traceback__)))
        self.notes.append(f"{what}: {message.strip()}")
        print(f"  {what} failed: {message.strip()}", file=sys.stderr, flush=True)


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
    return statistics.median(values) if values else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _alternate(
    report: Report, name: str, repeat: int,
    raw_run: Callable[[], dict[str, Any]], fission_run: Callable[[], dict[str, Any]],
    *, labels: tuple[str, str] = ("raw", "FISSION"),
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run the baseline (raw) and FISSION ``repeat`` times each, alternately, the baseline
    first; keep the runs that worked. ``labels`` name the two in messages and, lowercased,
    in ``report.details[name]``."""
    raw_runs: list[dict[str, Any]] = []
    fission_runs: list[dict[str, Any]] = []
    for i in range(repeat):
        pairs = ((labels[0], raw_run, raw_runs), (labels[1], fission_run, fission_runs))
        for system, run, runs in pairs:
            print(f"{name}: {system} run {i + 1}/{repeat} ...", file=sys.stderr, flush=True)
            try:
                figures = run()
            except Exception as error:  # noqa: BLE001 - reported, the other benchmarks go on
                report.error(f"{name}, {system} run {i + 1}", error)
                continue
            if figures.get("error"):
                report.notes.append(f"{name}, {system} run {i + 1}: {figures['error']}")
            if figures.get("gaps"):
                report.notes.append(f"{name}, {system} run {i + 1}: {figures['gaps']} "
                                    "block(s) out of sequence")
            print(f"  {_summary(figures)}", file=sys.stderr, flush=True)
            runs.append(figures)
    report.details[name] = {labels[0].lower(): raw_runs, labels[1].lower(): fission_runs}
    return raw_runs, fission_runs


def _summary(figures: dict[str, Any]) -> str:
    keys = ("blocks", "blocks_per_s", "mb_per_s", "cpu_us_per_block", "p50_us", "p99_us")
    return ", ".join(f"{k}={figures[k]:,.1f}" if isinstance(figures[k], float) else
                     f"{k}={figures[k]}" for k in keys if k in figures)


def _clean(runs: list[dict[str, Any]]) -> bool:
    """True when every run delivered every block, in order."""
    return bool(runs) and all(not r.get("error") and not r.get("gaps") for r in runs)


def bench_small(report: Report, args: argparse.Namespace) -> None:
    """Framework overhead: FISSION with plaintext pipes (``SECURE = False``) vs raw pyzmq."""
    raw, fis = _alternate(
        report, "small", args.repeat,
        lambda: raw_chain.run("small", args.small_count, transport=args.raw_transport),
        lambda: fission_bench.run("small", args.small_count, secure=False),
    )
    clean = _clean(fis)
    r, f = _median(raw, "blocks_per_s"), _median(fis, "blocks_per_s")
    ratio = _ratio(f, r)
    report.rows.append(Row(f"small blocks: blocks/s ({PLAIN_PIPES})", r, f, ratio,
                           ">= 0.30 × raw", None if ratio is None else clean and ratio >= 0.30))
    r, f = _median(raw, "cpu_us_per_block"), _median(fis, "cpu_us_per_block")
    ratio = _ratio(f, r)
    report.rows.append(Row(f"small blocks: CPU µs/block ({PLAIN_PIPES})", r, f, ratio,
                           "<= 4 × raw", None if ratio is None else clean and ratio <= 4.0,
                           "{:.1f}"))


def bench_dashboard(report: Report, args: argparse.Namespace) -> None:
    """The dashboard's cost: the small-block chain (plaintext pipes) with the dashboard on
    and watched all along (its stream open, /metrics scraped each second) against
    ``DASHBOARD = None``, alternately."""
    off, on = _alternate(
        report, "dashboard", args.repeat,
        lambda: fission_bench.run("small", args.small_count, secure=False, dashboard=False),
        lambda: fission_bench.run("small", args.small_count, secure=False, dashboard=True,
                                  watch=True),
        labels=("off", "watched"),
    )
    clean = _clean(off) and _clean(on)
    o, w = _median(off, "blocks_per_s"), _median(on, "blocks_per_s")
    ratio = _ratio(w, o)
    report.rows.append(Row(f"dashboard watched vs DASHBOARD = None: small blocks/s "
                           f"({PLAIN_PIPES})", o, w, ratio, f">= {DASHBOARD_MIN_RATIO:.2f} × off",
                           None if ratio is None else clean and ratio >= DASHBOARD_MIN_RATIO))
    o, w = _median(off, "cpu_us_per_block"), _median(on, "cpu_us_per_block")
    report.rows.append(Row(f"dashboard watched vs DASHBOARD = None: CPU µs/small block "
                           f"({PLAIN_PIPES})", o, w, _ratio(w, o), "",
                           None if o is None or w is None else True, "{:.1f}",
                           verdict="reference"))


def bench_large(report: Report, args: argparse.Namespace) -> None:
    """Framework overhead: FISSION with plaintext pipes (``SECURE = False``) vs raw pyzmq."""
    raw, fis = _alternate(
        report, "large", args.repeat,
        lambda: raw_chain.run("large", args.large_count, transport=args.raw_transport),
        lambda: fission_bench.run("large", args.large_count, secure=False),
    )
    r, f = _median(raw, "mb_per_s"), _median(fis, "mb_per_s")
    ratio = _ratio(f, r)
    report.rows.append(Row(f"16 KiB numpy blocks: MB/s ({PLAIN_PIPES})", r, f, ratio,
                           ">= 0.50 × raw",
                           None if ratio is None else _clean(fis) and ratio >= 0.50))


def bench_arrays(report: Report, args: argparse.Namespace) -> None:
    """ArrayPipe: float64 arrays of 16 KiB and 1 MiB, FISSION with plaintext pipes vs raw
    pyzmq sending the very same bytes (no pickle on either side), both over ipc."""
    for mode, count, size in (("array16k", args.array_count, "16 KiB"),
                              ("array1m", max(1, args.array_count // 20), "1 MiB")):
        raw, fis = _alternate(
            report, mode, args.repeat,
            lambda mode=mode, count=count: raw_chain.run(mode, count,
                                                         transport=ARRAY_RAW_TRANSPORT),
            lambda mode=mode, count=count: fission_bench.run(mode, count, secure=False),
        )
        r, f = _median(raw, "mb_per_s"), _median(fis, "mb_per_s")
        ratio = _ratio(f, r)
        report.rows.append(Row(f"{size} numpy arrays, ArrayPipe: MB/s ({PLAIN_PIPES})", r, f,
                               ratio, f">= {ARRAY_MIN_RATIO:.2f} × raw",
                               None if ratio is None
                               else _clean(fis) and ratio >= ARRAY_MIN_RATIO))
        _cpu_note(report, f"arrays {size}, FISSION vs raw", raw, fis, "FISSION")
    report.notes.append(f"arrays: the raw baseline runs over {ARRAY_RAW_TRANSPORT}, as "
                        "simulate's pipes, whatever --raw-transport says")


def bench_encryption(report: Report, args: argparse.Namespace) -> None:
    """Per block size: the FISSION chain with plaintext (``SECURE = False``) and encrypted
    pipes, alternately (target); then the raw pyzmq chain plaintext and with CURVE on every
    socket, alternately (reference, no target: what CURVE costs in libzmq itself)."""
    for mode, count, key, figure in (
        ("small", args.small_count, "blocks_per_s", "small blocks: blocks/s"),
        ("large", args.large_count, "mb_per_s", "16 KiB numpy blocks: MB/s"),
    ):
        _encryption_rows(report, args, mode, count, key, figure)


def _encryption_rows(report: Report, args: argparse.Namespace, mode: str, count: int,
                     key: str, figure: str) -> None:
    plain, secure = _alternate(
        report, f"encryption {mode}", args.repeat,
        lambda: fission_bench.run(mode, count, secure=False),
        lambda: fission_bench.run(mode, count, secure=True),
        labels=("plaintext", "encrypted"),
    )
    p, e = _median(plain, key), _median(secure, key)
    ratio = _ratio(e, p)
    report.rows.append(Row(f"FISSION: encrypted (CURVE) vs plaintext pipes, {figure}", p, e,
                           ratio, f">= {ENCRYPTED_MIN_RATIO:.2f} × plaintext",
                           None if ratio is None
                           else _clean(plain) and _clean(secure) and ratio >= ENCRYPTED_MIN_RATIO))
    _cpu_note(report, f"encryption, FISSION, {mode} blocks", plain, secure, "encrypted")
    if mode == "large":
        _cipher_estimate_row(report, figure, _median(plain, "cpu_us_per_block"))

    transport = ENCRYPTION_RAW_TRANSPORT
    raw_plain, raw_curve = _alternate(
        report, f"encryption {mode} raw", args.repeat,
        lambda: raw_chain.run(mode, count, transport=transport, curve=False),
        lambda: raw_chain.run(mode, count, transport=transport, curve=True),
        labels=("plaintext", "CURVE"),
    )
    p, c = _median(raw_plain, key), _median(raw_curve, key)
    ratio = _ratio(c, p)
    # No target: ok=True keeps it out of the exit status; a figure that could not be
    # measured (every run of a side failed) is still an error.
    report.rows.append(Row(f"raw pyzmq ({transport}): CURVE vs plaintext, {figure}", p, c,
                           ratio, "none: the cost of CURVE in libzmq",
                           None if ratio is None else True,
                           verdict=None if ratio is None else "reference"))
    _cpu_note(report, f"encryption, raw pyzmq ({transport}), {mode} blocks", raw_plain,
              raw_curve, "CURVE")


def _cipher_estimate_row(report: Report, figure: str, plain_cpu: float | None) -> None:
    """What encrypted pipes would keep of the FISSION chain's 16 KiB throughput if CURVE
    added nothing but its cipher: the plaintext CPU per block against that plus
    libsodium's seal and open of the block at each of the chain's hops (``curve_floor``),
    timed alone. A reference that splits a shortfall into the cipher's share and the rest
    (libzmq's CURVE around it, contention). Only for large blocks: for small ones the
    cipher is a few per cent, and CURVE's effect on how blocks batch outweighs it."""
    size = curve_floor.block_size("large")
    try:
        seal, open_ = curve_floor.box_us(size)
    except (OSError, RuntimeError) as error:
        report.error("encryption large: libsodium's box alone", error)
        seal = open_ = None
    cipher = None if seal is None else CHAIN_HOPS * (seal + open_)
    with_cipher = None if cipher is None or plain_cpu is None else plain_cpu + cipher
    ratio = _ratio(plain_cpu, with_cipher)
    report.rows.append(Row(
        f"estimate if CURVE cost only its cipher, {figure.split(':')[0]}: FISSION plaintext "
        f"CPU µs/block vs that + libsodium's box alone ({CHAIN_HOPS} hops × seal+open of "
        f"{size:,} bytes)",
        plain_cpu, with_cipher, ratio, "none: the cipher's own cost",
        None if ratio is None else True, unit_format="{:,.1f}",
        verdict=None if ratio is None else "reference"))
    if cipher is not None:
        report.notes.append(f"libsodium's box alone, {size:,}-byte frame: seal {seal:.2f} µs, "
                            f"open {open_:.2f} µs (best of 5 × 2,000 on an idle core)")


def _cpu_note(report: Report, what: str, plain: list[dict[str, Any]],
              secure: list[dict[str, Any]], label: str) -> None:
    p, e = _median(plain, "cpu_us_per_block"), _median(secure, "cpu_us_per_block")
    if p is not None and e is not None:
        report.notes.append(f"{what}: CPU {e:.1f} µs/block {label} vs {p:.1f} plaintext "
                            f"({e / p:.2f}×), median of {len(secure)}/{len(plain)} run(s)")


#: A job with 4 KiB of snapshotted state keeps at least this share of small-block throughput.
STATE_MIN_RATIO = 0.95


def bench_state(report: Report, args: argparse.Namespace) -> None:
    """The cost of snapshots: the chain with a stateful forward job against the same job
    without them (its ``run`` writes the same 4 KiB history: only FISSION's work for the
    state, snapshots and the retention they need, differs)."""
    plain, stateful = _alternate(
        report, "state", args.repeat,
        lambda: fission_bench.run("small", args.small_count, secure=False, state="history"),
        lambda: fission_bench.run("small", args.small_count, secure=False, state=True),
        labels=("without STATE", "stateful"),
    )
    p, s = _median(plain, "blocks_per_s"), _median(stateful, "blocks_per_s")
    ratio = _ratio(s, p)
    report.rows.append(Row(f"FISSION: 4 KiB STATE snapshotted vs none, small blocks: blocks/s "
                           f"({PLAIN_PIPES})", p, s, ratio, f">= {STATE_MIN_RATIO:.2f} × none",
                           None if ratio is None
                           else _clean(plain) and _clean(stateful) and ratio >= STATE_MIN_RATIO))


def bench_latency(report: Report, args: argparse.Namespace) -> None:
    raw, fis = _alternate(
        report, "latency", args.repeat,
        lambda: raw_chain.run("latency", args.latency_count, rate=args.rate,
                              transport=args.raw_transport),
        lambda: fission_bench.run("latency", args.latency_count, rate=args.rate),
    )
    clean = _clean(fis)
    rate = f"{args.rate:,.0f}/s"
    r, f = _median(raw, "p50_us"), _median(fis, "p50_us")
    ratio = _ratio(f, r)
    report.rows.append(Row(f"latency, 2 hops, {rate}: p50 µs ({ENCRYPTED_PIPES})", r, f, ratio,
                           "<= 2 × raw", None if ratio is None else clean and ratio <= 2.0))
    r, f = _median(raw, "p99_us"), _median(fis, "p99_us")
    report.rows.append(Row(f"latency, 2 hops, {rate}: p99 µs ({ENCRYPTED_PIPES})", r, f,
                           _ratio(f, r), "<= 2,000 µs",
                           None if f is None else clean and f <= 2000.0))


def bench_rss(report: Report, args: argparse.Namespace) -> None:
    print(f"rss: FISSION small chain at full speed for {args.rss_seconds:g} s ...",
          file=sys.stderr, flush=True)
    try:
        figures = fission_bench.rss(args.rss_seconds)
    except Exception as error:  # noqa: BLE001 - reported, the other benchmarks go on
        report.error("rss", error)
        report.rows.append(Row(f"RSS per job process, MB ({ENCRYPTED_PIPES})", None, None, None,
                               f"<= {RSS_LIMIT_MB:.0f} MB", None))
        return
    report.details["rss"] = figures
    for job in figures["jobs"]:
        print(f"  job in {Path(job['cwd']).name or '?'}: {job['first_mb']:.1f} MB at "
              f"{figures['first_mark_s']:g} s, {job['end_mb']:.1f} MB at the end",
              file=sys.stderr, flush=True)
    clean = not figures["gaps"]
    if not clean:
        report.notes.append(f"rss: {figures['gaps']} block(s) out of sequence")
    mark = f"{figures['first_mark_s']:g} s"
    end = f"{figures['seconds']:g} s"
    report.rows.append(Row(f"RSS per job process at {mark}, MB (max; {ENCRYPTED_PIPES})", None,
                           figures["max_first_mb"], None, f"<= {RSS_LIMIT_MB:.0f} MB",
                           figures["max_first_mb"] <= RSS_LIMIT_MB, "{:.1f}"))
    report.rows.append(Row(f"RSS per job process at {end}, MB (max; {ENCRYPTED_PIPES})", None,
                           figures["max_end_mb"], None, f"<= {RSS_LIMIT_MB:.0f} MB",
                           clean and figures["max_end_mb"] <= RSS_LIMIT_MB, "{:.1f}"))
    report.rows.append(Row(f"RSS growth {mark} → {end}, MB (max; {ENCRYPTED_PIPES})", None,
                           figures["max_growth_mb"], None, f"<= {RSS_GROWTH_LIMIT_MB:g} MB",
                           figures["max_growth_mb"] <= RSS_GROWTH_LIMIT_MB, "{:+.2f}"))
    report.notes.append(
        f"rss: {figures['blocks']:,} blocks in {figures['seconds']:g} s "
        f"({(figures['blocks_per_s'] or 0):,.0f} blocks/s in the steady part)")


def bench_first_block(report: Report, args: argparse.Namespace) -> None:
    times = []
    for i in range(args.repeat):
        print(f"first block: demo_network_v3 run {i + 1}/{args.repeat} ...",
              file=sys.stderr, flush=True)
        try:
            times.append(fission_bench.first_block_v3())
        except Exception as error:  # noqa: BLE001 - reported, the other benchmarks go on
            report.error(f"first block, run {i + 1}", error)
            continue
        print(f"  {times[-1]:.3f} s", file=sys.stderr, flush=True)
    report.details["first_block_s"] = times
    median = statistics.median(times) if times else None
    report.rows.append(Row(f"demo_network_v3: launch → first row of join.csv, s "
                           f"({ENCRYPTED_PIPES})", None, median,
                           None, f"<= {FIRST_BLOCK_LIMIT_S:g} s",
                           None if median is None else median <= FIRST_BLOCK_LIMIT_S, "{:.2f}"))


def bench_failover(report: Report, args: argparse.Namespace) -> None:
    """failover.py: ``run`` on node agents; its rows, and its own section with the details."""
    print("failover: start-up, SIGKILL, SIGSTOP, link cut and soak of `run` ...",
          file=sys.stderr, flush=True)
    try:
        results = failover.run(quick=args.quick, soak=args.soak)
    except Exception as error:  # noqa: BLE001 - reported, the other benchmarks go on
        report.error("failover", error)
        report.rows.append(Row("failover (failover.py)", None, None, None, "see its section",
                               None))
        return
    report.details["failover"] = results
    for row in failover.rows(results):
        report.rows.append(Row(row["figure"], None, row["value"], None, row["target"], row["ok"],
                               shown=row["shown"], verdict=row.get("verdict")))
    report.sections.append(failover.render_section(results, heading_level=2))


def _section_rows(report: Report, module: Any, name: str, results: dict[str, Any]) -> None:
    """A benchmark with its own section (chaos, scale): its rows and that section."""
    report.details[name] = results
    for row in module.rows(results):
        report.rows.append(Row(row["figure"], None, None, None, row["target"], row["ok"],
                               shown=row["shown"], verdict=row.get("verdict")))
    report.sections.append(module.render_section(results, heading_level=2))


def bench_chaos(report: Report, args: argparse.Namespace) -> None:
    """chaos.py: tutorial v3's shape under a fault every 30 s, on four agents."""
    print(f"chaos: {args.chaos_minutes:g} min of faults ...", file=sys.stderr, flush=True)
    try:
        results = chaos.run(args.chaos_minutes)
    except Exception as error:  # noqa: BLE001 - reported, the other benchmarks go on
        report.error("chaos", error)
        report.rows.append(Row("chaos (chaos.py)", None, None, None, "see its section", None))
        return
    _section_rows(report, chaos, "chaos", results)


def bench_scale(report: Report, args: argparse.Namespace) -> None:
    """scale.py: 50 agents, both cores busy: no false failover."""
    print(f"scale: 50 agents for {args.scale_minutes:g} min ...", file=sys.stderr, flush=True)
    try:
        results = scale.run(args.scale_minutes)
    except Exception as error:  # noqa: BLE001 - reported, the other benchmarks go on
        report.error("scale", error)
        report.rows.append(Row("scale (scale.py)", None, None, None, "see its section", None))
        return
    _section_rows(report, scale, "scale", results)


BENCHMARKS = {
    "small": bench_small,
    "dashboard": bench_dashboard,
    "large": bench_large,
    "arrays": bench_arrays,
    "encryption": bench_encryption,
    "state": bench_state,
    "latency": bench_latency,
    "rss": bench_rss,
    "startup": bench_first_block,
    "failover": bench_failover,
    "chaos": bench_chaos,
    "scale": bench_scale,
}


def _versions() -> str:
    import numpy
    import zmq

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BENCH_DIR,
                                capture_output=True, text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "fission"], cwd=BENCH_DIR,
                               capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        commit, dirty = "", ""
    commit = (commit or "unknown") + (" + uncommitted changes in fission/" if dirty else "")
    return (f"commit {commit}; Python {platform.python_version()}, pyzmq {zmq.__version__} "
            f"(libzmq {zmq.zmq_version()}), numpy {numpy.__version__}; {os.cpu_count()} CPUs")


def render(report: Report, args: argparse.Namespace) -> str:
    baseline = f"raw pyzmq ({args.raw_transport}, plaintext)"
    measured = "FISSION (simulate, ipc; failover, chaos, scale: run)"
    ratio = "FISSION / raw"
    if "encryption" in args.only:
        baseline += "; *CURVE vs plaintext* rows: plaintext"
        measured += "; *CURVE vs plaintext* rows: encrypted (CURVE)"
        ratio += "; *CURVE vs plaintext* rows: CURVE / plaintext"
    header = ["figure", baseline, measured, ratio, "target", "result"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in report.rows]
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    counts = (f"small {args.small_count:,} blocks, large {args.large_count:,} blocks, "
              f"latency {args.latency_count:,} blocks at {args.rate:,.0f}/s; "
              f"median of {args.repeat} run(s) each{' (--quick)' if args.quick else ''}")
    text = [
        "# FISSION benchmark results",
        "",
        f"Measured {when}: {_versions()}.",
        f"Runs: {counts}.",
        "",
        *lines,
        "",
        "Throughput and CPU per block cover the steady part of a run (from the block at 10 % "
        "of the run to the last); CPU is the user+system time of every process of the chain "
        "(FISSION: the simulate supervisor and its job processes). Latencies leave out the first "
        "20 % of blocks. Pipes are named in each figure: the small and 16 KiB rows against raw "
        "pyzmq measure the framework's overhead, so FISSION runs them with plaintext pipes "
        "(`SECURE = False`), like the plaintext raw baseline; latency, RSS, start-up and "
        "failover run FISSION as configured by default, with encrypted pipes (CURVE, `SECURE` "
        "on). The *CURVE vs plaintext* rows run, with the counts above, the FISSION chain with "
        "`SECURE = False` and with `SECURE` on, alternately (target: encrypted ≥ "
        f"{ENCRYPTED_MIN_RATIO:.2f} × plaintext), and the raw pyzmq chain over "
        f"{ENCRYPTION_RAW_TRANSPORT} (as simulate) plaintext and with CURVE on every socket, "
        "alternately: the cost of CURVE in libzmq itself, a *reference* with no target that "
        "does not count for the exit status. The *estimate* row (a reference too) sets FISSION's "
        "plaintext CPU per 16 KiB block against that plus libsodium's seal and open of the "
        "block at each hop, timed alone: what encryption would keep if CURVE cost only its "
        "cipher. See benchmarks/README.md.",
    ]
    if report.notes:
        text += ["", "Notes:", ""] + [f"- {note}" for note in report.notes]
    for section in report.sections:
        text += ["", section.rstrip("\n")]
    return "\n".join(text) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: small counts, one run each, a short RSS run")
    parser.add_argument("--repeat", type=int, help="runs per figure (default 3; --quick: 1)")
    parser.add_argument("--rss-seconds", type=float,
                        help="length of the RSS run (default 60; --quick: 8)")
    parser.add_argument("--small-count", type=int, help="blocks per small run (default 1,000,000)")
    parser.add_argument("--large-count", type=int, help="blocks per large run (default 100,000)")
    parser.add_argument("--latency-count", type=int, help="blocks per latency run (default 6,000)")
    parser.add_argument("--array-count", type=int,
                        help="16 KiB arrays per run (default 100,000; 1 MiB runs send 1/20)")
    parser.add_argument("--rate", type=float, default=1000.0, help="latency runs: blocks/s")
    parser.add_argument("--soak", type=float, metavar="SECONDS",
                        help="failover: length of the no-false-failover run (default 600; "
                             "--quick: 60)")
    parser.add_argument("--chaos-minutes", type=float,
                        help="chaos: minutes of faults (default 10; --quick: 3)")
    parser.add_argument("--scale-minutes", type=float,
                        help="scale: minutes of the 50-agent run (default 5; --quick: 2)")
    parser.add_argument("--raw-transport", choices=("tcp", "ipc"), default="tcp",
                        help="transport of the raw baseline (FISSION's simulate uses ipc)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS),
                        help="run only these benchmarks")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results.md",
                        help="where the Markdown table goes (default benchmarks/results.md)")
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    args = parser.parse_args(argv)
    defaults = ((1, 8.0, 100_000, 10_000, 1_500, 10_000, 3.0, 2.0) if args.quick
                else (3, 60.0, 1_000_000, 100_000, 6_000, 100_000, 10.0, 5.0))
    names = ("repeat", "rss_seconds", "small_count", "large_count", "latency_count",
             "array_count", "chaos_minutes", "scale_minutes")
    for name, default in zip(names, defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = Report()
    for name in args.only:
        BENCHMARKS[name](report, args)
    text = render(report, args)
    print(text)
    args.output.write_text(text)
    print(f"written to {args.output}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(report.details, indent=1))
    # A "reference" row (no target) has ok=True once measured, so it never fails the run.
    return 0 if report.rows and all(row.ok for row in report.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
