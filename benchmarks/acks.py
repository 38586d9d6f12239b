"""Throughput with acknowledgements on: the benchmark chain under ``run``, against raw pyzmq.

Under ``simulate`` nothing is retained (no job may restart), so the throughput rows of
``run_all.py`` pay nothing for retention. Under ``run`` every output keeps its blocks
until they are acknowledged and every job with inputs reports its progress to the
client, which computes and sends the acknowledgements (fission/runtime/retention.py,
fission/backends/acks.py). This runs the same chain (``fission_chain/``'s source ->
forward -> sink, plaintext pipes as the other throughput rows) under ``run``, its three
jobs on the client (``LOCAL``: TCP between local processes, as the raw baseline's
default transport), with one idle loopback agent as the cluster ``run`` waits for, and
reports FISSION / raw pyzmq for small blocks and 16 KiB arrays, next to ``simulate``'s
ratio of the same moment.

Usage: ``.venv/bin/python benchmarks/acks.py [--repeat N] [--small-count N]
[--array-count N]``; prints a Markdown table. Every process started here ends with it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import fission_bench
import harness
import raw_chain

from fission import loopback

NETWORK = '''
import os
from chain.jobs import Forward, Sink, Source
from fission.core.jobs import LocalJob
from fission.core.pipes import ArrayPipe, PicklePipe

MODE = os.environ["FISSION_BENCH_MODE"]
COUNT = int(os.environ["FISSION_BENCH_COUNT"])
SECURE = False
DASHBOARD = None
LOG_LEVEL = "WARNING"
LOG_FILE = None


class BenchArrayPipe(ArrayPipe):
    HWM = 64


class LocalSource(Source, LocalJob):
    pass


class LocalForward(Forward, LocalJob):
    pass


class LocalSink(Sink, LocalJob):
    pass


Pipe = BenchArrayPipe if MODE.startswith("array") else PicklePipe
JOBS = [
    LocalSource(count=COUNT, mode=MODE, outputs=[Pipe(1)]),
    LocalForward(inputs=[Pipe(1)], outputs=[Pipe(2)]),
    LocalSink(count=COUNT, mode=MODE, inputs=[Pipe(2)]),
]
'''


def run_chain(project: Path, mode: str, count: int) -> dict[str, Any]:
    """The chain under ``run`` once; the figures of :func:`harness.analyse`."""
    result = project / "acked" / "local" / "3" / "result.json"
    result.unlink(missing_ok=True)
    env = {"FISSION_BENCH_MODE": mode, "FISSION_BENCH_COUNT": str(count)}
    run = loopback.Run(project, "acked", env=env)
    with harness.TreeSampler([run.popen.pid], interval=harness.SAMPLE_INTERVAL[mode]) as sampler:
        code = run.wait(120 + count / 2000)
    if code != 0:
        raise fission_bench.BenchError(f"run ({mode}) exited with {code}:\n{run.output[-2000:]}")
    out = harness.analyse(json.loads(result.read_text()), sampler, mode)
    out.update(system="fission-run", mode=mode, count=count)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--small-count", type=int, default=100_000)
    parser.add_argument("--array-count", type=int, default=20_000)
    args = parser.parse_args(argv)
    harness.install_cleanup()
    rows = []
    with tempfile.TemporaryDirectory(prefix="fission-acks-") as tmp, \
            loopback.Cluster(Path(tmp) / "cluster", count=1, secure=False) as cluster:
        cluster.wait_idle()  # its agent started with it
        project = loopback.copy_project(fission_bench.CHAIN_PROJECT, Path(tmp) / "project",
                                        cluster.keys)
        (project / "acked").mkdir()
        (project / "acked" / "__init__.py").write_text("")
        (project / "acked" / "config.py").write_text(cluster.settings() + NETWORK)
        for mode, count, key in (("small", args.small_count, "blocks_per_s"),
                                 ("array16k", args.array_count, "mb_per_s")):
            figures: dict[str, list[dict[str, Any]]] = {"run": [], "raw": [], "simulate": []}
            for _ in range(args.repeat):  # alternated, so load changes hit all three alike
                figures["run"].append(run_chain(project, mode, count))
                figures["raw"].append(raw_chain.run(mode, count))
                figures["simulate"].append(fission_bench.run(mode, count, secure=False,
                                                             dashboard=False))
            rows.append((mode, {name: (statistics.median(run[key] for run in runs),
                                       statistics.median(run["cpu_us_per_block"]
                                                         for run in runs))
                                for name, runs in figures.items()}))
    print("| blocks | run, acks on | raw pyzmq | run / raw | simulate / raw "
          "| CPU µs/block: run, simulate, raw |")
    print("|---|---|---|---|---|---|")
    for mode, medians in rows:
        unit = "blocks/s" if mode == "small" else "MB/s"
        (a, a_cpu), (r, r_cpu), (s, s_cpu) = (medians[name] for name in ("run", "raw",
                                                                           "simulate"))
        print(f"| {mode} ({unit}) | {a:,.0f} | {r:,.0f} | {a / r:.2f} | {s / r:.2f} "
              f"| {a_cpu:.1f}, {s_cpu:.1f}, {r_cpu:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
