"""``run``: the network on its nodes, kept running when a node fails.

The client starts a Dask scheduler in this process, waits for the nodes of
``NODES`` to join, places every job (:mod:`fission.placement`) and starts it: local
jobs as processes of this machine in ``NET/local/<id>/``, the others through a
Dask task pinned to their node (:mod:`fission.backends.node_jobs`). From then on,
Dask only tells who is up; blocks go from job to job over ZeroMQ, and the
client (:class:`DistributedRun`, on :class:`~fission.backends.supervision.Supervision`)
talks to every job over one control socket.

Wiring. Every consumer binds its inputs on its own node, on a port of the
system's choosing, and reports the addresses when it is ready; the client then
tells each producer where to send (``connect``). Start-up and failover are the
same procedure: a replacement is just a new copy whose addresses are not known yet.

Failover. When a node is declared dead (its worker gone, or silent for
``NODE_TIMEOUT``), its jobs are placed again with the same rules and started with
the next *incarnation*. Before a replacement may send anything, every live
consumer of its outputs is *fenced*: it drops blocks of older incarnations from
then on, so a copy left running on a partitioned node can never deliver a block
after its replacement started. The fence replies say how far each consumer has got.
Producers of a replaced job are pointed at its new addresses and send their
blocks again from the first one a consumer further down still needs (``connect``
with ``since``), so what the dead node had not passed on is computed again. A
replaced source continues numbering there (``begin``), after consumers holding
later, unused blocks of the old copy forget them (``rewind``). Producers keep every
block until no replay can need it: jobs report their progress and the client
acknowledges (``covered``) what their consumers, and what those passed on, have
taken (fission/backends/acks.py); a producer whose retention is full waits. These
decisions are the pure state machine of fission/backends/failover.py and the pure
function of fission/backends/acks.py; this module feeds them what happens and sends
what they say.

State and restarts. A job with ``STATE`` (or ``snapshot()``), or with
``RESTART = "on-failure"``, sends snapshots of its state, which the client
keeps (fission/backends/snapshots.py), and its producers keep their blocks until a
snapshot covers them. Its replacement restores the latest snapshot no later than
what its consumers still need (``restore``, instead of ``begin``), and its
producers replay from there. A job with ``RESTART = "on-failure"`` whose ``run``
raised is replaced the same way on the node it ran on, after the backoff of
fission/backends/restarts.py.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from fission import dashboard
from fission.backends.acks import Acknowledgements, check_retention, run_floors
from fission.backends.addresses import can_listen_on
from fission.backends.console import ConsoleServer, claim_network, write_console
from fission.backends.dask_cluster import (
    Mailbox,
    Membership,
    SchedulerThread,
    check_node_timeout,
    configure_dask,
    connect_client,
    exit_notice,
)
from fission.backends.failover import Start
from fission.backends.files import (
    FileServer,
    FileSink,
    Manifest,
    code_paths,
    dependency_paths,
    place_dependencies,
    user_packages,
)
from fission.backends.lifecycle import JobState
from fission.backends.monitor import NODE_FIGURES, Monitor
from fission.backends.node_jobs import JobLaunch, push_logs, run_job, stop_network
from fission.backends.node_table import NodeRow, NodeTable
from fission.backends.processes import (
    JOB_NICENESS,
    JobProcess,
    pickle_spec,
    start_job,
    stop_jobs,
)
from fission.backends.recording import RecordingSink, recordings
from fission.backends.stopping import stop_signals_interrupt
from fission.backends.supervision import Supervision
from fission.backends.terminal import stdout_is_terminal, visible
from fission.config import Settings, configure_logging, load_settings
from fission.core.jobs import BaseJob
from fission.core.nodes import BaseNode, LocalNode, MultiNode
from fission.errors import AllocationError, ClusterError, ConfigError
from fission.events import EventLog
from fission.placement import NodeView, place_all, replace
from fission.runtime.control import identity
from fission.runtime.spec import JobSpec
from fission.security.credentials import Credentials, for_run
from fission.security.curve import Gatekeeper

log = logging.getLogger("fission.run")

LOCAL = "local"
#: The key of the manifest of every job's DEPENDENCIES together (job ids start at 1).
ALL_JOBS = 0
#: Seconds the wait for nodes goes on, once NODES are satisfied, when a MultiNode is among them.
MULTINODE_SETTLE = 1.0
#: Seconds remote jobs get to stop by themselves before their node signals them.
REMOTE_PATIENCE = 1.5
#: Seconds the client waits for the outcome of a job's finished task from Dask.
TASK_OUTCOME_WAIT = 5.0
#: Seconds the nodes get to signal the jobs that did not stop by themselves.
NODE_STOP_WAIT = 2.0


@dataclass
class Copy:
    """One running copy of a job: where it runs and what it has reported."""

    job: BaseJob
    incarnation: int
    node: str
    address: str
    process: JobProcess | None = None
    future: Any = None
    exit_status: int | None = None
    exited_at: float | None = None

    @property
    def identity(self) -> bytes:
        return identity(self.job.id, self.incarnation)

    @property
    def where(self) -> str:
        return LOCAL if self.address == LOCAL else self.node


def run_network(project: Path, network: str, *, duration: float | None = None,
                record: tuple[int, ...] = ()) -> int:
    """Run ``network`` of ``project`` on its nodes; return the exit status for the CLI.

    ``record``: the ids of the pipes whose blocks are recorded: their producers send
    them to the client, which writes ``NET/recordings/`` (fission/backends/recording.py)."""
    settings = load_settings(Path(project), network)
    check_node_timeout(settings.node_timeout, len(settings.nodes), f"{network}/config.py")
    check_retention(settings.network, f"{network}/config.py")
    recorded = recordings(settings, record)
    why = can_listen_on(settings.client_ip)
    if why is not None:
        raise ClusterError(
            f"{network}/config.py: CLIENT_IP {settings.client_ip} is not an address of this "
            f"machine ({why}); set it to this machine's address in the nodes' network"
        )
    for notice in (*settings.notices, settings.user_notice()):
        print(notice, file=sys.stderr)
    configure_logging(settings)
    configure_dask()
    credentials = for_run(settings.project, settings.name, settings.secure)
    # SIGTERM/SIGHUP unwind as Ctrl+C does until DistributedRun has its own handler, and after.
    with stop_signals_interrupt(), tempfile.TemporaryDirectory(prefix="fission-") as sockets:
        send_address = f"ipc://{Path(sockets) / 'send'}"
        with claim_network(settings.directory, send_address, secure=credentials is not None):
            monitor = Monitor(settings.name, settings.network, "run", settings.client_ip)
            for job in settings.network.jobs:  # a job that cannot travel: refused at once
                pickle_spec(JobSpec(job=job, control=""))
            with dashboard.serve(settings, monitor, Path(sockets)):
                distributed = DistributedRun(settings, Path(sockets), credentials, monitor)
                distributed.recorded = recorded
                return distributed.run(duration)


class DistributedRun(Supervision):
    """The client of ``run``: jobs placed on the nodes of a Dask cluster (and here)."""

    log = log

    def __init__(self, settings: Settings, sockets: Path, credentials: Credentials | None,
                 monitor: Monitor | None = None) -> None:
        super().__init__(settings, sockets, None if credentials is None else credentials.curve,
                         monitor or Monitor(settings.name, settings.network, "run",
                                            settings.client_ip))
        self._next_nodes = 0.0
        #: Writes the recordings on the client (``--record``), if there are any.
        self.recording: RecordingSink | None = None
        self.security = None if credentials is None else credentials.dask_security()
        self.host = settings.client_ip
        self.local_dir = settings.directory / "local"
        self.control = self.gate.listen(zmq.ROUTER, self.host, "the control channel")
        self.output = self.gate.listen(zmq.PULL, self.host, "the output relay")
        self._colour = stdout_is_terminal()
        self.mailbox = Mailbox(self.context, "cluster")
        self.membership = Membership(self.mailbox.post, settings.node_timeout)
        self.copies: dict[int, Copy] = {}
        self.nodes: dict[str, str] = {}  # worker address -> node ip, for the nodes up
        self.declared_dead: set[str] = set()  # ips of nodes declared dead during this run
        self.steady_at: dict[str, float] = {}  # worker address -> when a returned node may work
        #: Per job, its outputs' retention floors (fission/runtime/retention.py).
        self.retain_floors = run_floors(self.network)
        #: What producers may forget: from the jobs' progress and the snapshots kept.
        self.acks = Acknowledgements(self.network, self.snapshots, frozenset(
            job.id for job in self.network.jobs if self.snapshotting(job)))
        self.client = None
        self.scheduler: SchedulerThread | None = None
        self.files: FileServer | None = None
        self.table = NodeTable()
        self.code, self.dependencies = self._manifests()
        self._ops["progress"] = self._on_progress
        self._cluster_ops = {"node_up": self._on_node_up, "node_down": self._on_node_down,
                             "exited": self._on_exited}

    def endpoint(self, socket: zmq.Socket) -> str:
        return socket.getsockopt_string(zmq.LAST_ENDPOINT)

    # -- the run, start to end -------------------------------------------------------

    def _prepare(self) -> None:
        for job in self.network.jobs:  # every job must travel before anything starts
            pickle_spec(JobSpec(job=job, control=""))
        shutil.rmtree(self.local_dir, ignore_errors=True)
        self.local_dir.mkdir(parents=True)
        self.events = EventLog(self.local_dir / "events.jsonl")
        self.scheduler = SchedulerThread(self.host, self.settings.scheduler_port,
                                         self.membership, self.security)
        self.files = FileServer(self.gate, self.settings.project, self.host)
        if self.recorded:
            self.recording = RecordingSink(self.gate, self.host, self.recorded,
                                           self._recording_failed)
            self.recording.start()

    def _main(self, console: ConsoleServer, interactive: list[BaseJob],
              duration: float | None) -> None:
        try:
            address = self.scheduler.start_and_wait()
            self.client = connect_client(address, self.security)
            self.files.start()
            self.files.publish(self.code)
            self.files.publish(self.dependencies[ALL_JOBS])
            self._wait_for_nodes()
            if self.failure is None and not self.interrupted:
                self._start_all()
                self._start_relay([c.process for c in self.copies.values() if c.process],
                                  True, where=LOCAL)  # more: a local job restarted
                self._attend(console, interactive, duration)
        except AllocationError as error:
            self._event("allocation_error", job=error.job, error=str(error))
            self.failure = f"AllocationError: {error}"
        except (ClusterError, ConfigError) as error:
            self.failure = str(error)

    def _close(self) -> None:
        if self.recording is not None:
            self.recording.close()
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close(timeout=3)
        self.scheduler.stop()
        self.files.close()
        self.mailbox.close()
        self.gate.close()
        self.context.destroy(linger=0)
        self.events.close()

    def _manifests(self) -> tuple[Manifest, dict[int, Manifest]]:
        """What nodes fetch: the code, and each job's DEPENDENCIES (under job id
        :data:`ALL_JOBS`, all of them). Every file is read and hashed once per run."""
        project, network = self.settings.project, self.network
        classes = [type(job) for job in network.jobs]
        classes += [type(pipe) for job in network.jobs for pipe in job.inputs + job.outputs]
        packages = user_packages(project, self.settings.name, classes)
        code = Manifest.of(project, code_paths(project, packages | self.settings.code_packages))
        paths = {job.id: dependency_paths(project, job.DEPENDENCIES) for job in network.jobs}
        everything = Manifest.of(project, [path for each in paths.values() for path in each])
        dependencies = {job_id: Manifest({path: everything.files[path] for path in each})
                        for job_id, each in paths.items()}
        dependencies[ALL_JOBS] = everything
        return code, dependencies

    def _recording_failed(self, error: str) -> None:
        """From the recording sink's thread: a recording cannot be written; the run stops."""
        self.failure = self.failure or error

    # -- nodes -------------------------------------------------------------------------

    def _configured(self, ip: str) -> BaseNode | None:
        return next((node for node in self.settings.nodes if node.matches(ip)), None)

    def _wait_for_nodes(self) -> None:
        """Wait until every node of NODES has joined.

        A MultiNode stands for any number of machines, so one match satisfies it; to
        give the others that are already trying to join a chance, the wait goes on for
        :data:`MULTINODE_SETTLE` seconds once everything else is there.
        """
        wanted = self.settings.nodes
        deadline = time.monotonic() + self.settings.node_wait
        settle = MULTINODE_SETTLE if any(isinstance(n, MultiNode) for n in wanted) else 0.0
        satisfied_at = None
        print(f"FISSION: waiting for {len(wanted)} node(s) of {self.settings.name} "
              f"(scheduler at {self.host}:{self.settings.scheduler_port})", file=sys.stderr)
        with self.table.live():
            while not self.interrupted:
                for message in self.mailbox.receive():
                    self._on_cluster(message)
                self.table.update(self._node_rows())
                now = time.monotonic()
                missing = [node for node in wanted
                           if not any(node.matches(ip) for ip in self.nodes.values())]
                if not missing:
                    satisfied_at = satisfied_at or now
                    if now - satisfied_at >= settle:
                        check_node_timeout(self.settings.node_timeout, len(self.nodes),
                                           f"{self.settings.name}/config.py")
                        return
                elif now >= deadline:
                    names = ", ".join(node.ip for node in missing)
                    raise ClusterError(
                        f"node(s) {names} did not join within NODE_WAIT = "
                        f"{self.settings.node_wait:g} s; start `fission node --client "
                        f"{self.host} --port {self.settings.scheduler_port} --host NODE_IP` on "
                        "each, or change NODES")
                self.mailbox.socket.poll(50)

    def _views(self, ignore: set[int] = frozenset(), unsteady: bool = False) -> list[NodeView]:
        """What placement sees of the nodes up; the jobs in ``ignore`` take no slot.

        A node that came back after being declared dead is left out until it has been
        up for NODE_STEADY seconds (``unsteady``: shown all the same, for the table).
        """
        now = time.monotonic()
        counts: dict[str, int] = {}
        for copy in self.copies.values():
            if copy.job.id not in ignore:
                counts[copy.address] = counts.get(copy.address, 0) + 1
        metrics = self.membership.metrics
        views = []
        for address, ip in self.nodes.items():
            node = self._configured(ip)
            if node is None or (not unsteady and self.steady_at.get(address, now) > now):
                continue
            measured = metrics.get(address, {})
            cpus = node.cpus or int(measured.get("cpus", 1))
            views.append(NodeView(
                address=address, ip=ip, node=node, cpus=cpus, jobs=counts.get(address, 0),
                cpu=float(measured.get("cpu", 100.0)), memory=int(measured.get("memory", 0)),
                disk=int(measured.get("disk", 0)), swap=float(measured.get("swap", 0.0)),
                TQ=int(measured.get("TQ", 255))))
        views.append(NodeView(address=LOCAL, ip=self.host, node=LocalNode(self.host), cpus=0,
                              jobs=counts.get(LOCAL, 0), local=True))
        return views

    def _node_rows(self) -> list[NodeRow]:
        jobs: dict[str, list[int]] = {}
        for copy in self.copies.values():
            jobs.setdefault(copy.address, []).append(copy.job.id)
        return [NodeRow(view.ip, view.cpus, view.cpu, view.memory,
                        tuple(sorted(jobs.get(view.address, ()))))
                for view in self._views(unsteady=True) if not view.local]

    def _on_cluster(self, message: dict) -> None:
        handler = self._cluster_ops.get(message.get("event"))
        if handler is not None:
            handler(message)

    def _on_node_up(self, message: dict) -> None:
        ip = message["ip"]
        if self._configured(ip) is None:
            log.warning("node %s joined but is not in NODES; ignoring it", ip)
            return
        self.nodes[message["address"]] = ip
        if ip in self.declared_dead and self.settings.node_steady > 0:
            # Hysteresis: a node that failed once may fail again soon (a lossy link);
            # jobs placed on it at once could bounce between it and the others.
            steady = self.settings.node_steady
            self.steady_at[message["address"]] = time.monotonic() + steady
            self._event("node_up", node=ip, address=message["address"], steady_in=steady)
            print(f"FISSION: node {ip} is up again; it gets no job until it has been up for "
                  f"NODE_STEADY = {steady:g} s", file=sys.stderr)
        else:
            self._event("node_up", node=ip, address=message["address"])
            print(f"FISSION: node {ip} is up", file=sys.stderr)
        if self.settings.pre_copy:
            self._prefetch(message["address"])

    def _on_node_down(self, message: dict) -> None:
        address = message["address"]
        ip = self.nodes.pop(address, None)
        if ip is None:
            return
        self.declared_dead.add(ip)
        self.steady_at.pop(address, None)
        self._event("node_down", node=ip, why=message.get("why"))
        self._report_nodes()
        print(f"FISSION: node {ip} is down ({message.get('why')})", file=sys.stderr)
        lost = []
        for copy in self.copies.values():
            if copy.address != address:
                continue
            if self.lifecycle.in_state(copy.job.id, JobState.FINISHED):
                copy.exit_status = -signal.SIGKILL  # its work was done: nothing to replace
            else:
                lost.append(copy)
        if lost and not self._stopping:
            self._fail_over(ip, lost)

    # -- starting jobs ---------------------------------------------------------------

    def _prefetch(self, address: str) -> None:
        from fission.backends.node_jobs import prefetch

        self.client.submit(prefetch, self.files.address,
                           [self.code, self.dependencies[ALL_JOBS]],
                           self.settings.remote_root, self.settings.name, workers=[address],
                           allow_other_workers=False, pure=False)

    def _start_all(self) -> None:
        placement = place_all(self.network.jobs, self._views())
        for start in self.failover.start().starts:
            self._start(start, placement[start.job])
        self.table.show(self._node_rows())
        log.info("started %d jobs of %s", len(self.copies), self.settings.name)

    def _start(self, start: Start, address: str) -> None:
        job, incarnation = self.network.job(start.job), start.incarnation
        ip = self.host if address == LOCAL else self.nodes[address]
        copy = Copy(job, incarnation, ip, address)
        pipes = self.network.pipes
        self.copies[job.id] = copy
        self._event("placed", job=job.id, node=ip, incarnation=incarnation)
        recorded = [pipe for pipe in job.outputs if pipe.id in self.recorded]
        for pipe in recorded:  # frames of the copy this one replaces are dropped from now
            self.recording.fence(pipe.id, incarnation)
        spec = JobSpec(
            job=job,
            control=self.endpoint(self.control),
            inputs={pipe.id: f"tcp://{ip}:*" for pipe in job.inputs},
            outputs={},
            console=self._console(job.id) if job.CONSOLE else None,
            log_level="DEBUG",
            incarnation=incarnation,
            gated=start.gated,
            replay=True,
            figures=self.settings.dashboard is not None,
            record={pipe.id: str(self.recorded[pipe.id]) for pipe in recorded},
            record_to=self.recording.address if recorded else None,
            covered=frozenset(pipe.id for pipe in job.outputs
                              if self.snapshotting(self.network.job(pipes[pipe.id].destination))),
            retain_floor=self.retain_floors[job.id],
            snapshots=self.snapshotting(job),
            restoring=start.restoring,
        )
        if address == LOCAL:
            workdir = self.local_dir / str(job.id)
            workdir.mkdir(parents=True, exist_ok=True)
            place_dependencies(self.settings.project, job.DEPENDENCIES, workdir)
            copy.process = start_job(job, pickle_spec(spec), workdir, [self.settings.project],
                                     self.keys, niceness=JOB_NICENESS)
            if self.relay is not None:
                self.relay.add(copy.process)
            return
        launch = JobLaunch(
            network=self.settings.name, job_id=job.id, incarnation=incarnation,
            spec=pickle_spec(spec), remote_root=self.settings.remote_root,
            files=self.files.address, code=self.code, dependencies=self.dependencies[job.id],
            job_dependencies=tuple(job.DEPENDENCIES),
            output=self.endpoint(self.output) if self.settings.debug_window else None,
        )
        copy.future = self.client.submit(
            run_job, launch, key=f"fission-{self.settings.name}-{job.id}-{incarnation}",
            workers=[address], allow_other_workers=False, pure=False)
        copy.future.add_done_callback(
            exit_notice(self.mailbox.post, {"event": "exited", "job": job.id,
                                            "incarnation": incarnation}))

    # -- failover ----------------------------------------------------------------------

    def _fail_over(self, ip: str, lost: list[Copy], restart: bool = False) -> None:
        """Place ``lost`` again and start their replacements; ``restart``: a job that
        failed, started again where it ran (its node is up)."""
        jobs = [copy.job for copy in lost]
        if not restart:
            self._event("failover_started", node=ip, jobs=[job.id for job in jobs])
            print(f"FISSION: failover: {', '.join(job.label for job in jobs)} of node {ip} are "
                  "placed again", file=sys.stderr)
        for copy in lost:
            self._send([(copy.job.id, {"op": "stop"})], to=copy.identity)  # if it still hears
            if copy.future is not None:
                copy.future.release()
        try:
            if restart:
                placement = {copy.job.id: copy.address for copy in lost}
            else:
                placement = replace(jobs, self._views(ignore={job.id for job in jobs}))
        except AllocationError as error:
            self._event("allocation_error", job=error.job, node=ip, error=str(error))
            self.failure = f"failover after node {ip} went down: AllocationError: {error}"
            return
        for job in jobs:
            self.lifecycle.restart(job.id)
        actions = self.failover.lost([job.id for job in jobs], time.monotonic())
        self._apply(actions)
        for start in actions.starts:
            self._start(start, placement[start.job])

    def _recovered(self, job_id: int, seconds: float) -> None:
        self._event("failover_done", job=job_id, node=self.copies[job_id].node,
                    seconds=round(seconds, 3))

    # -- supervising -----------------------------------------------------------------

    def _served(self) -> dict[zmq.Socket, Callable[[], None]]:
        return {self.mailbox.socket: self._read_mailbox, self.output: self._relay_output}

    def _read_mailbox(self) -> None:
        for message in self.mailbox.receive():
            self._on_cluster(message)

    def _tick(self) -> None:
        super()._tick()
        self._watch_nodes()

    def _all_exited(self) -> bool:
        return not any(c.exit_status is None for c in self.copies.values())

    def _watch_nodes(self) -> None:
        """The nodes' heartbeat figures to the monitor, once a second."""
        if time.monotonic() >= self._next_nodes:
            self._report_nodes()

    def _report_nodes(self) -> None:
        """Also called at once when a node comes or goes: a view must not show a node up
        while its jobs are already being moved off it."""
        self._next_nodes = time.monotonic() + 1.0
        metrics = self.membership.metrics
        self.monitor.nodes({"ip": ip, **{k: v for k, v in metrics.get(address, {}).items()
                                          if k in NODE_FIGURES}}
                           for address, ip in self.nodes.items())

    # -- control, events, restarts ----------------------------------------------------

    def _copy(self, job_id: int) -> Copy | None:
        return self.copies.get(job_id)

    def _incarnation(self, job_id: int) -> int:
        return self.copies[job_id].incarnation

    def _announce(self, event: str, copy: Copy, **fields: Any) -> None:
        self._event(event, job=copy.job.id, node=copy.node, **fields)

    _record = _announce  # events.jsonl is what the views show

    def _where(self, copy: Copy) -> str:
        return copy.where

    def _restart_scheduled(self, copy: Copy, delay: float) -> None:
        """Nothing yet: the restart fences the consumers as a failover does."""

    def _may_restart(self, job_id: int, now: float) -> bool:
        return self.copies[job_id].exit_status is not None

    def _restart(self, job_id: int) -> None:
        """Start the job again where it ran; one whose node died meanwhile was failed
        over already (its incarnation moved on, so it is no longer due)."""
        copy = self.copies[job_id]
        self._fail_over(copy.node, [copy], restart=True)

    def _on_progress(self, copy: Copy, message: dict) -> None:
        """How far a job has got: acknowledge to producers what no replay needs."""
        self._send(self.acks.progress(copy.job.id, message))

    def _on_exited(self, message: dict) -> None:
        """A job's task on a node has ended: its exit status, or why it could not run."""
        copy = self.copies.get(int(message["job"]))
        if copy is None or copy.incarnation != message["incarnation"] or copy.future is None:
            return
        try:
            error = copy.future.exception(timeout=TASK_OUTCOME_WAIT)
            status = None if error is not None else copy.future.result(timeout=TASK_OUTCOME_WAIT)
        except CancelledError:  # distributed's FutureCancelledError too
            return
        except TimeoutError:
            error = status = None
        copy.exit_status = status if status is not None else -1
        if error is not None and copy.exited_at is None:
            self.failure = self.failure or (f"{copy.job.label} could not run on {copy.where}: "
                                            f"{type(error).__name__}: {error}")
        copy.exited_at = copy.exited_at or time.monotonic()

    def _exits(self, now: float) -> list[tuple[Copy, int, float]]:
        exited = []
        for copy in self.copies.values():
            if copy.process is not None and copy.exit_status is None:
                status = copy.process.popen.poll()
                if status is not None:
                    copy.exit_status, copy.exited_at = status, now
            if copy.exited_at is not None:
                exited.append((copy, copy.exit_status, copy.exited_at))
        return exited

    def _see(self, copy: Copy) -> str:
        return "its output above and its job.log"

    def _lost(self, copy: Copy, status: int) -> bool:
        return status == -signal.SIGKILL and copy.process is None and not self._stopping

    def _replace_lost(self, copy: Copy) -> None:
        """A job process killed by SIGKILL while the run goes on is a fault, not a failure.

        FISSION sends SIGKILL only when it stops a run (or a node it has given up on):
        this one came from elsewhere, the kernel's OOM killer or an operator. The job is
        placed again and its inputs replayed, exactly as if its node had died. (Only a
        job on a node: a local job's replacement would have no console relay, so a local
        job killed so still ends the run.)
        """
        self._event("job_lost", job=copy.job.id, node=copy.node, status=copy.exit_status)
        print(f"FISSION: {copy.job.label} on {copy.where} was killed by signal "
              f"{signal.SIGKILL} (not sent by FISSION: the kernel's OOM killer, or an "
              "operator); it is placed again", file=sys.stderr)
        self._fail_over(copy.node, [copy])

    def _relay_output(self) -> None:
        while self.output.poll(0):
            try:
                job_id, incarnation, line = self.output.recv_multipart()
                copy = self.copies[int(job_id)]
            except (ValueError, KeyError):
                continue
            text = visible(line.decode(errors="replace"), self._colour)
            write_console(f"[{copy.job.label} @{copy.node}] {text}\n")
            self.monitor.line(copy.job.id, visible(line.decode(errors="replace"), False))

    def _event(self, event: str, **fields: Any) -> None:
        if self.events is not None:
            self.monitor.event(self.events.write(event, **fields))

    # -- the end -----------------------------------------------------------------------

    def _stop_everything(self) -> None:
        """Every job on every node stopped, politely first; the agents stay up."""
        for copy in self.copies.values():
            if copy.exit_status is None:
                self._send([(copy.job.id, {"op": "stop"})])
        remote = [c for c in self.copies.values()
                  if c.future is not None and c.address in self.nodes]
        deadline = time.monotonic() + REMOTE_PATIENCE
        stop_jobs([c.process for c in self.copies.values() if c.process is not None])
        while time.monotonic() < deadline and any(not c.future.done() for c in remote):
            self._drain_control()
            time.sleep(0.02)
        if any(not c.future.done() for c in remote):
            # A node that does not answer must not hold up the end: its agent stops its
            # jobs anyway when it loses the scheduler, which closes next.
            stopper = threading.Thread(target=self._stop_on_nodes, daemon=True,
                                       name="fission-stop-on-nodes")
            stopper.start()
            stopper.join(NODE_STOP_WAIT)
        self._drain_control()
        for copy in self.copies.values():
            if copy.future is not None:
                copy.future.release()
        time.sleep(0.05)
        self._relay_output()

    def _stop_on_nodes(self) -> None:
        with contextlib.suppress(Exception):
            self.client.run(stop_network, self.settings.name, workers=list(self.nodes),
                            on_error="ignore")

    def _after_failure(self) -> str:
        if not self.copies:
            return "No job was started."
        return (f"The network {self.settings.name} was stopped on every node; files written "
                f"so far are in {self.local_dir}.")

    @property
    def results(self) -> Path:
        return self.local_dir

    def _outcome(self, why: str | None) -> str:
        return (f"FISSION: {self.settings.name} {why or 'finished'}; local results are in "
                f"{self.local_dir}")


