"""The cluster engine of ``run``: a Dask scheduler inside the client, and a client to it.

Dask gives FISSION membership, heartbeats with node metrics, and a way to start
code on a chosen node. Its defaults are made for batch work: a silent worker is
only removed after minutes. :class:`Membership` is a scheduler plugin that reads
the time of each worker's last heartbeat (Dask records it) and removes a worker
that has been silent for longer than ``NODE_TIMEOUT``; it reports every worker that
joins or leaves to the run's supervisor. Nothing here is a protocol of its own.

:data:`DASK_SETTINGS` are applied by both the client and the node agent, so both
ends of every connection give up on a broken link in seconds, not in half a minute.

With the project's credentials every Dask connection is mutual TLS
(:meth:`~fission.security.credentials.Credentials.dask_security`): only holders of a
certificate of the project's authority get in. Scheduler and workers start no HTTP
server: FISSION has no use for a dashboard, and a port that serves nothing is still a
port to guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dask
import zmq
from distributed import Client, Scheduler, Worker
from distributed.diagnostics.plugin import SchedulerPlugin
from tornado.ioloop import PeriodicCallback

from fission.backends.silence import SilenceClock
from fission.config import SETTINGS
from fission.errors import ClusterError, ConfigError

if TYPE_CHECKING:
    from distributed.security import Security

log = logging.getLogger("fission.cluster")

#: The port the scheduler listens on unless config.py's SCHEDULER_PORT says otherwise.
DEFAULT_PORT = int(SETTINGS["SCHEDULER_PORT"])

DASK_SETTINGS: dict[str, Any] = {
    # Give up on an unreachable peer quickly: a node that cannot be reached is dead to us.
    "distributed.comm.timeouts.connect": "3s",
    # 11 s is Dask's floor (10 keepalive probes); silence is detected sooner by Membership.
    "distributed.comm.timeouts.tcp": "11s",
    # Membership decides silence itself (Membership below); Dask's TTL floor is ~5 s.
    "distributed.scheduler.worker-ttl": None,
    "distributed.scheduler.work-stealing": False,
    "distributed.scheduler.unknown-task-duration": "1h",
    # Job processes are not Dask's memory: never pause, spill or kill a worker for it.
    "distributed.worker.memory.target": False,
    "distributed.worker.memory.spill": False,
    "distributed.worker.memory.pause": False,
    "distributed.worker.memory.terminate": False,
    "distributed.worker.profile.enabled": False,
    # No HTTP endpoints (dashboard, metrics) on the client or the nodes.
    "distributed.scheduler.http.routes": [],
    "distributed.worker.http.routes": [],
}

#: Seconds between two heartbeats of a node, for clusters of up to
#: :data:`HEARTBEATS_PER_SECOND` / 2 nodes; larger ones space them out, so that the
#: scheduler inside the client gets at most that many heartbeats a second.
HEARTBEAT = 0.5
HEARTBEATS_PER_SECOND = 200
#: Heartbeats a node may miss before it is declared silent (NODE_TIMEOUT's floor).
MISSED_HEARTBEATS = 3
#: Seconds between two looks of :class:`Membership` at the nodes' last heartbeats.
CHECK_INTERVAL = 0.1


def heartbeat_interval(nodes: int) -> float:
    """Seconds between two heartbeats of each node of a cluster of ``nodes`` nodes.

    Dask's own schedule lengthens the interval to 1 s from 11 workers on and to 2 s
    from 50, whatever NODE_TIMEOUT says, so a growing mesh would see false failovers.
    FISSION pins it: :class:`FissionScheduler` answers every heartbeat with this.
    """
    return max(HEARTBEAT, nodes / HEARTBEATS_PER_SECOND)


def check_node_timeout(node_timeout: float, nodes: int, where: str) -> None:
    """Refuse a NODE_TIMEOUT that a healthy node of a cluster this size could miss."""
    interval = heartbeat_interval(nodes)
    floor = MISSED_HEARTBEATS * interval
    if node_timeout < floor:
        raise ConfigError(
            f"{where}: NODE_TIMEOUT = {node_timeout:g} s is shorter than "
            f"{MISSED_HEARTBEATS} heartbeats of a cluster of {nodes} node(s) (one every "
            f"{interval:g} s): a healthy node would be declared dead between two of its "
            f"heartbeats and its jobs moved for nothing; set NODE_TIMEOUT to {floor:g} or more"
        )


def configure_dask() -> None:
    """Apply :data:`DASK_SETTINGS`, and keep Dask's own log off the console.

    A node that vanishes makes Dask log tracebacks on both ends; FISSION reports
    node failures itself, in words and in events.jsonl. Only a failed TLS handshake
    (a stranger, or another project's machine) is logged, once per peer.
    """
    dask.config.set(DASK_SETTINGS)
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    comm_log = logging.getLogger("distributed.comm.tcp")
    comm_log.setLevel(logging.WARNING)
    if not any(isinstance(f, _RefusedPeers) for f in comm_log.filters):
        comm_log.addFilter(_RefusedPeers())


class _RefusedPeers(logging.Filter):
    """Turns Dask's "TLS handshake failed" warnings into one line per peer, in our log."""

    _HANDSHAKE_FAILED = "TLS handshake failed with remote"

    def __init__(self) -> None:
        super().__init__()
        self._reported: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self._HANDSHAKE_FAILED in str(record.msg) and len(record.args or ()) == 3:
            listener, remote, why = record.args
            peer = str(remote).split("://")[-1].rsplit(":", 1)[0]
            if peer not in self._reported:
                self._reported.add(peer)
                log.warning("refused a connection from %s to the cluster port %s: it holds no "
                            "certificate of this project (%s); further attempts from there "
                            "are not logged", peer, str(listener).split("://")[-1], why)
        return False


class _WithoutHTTP:
    """Leaves out the HTTP server every Dask server starts (dashboard, metrics)."""

    def start_http_server(self, *args: Any, **kwargs: Any) -> None:
        return None


class FissionScheduler(_WithoutHTTP, Scheduler):
    """A Dask scheduler without an HTTP port, whose workers heartbeat on FISSION's
    schedule (:func:`heartbeat_interval`), not Dask's."""

    def heartbeat_worker(self, **kwargs: Any) -> dict[str, Any]:
        reply = super().heartbeat_worker(**kwargs)
        if "heartbeat-interval" in reply:
            reply["heartbeat-interval"] = heartbeat_interval(len(self.workers))
        return reply


class FissionWorker(_WithoutHTTP, Worker):
    """A Dask worker without an HTTP port, whose first heartbeats (before the scheduler
    says how often) come every :data:`HEARTBEAT` seconds, not Dask's 1 s."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("heartbeat_interval", f"{HEARTBEAT}s")
        super().__init__(*args, **kwargs)


class Membership(SchedulerPlugin):
    """Reports workers joining and leaving; removes a worker silent for ``silence`` s
    of time the scheduler was listening (:class:`~fission.backends.silence.SilenceClock`).

    ``notify`` is called on the scheduler's thread with small dicts:
    ``{"event": "node_up" | "node_down", "address": ..., "ip": ..., "why": ...}``.
    :attr:`metrics` maps each worker's address to its latest ``fission`` metric.
    """

    name = "fission-membership"

    def __init__(self, notify: Callable[[dict], None], silence: float) -> None:
        self._notify = notify
        self._silence = silence
        self._silent: set[str] = set()
        self._clock = SilenceClock(CHECK_INTERVAL)
        #: Removals under way: the event loop holds only weak references to its tasks,
        #: so one nobody holds could be collected before the node is removed.
        self._removals: set[asyncio.Future] = set()
        self.metrics: dict[str, dict] = {}

    async def start(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler
        self._watch = PeriodicCallback(self._check, CHECK_INTERVAL * 1000)
        self._watch.start()

    async def close(self) -> None:
        self._watch.stop()

    def add_worker(self, scheduler: Scheduler, worker: str) -> None:
        state = scheduler.workers[worker]
        self.metrics = {**self.metrics, worker: dict(state.metrics.get("fission", {}))}
        self._notify({"event": "node_up", "address": worker, "ip": state.host})

    def remove_worker(self, scheduler: Scheduler, worker: str, *, stimulus_id: str,
                      **kwargs: Any) -> None:
        self._silent.discard(worker)
        self.metrics = {a: m for a, m in self.metrics.items() if a != worker}
        why = "silent" if stimulus_id.startswith("fission-silent") else "gone"
        self._notify({"event": "node_down", "address": worker,
                      "ip": worker.split("://")[-1].rsplit(":", 1)[0], "why": why})

    def _check(self) -> None:
        now = time.time()
        workers = self._scheduler.workers
        silences = self._clock.read(now, {a: state.last_seen for a, state in workers.items()})
        metrics = {}
        for address, state in workers.items():
            metrics[address] = {**state.metrics.get("fission", {}), "seen": state.last_seen}
            if silences[address] > self._silence and address not in self._silent:
                self._silent.add(address)
                log.warning("node %s silent for %.1f s (%.1f s since its last heartbeat was "
                            "read): removing it", address, silences[address],
                            now - state.last_seen)
                removal = asyncio.ensure_future(self._scheduler.remove_worker(
                    address, stimulus_id=f"fission-silent-{now}", close=True))
                self._removals.add(removal)
                removal.add_done_callback(self._removals.discard)
        self.metrics = metrics


class SchedulerThread(threading.Thread):
    """A Dask scheduler on its own event loop, in this process."""

    def __init__(self, host: str, port: int, plugin: SchedulerPlugin,
                 security: Security | None) -> None:
        super().__init__(name="fission-scheduler", daemon=True)
        self._host, self._port, self._plugin = host, port, plugin
        self._security = security
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Event | None = None
        self.address = ""

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._closing = asyncio.Event()
        try:
            scheduler = FissionScheduler(
                host=self._host, port=self._port, dashboard=False,
                protocol="tcp" if self._security is None else "tls", security=self._security)
            await scheduler
            await scheduler.register_scheduler_plugin(self._plugin, idempotent=False)
        except BaseException as error:  # noqa: BLE001 - handed to the thread that waits
            self._error = error
            self._ready.set()
            return
        self.address = scheduler.address
        self._ready.set()
        await self._closing.wait()
        await scheduler.close()

    def start_and_wait(self, timeout: float = 30.0) -> str:
        """Start the scheduler; its address, or a ClusterError saying why it cannot run."""
        self.start()
        where = f"{self._host}:{self._port}"
        if not self._ready.wait(timeout):
            raise ClusterError(f"the scheduler on {where} did not start within {timeout:g} s")
        if self._error is not None:
            cause = self._error.__cause__ or self._error
            raise ClusterError(
                f"cannot start the scheduler on {where} ({type(cause).__name__}: {cause}); "
                "CLIENT_IP must be an address of this machine, and SCHEDULER_PORT a port no "
                "other program (another run?) listens on"
            ) from self._error
        return self.address

    def stop(self) -> None:
        if self._loop is not None and self._closing is not None:
            with contextlib.suppress(RuntimeError):  # its loop has ended already
                self._loop.call_soon_threadsafe(self._closing.set)
        self.join(timeout=10)


class Mailbox:
    """Hands small messages from any thread to the supervisor's ZeroMQ poll.

    The scheduler's and the Dask client's callbacks run on their own threads; each
    thread gets its own PUSH socket (ZeroMQ sockets are not shared between threads).
    """

    def __init__(self, context: zmq.Context, name: str) -> None:
        self.address = f"inproc://fission-{name}-{id(self)}"
        self.socket = context.socket(zmq.PULL)
        self.socket.bind(self.address)
        self._context = context
        self._local = threading.local()
        self._senders: list[zmq.Socket] = []
        self._lock = threading.Lock()

    def post(self, message: dict) -> None:
        sender = getattr(self._local, "socket", None)
        if sender is None:
            sender = self._context.socket(zmq.PUSH)
            sender.setsockopt(zmq.LINGER, 0)
            sender.connect(self.address)
            self._local.socket = sender
            with self._lock:
                self._senders.append(sender)
        sender.send_string(json.dumps(message))

    def receive(self) -> list[dict]:
        messages = []
        while self.socket.poll(0):
            messages.append(json.loads(self.socket.recv_string()))
        return messages

    def close(self) -> None:
        with self._lock:
            for sender in self._senders:
                sender.close(linger=0)
        self.socket.close(linger=0)


def exit_notice(post: Callable[[dict], None], notice: dict) -> Callable[[Any], None]:
    """A done-callback for a task's future that posts ``notice`` once the task has ended.

    Dask runs done-callbacks one at a time on a thread of its own, late under load,
    and maybe while the client closes. So the callback asks Dask nothing: fetching
    the outcome is a remote call, which at the end of a run raced the client's and
    the scheduler's close ("IOLoop is closed", "Cannot change state of expiring
    Timeout"). Whoever gets the notice fetches the outcome, while the client is up. A
    cancelled or released future (a copy replaced in a failover, the end of the run)
    has nothing to report.
    """

    def done(future: Any) -> None:
        if future.status != "cancelled":
            post(notice)

    return done


def connect_client(address: str, security: Security | None) -> Client:
    return Client(address, security=security, set_as_default=False, timeout=30)
