"""CURVE on every ZeroMQ socket: each connection encrypted, and a gate on each port.

ZeroMQ's CURVE mechanism encrypts a connection and proves both ends hold their
secret keys, but a CURVE server admits *any* client key unless a ZAP handler
(ZeroMQ's authentication hook, one per context) says otherwise. So each process
that binds a socket runs a :class:`Gatekeeper`: a thread that answers ZAP
requests and admits this project's key only. Served sockets also enforce the ZAP
domain, so a socket whose gatekeeper is gone lets nobody in: the gate fails closed.

All holders of a project's credentials share one key pair (see
:mod:`fission.security.credentials`), which is also every server's key: a stranger
without it fails the handshake before a single block is read, let alone unpickled.

The gatekeeper also reports who was turned away, once per peer address: a wrong
key reaches the ZAP handler with the peer's address; a peer that does not speak
CURVE with this project's key fails the handshake, which the socket's monitor
reports (the peer's address is read from the connection when it is accepted).
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import socket as stdlib_socket
import struct
import threading
from dataclasses import dataclass, field

import zmq
from zmq.utils import z85

_ZAP_ENDPOINT = "inproc://zeromq.zap.01"
_DOMAIN = b"fission"
_WATCHED = (zmq.EVENT_ACCEPTED | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
            | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
_serial = itertools.count()
#: The first frame of a monitor event: the event (uint16), then its value (uint32).
_EVENT = struct.Struct("=HI")


@dataclass(frozen=True)
class CurveKeys:
    """A CURVE key pair, Z85 text as ZeroMQ takes it. The secret never shows in a repr."""

    public: bytes
    secret: bytes = field(repr=False)

    @classmethod
    def generate(cls) -> CurveKeys:
        public, secret = zmq.curve_keypair()
        return cls(public, secret)


def dial(socket: zmq.Socket, keys: CurveKeys | None) -> None:
    """Make ``socket`` (before it connects) a CURVE client of a project's server."""
    if keys is None:
        return
    socket.curve_publickey = keys.public
    socket.curve_secretkey = keys.secret
    socket.curve_serverkey = keys.public


