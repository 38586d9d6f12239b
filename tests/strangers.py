"""Strangers for the security tests: peers that try to get into a run's sockets.

Each tries what an attacker on the mesh would: raw bytes, a plain ZeroMQ peer, CURVE
with another project's keys, CURVE with the project's server key but a key pair of
its own, and TLS with another project's certificate. What they send is a block whose
unpickling would create a marker file: a pickle loaded anywhere leaves evidence.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import socket
import ssl
import time
from pathlib import Path

import zmq

from fission.security.credentials import Credentials
from fission.security.curve import CurveKeys
from fission.wire.frame import encode
from fission.wire.recording import SENT


class Bomb:
    """Unpickling this creates the file ``marker`` (what a real attacker's code would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def bomb_frames(marker: Path, pipe_id: int = 1) -> list[bytes]:
    payload = pickle.dumps(Bomb(marker))
    return [encode(pipe_id, seq, payload) for seq in (10**6, 10**6 + 1)] + [payload]


def _zmq_address(address: str, source: str | None) -> str:
    if source is None or not address.startswith("tcp://"):
        return address
    return f"tcp://{source}:0;{address[len('tcp://'):]}"


def try_zmq(address: str, frames: list[bytes], *, keys: CurveKeys | None = None,
            server_key: bytes | None = None, source: str | None = None,
            seconds: float = 0.6) -> list[bytes]:
    """Connect a PUSH and a DEALER (as a producer and as a job's control channel would),
    send ``frames``, each also as a recorded frame streamed to the client's recording
    sink would be, and anything that looks like a control message; return what came back."""
    context = zmq.Context()
    received: list[bytes] = []
    try:
        sockets = []
        for kind in (zmq.PUSH, zmq.DEALER):
            sock = context.socket(kind)
            sock.linger = 0
            if keys is not None:
                sock.curve_publickey, sock.curve_secretkey = keys.public, keys.secret
                sock.curve_serverkey = server_key or keys.public
            sock.connect(_zmq_address(address, source))
            sockets.append(sock)
        messages = frames + [json.dumps({"op": "failed", "job": 2, "incarnation": 0,
                                         "error": "a stranger says so"}).encode()]
        recorded = [[SENT.pack(time.time()), frame] for frame in frames]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:  # keep trying: ZeroMQ reconnects every 100 ms
            for sock in sockets:
                for message in messages:
                    with contextlib.suppress(zmq.Again):
                        sock.send(message, zmq.NOBLOCK)
                for parts in recorded:
                    with contextlib.suppress(zmq.Again):
                        sock.send_multipart(parts, zmq.NOBLOCK)
            if sockets[1].poll(100):
                received.append(sockets[1].recv())
        return received
    finally:
        context.destroy(linger=0)


def try_raw(host: str, port: int, data: bytes, *, source: str | None = None) -> None:
    """Raw bytes on a TCP port, read until the port hangs up (a ZeroMQ or TLS port sends
    its greeting first: what it answers says nothing; what it does with the bytes does)."""
    with socket.socket() as raw:
        if source is not None:
            raw.bind((source, 0))
        raw.settimeout(1.0)
        with contextlib.suppress(OSError):
            raw.connect((host, port))
            raw.sendall(data)
            while raw.recv(65536):
                pass


def try_tls(host: str, port: int, credentials: Credentials, data: bytes, *,
            source: str | None = None) -> bool:
    """A TLS handshake with ``credentials`` (another project's); whether it succeeded."""
    context = credentials.dask_security().get_connection_args("client")["ssl_context"]
    with socket.socket() as raw:
        if source is not None:
            raw.bind((source, 0))
        raw.settimeout(2.0)
        try:
            raw.connect((host, port))
            with context.wrap_socket(raw) as tls:
                tls.sendall(data)
                return True
        except (OSError, ssl.SSLError):
            return False


def attack(address: str, marker: Path, *, project: CurveKeys, other: Credentials,
           source: str | None = None, pipe_id: int = 1) -> list[str]:
    """Every stranger at once on ``address`` (``tcp://host:port`` or ``ipc://path``), with
    blocks of pipe ``pipe_id``; return what got through (empty: nothing did)."""
    frames = bomb_frames(marker, pipe_id)
    through = []
    own_pair = CurveKeys.generate()
    attempts = {
        "a plain ZeroMQ peer": {},
        "another project's keys": {"keys": other.curve},
        "the project's server key with a key pair of its own": {"keys": own_pair,
                                                                "server_key": project.public},
    }
    for name, options in attempts.items():
        if try_zmq(address, frames, source=source, **options):
            through.append(name)
    if address.startswith("tcp://"):
        host, port = address[len("tcp://"):].rsplit(":", 1)
        try_raw(host, int(port), b"\xff" * 64 + frames[0], source=source)
        if try_tls(host, int(port), other, frames[0], source=source):
            through.append("TLS with another project's certificate")
    return through