def collect(project: Path, network: str) -> int:
    """Copy every node's job logs of ``network`` to ``NET/collection/<ip>/``."""
    settings = load_settings(Path(project), network)
    configure_dask()
    credentials = for_run(settings.project, settings.name, settings.secure)
    security = None if credentials is None else credentials.dask_security()
    context = zmq.Context()
    gate = Gatekeeper(context, None if credentials is None else credentials.curve, log)
    mailbox = Mailbox(context, "collect")
    membership = Membership(mailbox.post, settings.node_timeout)
    scheduler = SchedulerThread(settings.client_ip, settings.scheduler_port, membership,
                                security)
    target = settings.directory / "collection"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    sink = FileSink(gate, target, settings.client_ip)
    sink.start()
    try:
        client = connect_client(scheduler.start_and_wait(), security)
        deadline = time.monotonic() + settings.node_wait
        nodes: dict[str, str] = {}
        while time.monotonic() < deadline:
            for message in mailbox.receive():
                if message["event"] == "node_up" and any(
                        n.matches(message["ip"]) for n in settings.nodes):
                    nodes[message["address"]] = message["ip"]
            if all(any(n.matches(ip) for ip in nodes.values()) for n in settings.nodes):
                break
            mailbox.socket.poll(100)
        for address, ip in nodes.items():
            client.run(push_logs, sink.address, ip, settings.remote_root, network,
                       workers=[address])
        client.close()
    finally:
        sink.close()
        scheduler.stop()
        mailbox.close()
        gate.close()
        context.destroy(linger=0)
    missing = [n.ip for n in settings.nodes if not any(n.matches(ip) for ip in nodes.values())]
    print(f"FISSION: collected {sink.received} log files into {target}", file=sys.stderr)
    if missing:
        print(f"error: node(s) {', '.join(missing)} did not answer within NODE_WAIT; their "
              "logs were not collected", file=sys.stderr)
        return 1
    return 0

