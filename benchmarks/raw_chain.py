"""The baseline: a chain of three OS processes, source -> forward -> sink, in raw pyzmq.

Each hop is a PUSH socket connected to a PULL socket bound by the consumer, over
``tcp://127.0.0.1`` (or ``ipc://``); each message is one frame holding one pickle
(protocol 5). The forward unpickles and re-pickles every message, as a FISSION job
does. A pickled ``None`` ends the stream.

Modes:

- ``small``: ``(seq, t_ns)`` as fast as possible;
- ``large``: ``(seq, t_ns, float32[4096])`` (16 KiB of payload) as fast as possible;
- ``latency``: ``(seq, t_ns)`` paced to ``--rate`` messages/s; the sink records
  ``perf_counter_ns() - t_ns`` over the two hops;
- ``array16k``, ``array1m``: the very bytes a FISSION ``ArrayPipe`` puts on the wire for a
  float64 array of 16 KiB or 1 MiB (block header with the sequence number, array header,
  buffer), no pickle: the source builds each message (header + body, one copy), the
  forward decodes each to a numpy view and encodes it again (header, array header,
  buffer: one copy), the sink reads the sequence number from the header; an empty
  message ends the stream. Sockets use ``harness.ARRAY_HWM``.

Plaintext by default. ``run(..., curve=True)`` (``--curve`` on the command line) makes
every socket a CURVE socket, encrypted and authenticated as FISSION's pipes with
``SECURE`` on: the parent makes one key pair per run with ``zmq.curve_keypair()``; each
binding side (the forward's and the sink's PULL) is the CURVE server
(``curve_server=True``, that pair as its keys), each connecting side a client with
``curve_serverkey`` set to the pair's public key and the same pair as its own keys (as in
FISSION, where a project's processes share one pair). There is no ZAP handler, so a server
admits any client key: enough for measuring the cost of CURVE, not for security. The
children get the pair in the environment (``RAW_CHAIN_CURVE_KEYS``), not on their command
line.

Run alone: ``python benchmarks/raw_chain.py small --count 1000000 --repeat 3 [--curve]``;
it prints one JSON object per run. ``run()`` is what ``run_all.py`` calls.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

MODES = ("small", "large", "latency", "array16k", "array1m")
#: zmq's default high-water mark, set explicitly on every socket.
HWM = 1000
#: Blocks between two entries of the sink's progress record, for an unbounded run.
PROGRESS_EVERY = 1000
#: Environment variable that hands a CURVE run's key pair to the children: "public secret"
#: (Z85 text, which has no spaces).
CURVE_KEYS_ENV = "RAW_CHAIN_CURVE_KEYS"

#: This process's CURVE key pair (Z85), or None: plaintext sockets. Set by ``main``.
_curve_keys: tuple[bytes, bytes] | None = None


def _read_curve_keys() -> tuple[bytes, bytes]:
    try:
        public, secret = os.environ[CURVE_KEYS_ENV].encode().split()
    except (KeyError, ValueError):
        raise SystemExit(f"--curve needs {CURVE_KEYS_ENV}='PUBLIC SECRET' (Z85) in the "
                         "environment") from None
    return public, secret


# -------------------------------------------------------------------- the three roles


def _socket(kind: int, addr: str, bind: bool, hwm: int = HWM) -> Any:
    import zmq

    sock = zmq.Context.instance().socket(kind)
    sock.setsockopt(zmq.SNDHWM if kind == zmq.PUSH else zmq.RCVHWM, hwm)
    sock.setsockopt(zmq.LINGER, -1)  # deliver everything queued before the process exits
    if _curve_keys is not None:  # before bind/connect: CURVE applies to later connections
        public, secret = _curve_keys
        sock.curve_publickey = public
        sock.curve_secretkey = secret
        if bind:
            sock.curve_server = True
        else:
            sock.curve_serverkey = public
    if bind:
        sock.bind(addr)
    else:
        sock.connect(addr)
    return sock


def _close(*socks: Any, wait_for_parent: bool = False) -> None:
    """Close ``socks``; first, if asked, wait until the parent closes our stdin.

    A producer must not close its socket before the consumer has everything: libzmq can
    drop the tail of a stream when the sending peer goes away while the receiver's queue
    is at its high-water mark, LINGER notwithstanding (libzmq issues #1922, #4660; seen
    here over ipc). The parent closes a producer's stdin once the sink has finished.
    """
    import zmq

    if wait_for_parent:
        sys.stdin.buffer.read()
    for sock in socks:
        sock.close()
    zmq.Context.instance().term()


def _array_block(mode: str) -> tuple[Any, bytes]:
    """The block header struct and the body (array header + buffer) of an array mode."""
    import harness
    import numpy as np

    from fission.core.base import PIPES
    from fission.core.pipes import ArrayPipe
    from fission.wire.frame import HEADER

    array = np.random.default_rng(0).random(harness.ARRAY_BYTES[mode] // 8)
    pipe = PIPES.get_or_create(ArrayPipe, 1, (), {})
    return HEADER, pipe.pack(array)


def role_array_source(out_addr: str, mode: str, count: int) -> None:
    import harness
    import zmq

    push = _socket(zmq.PUSH, out_addr, bind=False, hwm=harness.ARRAY_HWM)
    header, body = _array_block(mode)
    pack, send = header.pack, push.send
    seq = 0
    while count <= 0 or seq < count:
        send(pack(1, 0, 0, 1, seq) + body)
        seq += 1
    send(b"")
    _close(push, wait_for_parent=True)


def role_array_forward(in_addr: str, out_addr: str, mode: str) -> None:
    """Decode each block to an array and encode it again, as a job's pipes do (the raw
    forward of the pickle modes unpickles and re-pickles): header read, a view of the
    buffer, then a new message of header, array header and buffer (one copy)."""
    import harness
    import numpy as np
    import zmq

    pull = _socket(zmq.PULL, in_addr, bind=True, hwm=harness.ARRAY_HWM)
    push = _socket(zmq.PUSH, out_addr, bind=False, hwm=harness.ARRAY_HWM)
    header, body = _array_block(mode)
    start = len(body) - harness.ARRAY_BYTES[mode]
    meta = body[:start]
    recv, send, unpack, pack = pull.recv, push.send, header.unpack_from, header.pack
    offset = header.size + start
    while True:
        block = recv()
        if not block:
            send(block)
            break
        seq = unpack(block)[4]
        array = np.frombuffer(block, dtype=np.float64, offset=offset)
        send(b"".join((pack(1, 0, 0, 2, seq), meta, array)))
    _close(pull, push, wait_for_parent=True)


def role_array_sink(in_addr: str, mode: str, count: int, result: str) -> None:
    import harness
    import zmq

    from fission.wire.frame import HEADER

    pull = _socket(zmq.PULL, in_addr, bind=True, hwm=harness.ARRAY_HWM)
    unpack, now, recv = HEADER.unpack_from, time.perf_counter_ns, pull.recv
    every = max(1, count // 1000) if count > 0 else PROGRESS_EVERY
    progress: list[list[int]] = []
    received = gaps = 0
    t = now()
    while True:
        block = recv()
        t = now()
        if not block:
            break
        if unpack(block)[4] != received:
            gaps += 1
        received += 1
        if received == 1 or received % every == 0:
            progress.append([received, t])
    if progress and progress[-1][0] != received:
        progress.append([received, t])
    _close(pull)
    Path(result).write_text(json.dumps({"received": received, "gaps": gaps, "progress": progress,
                                        "latencies_ns": [], "pid": os.getpid()}))


def role_source(out_addr: str, mode: str, count: int, rate: float) -> None:
    import zmq

    push = _socket(zmq.PUSH, out_addr, bind=False)
    dumps, now = pickle.dumps, time.perf_counter_ns
    payload = None
    if mode == "large":
        import numpy as np

        payload = np.random.default_rng(0).random(4096, dtype=np.float32)
    period = int(1e9 / rate) if rate > 0 else 0
    deadline = now()
    seq = 0
    while count <= 0 or seq < count:
        if period:
            deadline += period
            wait = deadline - now()
            if wait > 0:
                time.sleep(wait / 1e9)
        block = (seq, now()) if payload is None else (seq, now(), payload)
        push.send(dumps(block, 5))
        seq += 1
    push.send(dumps(None, 5))
    _close(push, wait_for_parent=True)


def role_forward(in_addr: str, out_addr: str) -> None:
    import zmq

    pull = _socket(zmq.PULL, in_addr, bind=True)
    push = _socket(zmq.PUSH, out_addr, bind=False)
    loads, dumps = pickle.loads, pickle.dumps
    while True:
        block = loads(pull.recv())
        push.send(dumps(block, 5))
        if block is None:
            break
    _close(pull, push, wait_for_parent=True)


def role_sink(in_addr: str, mode: str, count: int, result: str) -> None:
    import zmq

    pull = _socket(zmq.PULL, in_addr, bind=True)
    loads, now = pickle.loads, time.perf_counter_ns
    every = max(1, count // 1000) if count > 0 else PROGRESS_EVERY
    latency = mode == "latency"
    latencies = array("q")
    progress: list[list[int]] = []
    received = gaps = 0
    while True:
        block = loads(pull.recv())
        t = now()
        if block is None:
            break
        if latency:
            latencies.append(t - block[1])
        if block[0] != received:
            gaps += 1
        received += 1
        if received == 1 or received % every == 0:
            progress.append([received, t])
    if progress and progress[-1][0] != received:
        progress.append([received, t])
    _close(pull)
    record = {
        "received": received,
        "gaps": gaps,
        "progress": progress,
        "latencies_ns": latencies.tolist(),
        "pid": os.getpid(),
    }
    Path(result).write_text(json.dumps(record))


# -------------------------------------------------------------------- the parent


def _addresses(transport: str, tmp: Path) -> tuple[str, str]:
    if transport == "ipc":
        return f"ipc://{tmp}/hop1", f"ipc://{tmp}/hop2"
    from fission.loopback import free_port

    return (f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}")


def run(
    mode: str,
    count: int,
    *,
    rate: float = 1000.0,
    transport: str = "tcp",
    timeout: float | None = None,
    curve: bool = False,
) -> dict[str, Any]:
    """Run the raw chain once; return the figures of :func:`harness.analyse`.

    ``curve``: every socket a CURVE socket (a fresh key pair for this run; see the module's
    docstring); False, the default, runs plaintext sockets.
    """
    import harness

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    pace = rate if mode == "latency" else 0.0
    if timeout is None:
        timeout = 60.0 + (count / pace if pace else count / 20_000)
    with tempfile.TemporaryDirectory(prefix="fission-raw-") as tmp_name:
        tmp = Path(tmp_name)
        hop1, hop2 = _addresses(transport, tmp)
        result = tmp / "sink.json"
        me = [sys.executable, str(Path(__file__).resolve()), "--role"]
        env = None
        if curve:
            import zmq

            public, secret = zmq.curve_keypair()
            env = {**os.environ, CURVE_KEYS_ENV: f"{public.decode()} {secret.decode()}"}
        argvs = [
            me + ["sink", "--in", hop2, "--result", str(result)],
            me + ["forward", "--in", hop1, "--out", hop2],
            me + ["source", "--out", hop1, "--rate", str(pace)],
        ]
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for argv in argvs:
                argv += ["--mode", mode, "--count", str(count)] + (["--curve"] if curve else [])
                procs.append(harness.track(subprocess.Popen(argv, stdin=subprocess.PIPE,
                                                             env=env)))
            pids = [p.pid for p in procs]
            with harness.TreeSampler(pids, interval=harness.SAMPLE_INTERVAL[mode]) as sampler:
                deadline = time.monotonic() + timeout
                for proc in procs:  # the sink first
                    code = proc.wait(max(0.1, deadline - time.monotonic()))
                    if proc is procs[0]:  # the sink has everything: producers may close
                        for producer in procs[1:]:
                            producer.stdin.close()
                    if code != 0:
                        raise RuntimeError(f"raw chain: {proc.args[3]} exited with {code}")
            record = json.loads(result.read_text())
        finally:
            for proc in procs:
                harness.stop(proc, grace=1.0)
    out = harness.analyse(record, sampler, mode)
    out.update(system="raw", mode=mode, transport=transport, count=count, curve=curve)
    return out


def main(argv: list[str] | None = None) -> int:
    global _curve_keys  # noqa: PLW0603 - a role process's sockets all use the same keys
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", choices=MODES, default="small")
    parser.add_argument("--role", choices=("source", "forward", "sink"), help=argparse.SUPPRESS)
    parser.add_argument("--in", dest="in_addr", help=argparse.SUPPRESS)
    parser.add_argument("--out", dest="out_addr", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--mode", dest="role_mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=None, help="messages per run")
    parser.add_argument("--rate", type=float, default=1000.0, help="latency mode: messages/s")
    parser.add_argument("--transport", choices=("tcp", "ipc"), default="tcp")
    parser.add_argument("--curve", action="store_true",
                        help="CURVE (encrypted, authenticated) on every socket; default: "
                             "plaintext")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)

    if args.role:
        import harness

        harness.die_with_parent()
        if args.curve:
            _curve_keys = _read_curve_keys()
        arrays = args.role_mode.startswith("array")
        if args.role == "source" and arrays:
            role_array_source(args.out_addr, args.role_mode, args.count)
        elif args.role == "source":
            role_source(args.out_addr, args.role_mode, args.count, args.rate)
        elif args.role == "forward" and arrays:
            role_array_forward(args.in_addr, args.out_addr, args.role_mode)
        elif args.role == "forward":
            role_forward(args.in_addr, args.out_addr)
        elif arrays:
            role_array_sink(args.in_addr, args.role_mode, args.count, args.result)
        else:
            role_sink(args.in_addr, args.role_mode, args.count, args.result)
        return 0

    count = args.count
    if count is None:
        count = {"small": 1_000_000, "large": 100_000, "latency": 6_000, "array16k": 100_000,
                 "array1m": 5_000}[args.mode]
    for _ in range(args.repeat):
        figures = run(args.mode, count, rate=args.rate, transport=args.transport,
                      curve=args.curve)
        print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
