"""The benchmark chain, parametrised by environment variables (set by run_all.py).

- ``FISSION_BENCH_MODE``: ``small`` (``(seq, t_ns)``), ``large`` (``(seq, t_ns,
  float32[4096])``), ``latency`` (small, paced to ``FISSION_BENCH_RATE`` blocks/s), or
  ``array16k`` / ``array1m`` (a float64 array of 16 KiB / 1 MiB through ``ArrayPipe``s
  whose ``HWM`` is ``ARRAY_HWM``, the sequence number in its first element);
- ``FISSION_BENCH_COUNT``: blocks the source sends; 0 sends until the network is
  stopped (``simulate --duration S``);
- ``FISSION_BENCH_SECURE``: ``1`` (default) runs with ``SECURE = True``, every pipe a
  CURVE socket (encrypted and authenticated; the first such run makes the project's
  credentials in ``benchmarks/fission_chain/credentials/``, which git ignores); ``0``
  runs with ``SECURE = False``, plaintext pipes (FISSION then warns on stderr);
- ``FISSION_BENCH_DASHBOARD``: ``1`` (default) serves the dashboard on a free loopback
  port, ``0`` runs with ``DASHBOARD = None`` (and jobs that report no figures).
- ``FISSION_BENCH_STATE``: ``1`` makes the forward job a ``StatefulForward`` (4 KiB of
  ``STATE`` snapshotted, ``RESTART = "on-failure"``); ``history`` a ``HistoryForward``
  (the same work in ``run``, nothing snapshotted); ``0`` (default) a plain ``Forward``.

Only the supervising process imports this module: the values reach the job processes
as attributes of the job objects.
"""

import os

from chain.jobs import Forward, HistoryForward, Sink, Source, StatefulForward
from fission.core.pipes import ArrayPipe, PicklePipe

#: Socket high-water mark of the array modes (as benchmarks/harness.py's ARRAY_HWM).
ARRAY_HWM = 64


class BenchArrayPipe(ArrayPipe):
    HWM = ARRAY_HWM

MODE = os.environ.get("FISSION_BENCH_MODE", "small")
COUNT = int(os.environ.get("FISSION_BENCH_COUNT", "100000"))
RATE = float(os.environ.get("FISSION_BENCH_RATE", "1000"))
if os.environ.get("FISSION_BENCH_SECURE", "1") not in ("0", "1"):
    raise ValueError("FISSION_BENCH_SECURE must be 1 (encrypted pipes) or 0 (plaintext), got "
                     f"{os.environ['FISSION_BENCH_SECURE']!r}")
SECURE = os.environ.get("FISSION_BENCH_SECURE", "1") == "1"
FORWARDS = {"0": Forward, "1": StatefulForward, "history": HistoryForward}
STATE_CHOICE = os.environ.get("FISSION_BENCH_STATE", "0")
if STATE_CHOICE not in FORWARDS:
    raise ValueError(f"FISSION_BENCH_STATE must be one of {sorted(FORWARDS)}, got "
                     f"{STATE_CHOICE!r}")
FORWARD = FORWARDS[STATE_CHOICE]

DASHBOARD = "127.0.0.1:0" if os.environ.get("FISSION_BENCH_DASHBOARD", "1") == "1" else None

LOG_LEVEL = "WARNING"
LOG_FILE = None

Pipe = BenchArrayPipe if MODE.startswith("array") else PicklePipe

JOBS = [
    Source(count=COUNT, mode=MODE, rate=RATE, outputs=[Pipe(1)]),
    FORWARD(inputs=[Pipe(1)], outputs=[Pipe(2)]),
    Sink(count=COUNT, mode=MODE, inputs=[Pipe(2)]),
]