class Gatekeeper:
    """The ZAP handler of one ZeroMQ context, and the sockets it guards.

    Use it as a context manager around the life of the context's sockets; with
    ``keys`` None (``SECURE = False``) every method does nothing.
    """

    def __init__(self, context: zmq.Context, keys: CurveKeys | None,
                 log: logging.Logger) -> None:
        self.keys = keys
        self.context = context
        self._log = log
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if keys is None:
            return
        self._allowed = z85.decode(keys.public)
        self._zap = context.socket(zmq.REP)
        self._zap.linger = 0
        self._zap.bind(_ZAP_ENDPOINT)
        commands = f"inproc://fission-gatekeeper-{os.getpid()}-{next(_serial)}"
        self._inbox = context.socket(zmq.PAIR)
        self._inbox.linger = 0
        self._inbox.bind(commands)
        self._commands = context.socket(zmq.PAIR)
        self._commands.linger = 0
        self._commands.connect(commands)
        self._reported: set[str] = set()
        self._thread = threading.Thread(target=self._serve, name="fission-gatekeeper",
                                        daemon=True)
        self._thread.start()

    def serve(self, socket: zmq.Socket, label: str) -> None:
        """Make ``socket`` (before it binds) a CURVE server that admits the project only.

        ``label`` names it in the log when a stranger is turned away ("pipe 101").
        """
        if self.keys is None:
            return
        socket.curve_server = True
        socket.curve_publickey = self.keys.public
        socket.curve_secretkey = self.keys.secret
        socket.zap_domain = _DOMAIN
        socket.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)
        monitor = f"inproc://fission-monitor-{os.getpid()}-{next(_serial)}"
        socket.monitor(monitor, _WATCHED)
        with self._lock:
            self._commands.send_multipart([b"watch", monitor.encode(), label.encode()])

    def listen(self, kind: int, host: str, label: str) -> zmq.Socket:
        """A served socket of ``kind`` bound to a free TCP port of ``host`` (linger 0);
        its address is its ``LAST_ENDPOINT``."""
        socket = self.context.socket(kind)
        socket.setsockopt(zmq.LINGER, 0)
        self.serve(socket, label)
        socket.bind_to_random_port(f"tcp://{host}")
        return socket

    def dial(self, socket: zmq.Socket) -> None:
        """Make ``socket`` (before it connects) a CURVE client of the project."""
        dial(socket, self.keys)

    def close(self) -> None:
        if self._thread is None:
            return
        with self._lock:
            self._commands.send(b"stop")
            self._thread.join(timeout=5)
            self._commands.close()
        self._thread = None

    def __enter__(self) -> Gatekeeper:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the gatekeeper's thread ------------------------------------------------------

    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self._zap, zmq.POLLIN)
        poller.register(self._inbox, zmq.POLLIN)
        monitors: dict[zmq.Socket, list] = {}  # monitor -> [label, last accepted peer]
        try:
            while True:
                for sock, _ in poller.poll():
                    if sock is self._zap:
                        self._answer(self._zap.recv_multipart())
                    elif sock is self._inbox:
                        command = self._inbox.recv_multipart()
                        if command[0] == b"stop":
                            return
                        monitor = self.context.socket(zmq.PAIR)
                        monitor.linger = 0
                        monitor.connect(command[1].decode())
                        poller.register(monitor, zmq.POLLIN)
                        monitors[monitor] = [command[2].decode(), None]
                    else:
                        head, endpoint = sock.recv_multipart()
                        self._observe(*_EVENT.unpack(head), endpoint, monitors[sock])
        except zmq.ContextTerminated:
            pass
        finally:
            for monitor in monitors:
                monitor.close()
            self._zap.close()
            self._inbox.close()

    def _answer(self, request: list[bytes]) -> None:
        """Reply to one ZAP request: admit a CURVE client with the project's key only."""
        version, request_id, _domain, address, _identity, mechanism, *credentials = request
        admitted = mechanism == b"CURVE" and credentials[:1] == [self._allowed]
        status = (b"200", b"OK") if admitted else (b"400", b"not a key of this project")
        self._zap.send_multipart([version, request_id, *status, b"", b""])
        if not admitted:
            self._refused(_ip_or_local(address.decode()), "a socket",
                          f"its {mechanism.decode()} key is not this project's")

    def _observe(self, event: int, value: int, endpoint: bytes, watched: list) -> None:
        """One monitor event of a served socket (pyzmq's own parser would import asyncio,
        some 6 MB more in every job process)."""
        label, peer = watched
        if event == zmq.EVENT_ACCEPTED:
            local = endpoint.startswith(b"ipc://")
            watched[1] = "a process of this machine" if local else _peer_of(value, endpoint)
        elif event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
            self._refused(peer or "an unknown peer", label,
                          "it does not speak CURVE with this project's key")
        elif peer is not None:  # a connection dropped before the handshake: a scan, or junk
            self._refused(peer, label, "it hung up before completing a CURVE handshake")

    def _refused(self, peer: str, what: str, why: str) -> None:
        if peer in self._reported:
            return
        self._reported.add(peer)
        self._log.warning("refused a connection from %s to %s: %s (further attempts from "
                          "there are not logged)", peer, what, why)


def _ip_or_local(address: str) -> str:
    """A ZAP peer address as logged: its IP, or (a unix socket's "localhost:uid:gid:pid")
    the words every other report of a local peer uses."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return "a process of this machine"


def _peer_of(fd: int, endpoint: bytes) -> str | None:
    """The address of the peer on a connection accepted at ``endpoint``, if it is still open.

    The event is read after the fact: the connection may have closed and its descriptor
    been reused by another socket of this process (the Dask scheduler's, say), whose peer
    is not this one. A descriptor no longer bound to ``endpoint``'s port names nobody.
    """
    try:
        with stdlib_socket.socket(fileno=os.dup(fd)) as connection:
            local, name = connection.getsockname(), connection.getpeername()
    except OSError:
        return None
    if not isinstance(name, tuple) or not endpoint.endswith(f":{local[1]}".encode()):
        return None
    return name[0]
