"""``run``: the network on its nodes, kept running when a node fails.

The client starts a Dask scheduler in this process, waits for the nodes of
``NODES`` to join, places every job (:mod:`fission.placement`) and starts it: local
jobs as processes of this machine in ``NET/local/<id>/``, the others through a
Dask task pinned to their node (:mod:`fission.backends.supervisor`). From then on,
Dask only tells who is up; blocks go from job to job over ZeroMQ, and this
supervisor talks to every job over one control socket.

Wiring. Every consumer binds its inputs on its own node, on a port of the
system's choosing, and reports the addresses when it is ready; the supervisor then
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
block until no replay can need it: jobs report their progress and the supervisor
acknowledges (``covered``) what their consumers, and what those passed on, have
taken (fission/backends/acks.py); a producer whose retention is full waits.

State and restarts. A job with ``STATE`` (or ``snapshot()``), or with
``RESTART = "on-failure"``, sends snapshots of its state, which this supervisor
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
import math
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from fission import dashboard
from fission.backends.acks import Acknowledgements
from fission.backends.addresses import can_listen_on
from fission.backends.console import ConsoleServer, claim_network
from fission.backends.dask_cluster import (
    Mailbox,
    Membership,
    SchedulerThread,
    check_node_timeout,
    configure_dask,
    connect_client,
    exit_notice,
)
from fission.backends.files import (
    FileServer,
    FileSink,
    Manifest,
    code_paths,
    dependency_paths,
    place_dependencies,
    user_packages,
)
from fission.backends.lifecycle import JobState, Lifecycle, Message, describe_losses
from fission.backends.monitor import NODE_FIGURES, Monitor
from fission.backends.node_table import NodeRow, NodeTable
from fission.backends.processes import (
    LAST_WORDS,
    JobProcess,
    OutputRelay,
    describe_exit,
    pickle_spec,
    start_job,
    stop_jobs,
)
from fission.backends.recording import FOLDER as RECORDINGS
from fission.backends.recording import recordings
from fission.backends.restarts import Restarts
from fission.backends.simulate import prompt_if_terminal, report_frames, write_console
from fission.backends.snapshots import Snapshots, keep_snapshot
from fission.backends.stopping import handle_stop_signals, interruption, stop_signals_interrupt
from fission.backends.supervisor import JobLaunch, push_logs, run_job, stop_network
from fission.backends.terminal import one_line, stdout_is_terminal, visible
from fission.config import Settings, configure_logging, load_settings
from fission.core.durability import restartable, stateful
from fission.core.jobs import BaseJob
from fission.core.nodes import BaseNode, LocalNode, MultiNode
from fission.core.pipes import BasePipe
from fission.errors import AllocationError, ClusterError, ConfigError
from fission.events import EventLog
from fission.placement import NodeView, place_all, replace
from fission.runtime.control import identity, parse_report, to_text
from fission.runtime.spec import JobSpec
from fission.security.credentials import Credentials, for_run
from fission.security.curve import Gatekeeper

log = logging.getLogger("fission.run")

LOCAL = "local"
#: The key of the manifest of every job's DEPENDENCIES together (job ids start at 1).
ALL_JOBS = 0
#: Seconds a replacement waits for a consumer's fence reply before going on without it.
FENCE_PATIENCE = 2.0
#: Seconds the wait for nodes goes on, once NODES are satisfied, when a MultiNode is among them.
MULTINODE_SETTLE = 1.0
#: Seconds remote jobs get to stop by themselves before their node signals them.
REMOTE_PATIENCE = 1.5
#: Seconds the supervisor waits for the outcome of a job's finished task from Dask.
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
    gated: bool = False
    #: A replacement that restores a snapshot (``restore``) before it runs.
    restoring: bool = False
    #: The run it restores at, once chosen, and the state of that snapshot.
    restore_seq: int | None = None
    restore_state: bytes | None = None
    ready: bool = False
    begun: bool = False
    #: Output pipes whose consumer was told to forget blocks this copy sends anew.
    rewound: set[int] = field(default_factory=set)
    inputs: dict[int, str] = field(default_factory=dict)
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

    ``record``: the ids of the pipes whose blocks are recorded (by their producers: on
    the client in ``NET/recordings/``, on a node in ``recordings/`` of the job's folder)."""
    settings = load_settings(Path(project), network)
    check_node_timeout(settings.node_timeout, len(settings.nodes), f"{network}/config.py")
    recorded = recordings(settings, record)
    why = can_listen_on(settings.client_ip)
    if why is not None:
        raise ClusterError(
            f"{network}/config.py: CLIENT_IP {settings.client_ip} is not an address of this "
            f"machine ({why}); set it to this machine's address in the nodes' network"
        )
    for notice in settings.notices:
        print(notice, file=sys.stderr)
    configure_logging(settings)
    configure_dask()
    credentials = for_run(settings.project, settings.name, settings.secure)
    # SIGTERM/SIGHUP unwind as Ctrl+C does until _Run has its own handler, and after.
    with stop_signals_interrupt(), tempfile.TemporaryDirectory(prefix="fission-") as sockets:
        send_address = f"ipc://{Path(sockets) / 'send'}"
        with claim_network(settings.directory, send_address, secure=credentials is not None):
            monitor = Monitor(settings.name, settings.network, "run", settings.client_ip)
            for job in settings.network.jobs:  # a job that cannot travel: refused at once
                pickle_spec(JobSpec(job=job, control=""))
            with dashboard.serve(settings, monitor, Path(sockets)):
                runner = _Run(settings, Path(sockets), send_address, credentials, monitor)
                runner.recorded = recorded
                return runner.run(duration)


class _Run:
    def __init__(self, settings: Settings, sockets: Path, send_address: str,
                 credentials: Credentials | None, monitor: Monitor | None = None) -> None:
        self.settings = settings
        self.monitor = monitor or Monitor(settings.name, settings.network, "run",
                                          settings.client_ip)
        self._next_nodes = 0.0
        #: Pipe id -> its recording on the client (``--record``).
        self.recorded: dict[int, Path] = {}
        self.security = None if credentials is None else credentials.dask_security()
        self.keys = None if credentials is None else credentials.curve
        self.network = settings.network
        self.sockets = sockets
        self.send_address = send_address
        self.host = settings.client_ip
        self.local_dir = settings.directory / "local"
        self.context = zmq.Context()
        self.gate = Gatekeeper(self.context, self.keys, log)
        self.control = self.gate.listen(zmq.ROUTER, self.host, "the control channel")
        self.output = self.gate.listen(zmq.PULL, self.host, "the output relay")
        self._colour = stdout_is_terminal()
        self.mailbox = Mailbox(self.context, "cluster")
        self.membership = Membership(self.mailbox.post, settings.node_timeout)
        self.lifecycle = Lifecycle(self.network)
        self.copies: dict[int, Copy] = {}
        self.nodes: dict[str, str] = {}  # worker address -> node ip, for the nodes up
        self.declared_dead: set[str] = set()  # ips of nodes declared dead during this run
        self.steady_at: dict[str, float] = {}  # worker address -> when a returned node may work
        self.connected: dict[int, tuple[int, str]] = {}  # pipe -> (producer incarnation, address)
        self.fencing: dict[int, float] = {}  # pipe -> when its consumer's fence reply is late
        self.positions: dict[int, int] = {}  # pipe -> how far its consumer had got at the fence
        self.rewinding: dict[int, float] = {}  # pipe -> when its consumer's rewind reply is late
        self.recovering: dict[int, float] = {}  # job id -> when its failover started
        self.restarts = {job.id: Restarts(job) for job in self.network.jobs}
        self.snapshots = {job.id: Snapshots() for job in self.network.jobs}
        self.acks = Acknowledgements(self.network, self.snapshots, frozenset(
            job.id for job in self.network.jobs if _snapshots(job)))
        self.due: dict[int, tuple[float, int]] = {}  # job id -> (restart time, incarnation)
        self.statistics: dict[int, dict] = {}
        self.failure: str | None = None
        self.interrupted = False
        #: The signal that stopped the run, if one did (Ctrl+C at the prompt is none).
        self.stop_signal: int | None = None
        self.timed_out = False
        self.client = None
        self.files: FileServer | None = None
        self.relay: OutputRelay | None = None
        self.events: EventLog | None = None
        self.table = NodeTable()
        self.code, self.dependencies = self._manifests()
        self._ops = {"ready": self._on_ready, "finished": self._on_finished,
                     "stopped": self._on_stopped, "failed": self._on_failed,
                     "fenced": self._on_fenced, "rewound": self._on_rewound,
                     "snapshot": self._on_snapshot, "figures": self._on_figures,
                     "progress": self._on_progress}
        self._cluster_ops = {"node_up": self._on_node_up, "node_down": self._on_node_down,
                             "exited": self._on_exited}

    def endpoint(self, socket: zmq.Socket) -> str:
        return socket.getsockopt_string(zmq.LAST_ENDPOINT)

    # -- the run, start to end -------------------------------------------------------

    def run(self, duration: float | None) -> int:
        for job in self.network.jobs:  # every job must travel before anything starts
            pickle_spec(JobSpec(job=job, control=""))
        shutil.rmtree(self.local_dir, ignore_errors=True)
        self.local_dir.mkdir(parents=True)
        self.events = EventLog(self.local_dir / "events.jsonl")
        scheduler = SchedulerThread(self.host, self.settings.scheduler_port, self.membership,
                                    self.security)
        files = FileServer(self.gate, self.settings.project, self.host)
        interactive = [job for job in self.network.jobs if job.CONSOLE]
        console = ConsoleServer(self.gate, self.send_address,
                                {job.id: self._console(job.id) for job in interactive})
        restore_signals = handle_stop_signals(self._interrupt)
        relay = None
        try:
            address = scheduler.start_and_wait()
            self.client = connect_client(address, self.security)
            files.start()
            self.files = files
            files.publish(self.code)
            files.publish(self.dependencies[ALL_JOBS])
            self._wait_for_nodes()
            if self.failure is None and not self.interrupted:
                self._start_all()
                relay = self.relay = OutputRelay(
                    [c.process for c in self.copies.values() if c.process], write_console,
                    where=LOCAL, tap=self.monitor.line)
                relay.expect_more(True)  # a local job restarted
                relay.start()
                with prompt_if_terminal(self.settings, interactive, self._stop_from_prompt):
                    self._supervise(console, duration)
        except AllocationError as error:
            self._event("allocation_error", job=error.job, error=str(error))
            self.failure = f"AllocationError: {error}"
        except (ClusterError, ConfigError) as error:
            self.failure = str(error)
        finally:
            self._stop_everything()
            if relay is not None:
                relay.expect_more(False)
                relay.join(timeout=2)
            console.close()
            if self.client is not None:
                with contextlib.suppress(Exception):
                    self.client.close(timeout=3)
            scheduler.stop()
            files.close()
            self.mailbox.close()
            self.gate.close()
            self.context.destroy(linger=0)
            self.events.close()
            restore_signals()  # only now: a second signal must not cut the stopping short
        return self._report()

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

    def _console(self, job_id: int) -> str:
        return f"ipc://{self.sockets / f'console-{job_id}'}"

    def _interrupt(self, signum: int, frame: object) -> None:
        self.interrupted = True
        self.stop_signal = self.stop_signal or signum

    def _stop_from_prompt(self) -> None:
        self.interrupted = True

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
        from fission.backends.supervisor import prefetch

        self.client.submit(prefetch, self.files.address,
                           [self.code, self.dependencies[ALL_JOBS]],
                           self.settings.remote_root, self.settings.name, workers=[address],
                           allow_other_workers=False, pure=False)

    def _start_all(self) -> None:
        placement = place_all(self.network.jobs, self._views())
        for job in self.network.jobs:
            self._start(job, placement[job.id], incarnation=0)
        self.table.show(self._node_rows())
        log.info("started %d jobs of %s", len(self.copies), self.settings.name)

    def _start(self, job: BaseJob, address: str, incarnation: int) -> None:
        ip = self.host if address == LOCAL else self.nodes[address]
        snapshots = _snapshots(job)
        restoring = incarnation > 0 and snapshots
        copy = Copy(job, incarnation, ip, address, restoring=restoring,
                    gated=incarnation > 0 and not job.inputs or restoring)
        copy.begun = not copy.gated
        pipes = self.network.pipes
        self.copies[job.id] = copy
        self._event("placed", job=job.id, node=ip, incarnation=incarnation)
        spec = JobSpec(
            job=job,
            control=self.endpoint(self.control),
            inputs={pipe.id: f"tcp://{ip}:*" for pipe in job.inputs},
            outputs={},
            console=self._console(job.id) if job.CONSOLE else None,
            log_level="DEBUG",
            incarnation=incarnation,
            gated=copy.gated,
            replay=True,
            figures=self.settings.dashboard is not None,
            record={pipe.id: str(self.recorded[pipe.id] if address == LOCAL
                                 else Path(RECORDINGS) / self.recorded[pipe.id].name)
                    for pipe in job.outputs if pipe.id in self.recorded},
            record_append=address == LOCAL and incarnation > 0,
            covered=frozenset(pipe.id for pipe in job.outputs
                              if _snapshots(self.network.job(pipes[pipe.id].destination))),
            snapshots=snapshots,
            restoring=restoring,
        )
        if address == LOCAL:
            workdir = self.local_dir / str(job.id)
            workdir.mkdir(parents=True, exist_ok=True)
            place_dependencies(self.settings.project, job.DEPENDENCIES, workdir)
            copy.process = start_job(job, pickle_spec(spec), workdir, [self.settings.project],
                                     self.keys)
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
        now = time.monotonic()
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
        replaced = {job.id for job in jobs}
        for job in jobs:
            self.lifecycle.restart(job.id)
            self.recovering[job.id] = now
            for pipe in job.inputs + job.outputs:
                self.connected.pop(pipe.id, None)
            for pipe in job.outputs:
                consumer = self.network.pipes[pipe.id].destination
                self.positions.pop(pipe.id, None)
                if consumer not in replaced:
                    self.fencing[pipe.id] = now + FENCE_PATIENCE
                    self._send([(consumer, {"op": "fence", "pipe": pipe.id,
                                            "incarnation": self.copies[job.id].incarnation + 1})])
        for job in jobs:
            self._start(job, placement[job.id], self.copies[job.id].incarnation + 1)

    def _wire(self) -> None:
        """Send every connect and begin that has become possible."""
        now = time.monotonic()
        for pipe_id, late in list(self.fencing.items()):
            if now >= late:
                log.warning("pipe %s: no fence reply from its consumer; going on", pipe_id)
                del self.fencing[pipe_id]
                self.positions[pipe_id] = 0  # how far it got is unknown: replay all there is
        for pipe_id, late in list(self.rewinding.items()):
            if now >= late:
                log.warning("pipe %s: no rewind reply from its consumer; going on", pipe_id)
                del self.rewinding[pipe_id]
        for pipe_id, link in self.network.pipes.items():
            producer, consumer = self.copies[link.source], self.copies[link.destination]
            if not (producer.ready and consumer.ready) or pipe_id in self.fencing:
                continue
            address = consumer.inputs.get(pipe_id)
            wanted = (producer.incarnation, address)
            if not address or self.connected.get(pipe_id) == wanted:
                continue
            first = self._replay_point(consumer) if consumer.incarnation else 0
            if first is None:
                continue  # where to replay from is not known yet
            self.connected[pipe_id] = wanted
            self._send([(link.source, {"op": "connect", "pipe": pipe_id, "address": address,
                                       "since": first * link.pipe.BLOCK_COUNT})])
        for copy in self.copies.values():
            if copy.ready and not copy.begun:
                first = self._replay_point(copy)
                if first is None or (not copy.job.inputs and self._rewinding_for(copy, first)):
                    continue
                copy.begun = True
                if copy.restoring:
                    self._send([(copy.job.id, {"op": "restore", "seq": first,
                                               "state": to_text(copy.restore_state)})])
                else:
                    self._send([(copy.job.id, {"op": "begin", "seq": first})])
        self._check_recovered()

    def _first_needed(self, copy: Copy, seen: frozenset[int] = frozenset()) -> int | None:
        """The first run of a replaced ``copy`` that its consumers still need; None while
        a fence reply that tells is still awaited.

        It numbers the blocks of the copy's outputs. A consumer that kept running said
        at its fence how far it had got; a consumer replaced as well needs what it needs
        in turn. A replaced consumer is sent blocks again from there (``since``), and a
        replaced source continues there (``begin``): the first block needed anywhere,
        so no consumer misses one, and what some already have they drop as duplicates.
        """
        needed = []
        for output in copy.job.outputs:
            if output.id in self.fencing:
                return None
            if output.id in self.positions:  # its consumer kept running
                needed.append(self.positions[output.id])
                continue
            downstream = self.copies[self.network.pipes[output.id].destination]
            if downstream.incarnation == 0 or downstream.job.id in seen:
                needed.append(0)
                continue
            first = self._replay_point(downstream, seen | {copy.job.id})
            if first is None:
                return None
            needed.append(first * output.BLOCK_COUNT)
        return min(needed, default=0)

    def _replay_point(self, copy: Copy, seen: frozenset[int] = frozenset()) -> int | None:
        """The run a replaced ``copy`` goes on from, and its producers replay from.

        A copy without state: the first run its consumers need
        (:meth:`_first_needed`). A copy that restores: the latest snapshot no later
        than that (chosen once), whose state it restores; what its consumers already
        have of the runs it does again they drop as duplicates.
        """
        if copy.restore_seq is not None:
            return copy.restore_seq
        first = self._first_needed(copy, seen)
        if first is None or not copy.restoring:
            return first
        snapshots = self.snapshots[copy.job.id]
        copy.restore_seq, copy.restore_state = snapshots.latest(
            first if copy.job.outputs else math.inf)
        snapshots.restart_from(copy.restore_seq)
        log.info("%s goes on from its snapshot before run %d", copy.job.label, copy.restore_seq)
        return copy.restore_seq

    def _rewinding_for(self, copy: Copy, first: int) -> bool:
        """Whether consumers still forget blocks a replaced source will send anew.

        The source continues at ``first``, the first block any consumer needs; a
        consumer that kept running may hold later blocks of the old copy, not yet run,
        whose values the new copy will not repeat: it is told to forget them
        (``rewind``), and the source waits until it has.
        """
        for pipe in copy.job.outputs:
            if self.positions.get(pipe.id, first) > first and pipe.id not in copy.rewound:
                copy.rewound.add(pipe.id)
                self.rewinding[pipe.id] = time.monotonic() + FENCE_PATIENCE
                consumer = self.network.pipes[pipe.id].destination
                self._send([(consumer, {"op": "rewind", "pipe": pipe.id, "seq": first})])
        return any(pipe.id in self.rewinding for pipe in copy.job.outputs)

    def _check_recovered(self) -> None:
        """A replaced job has recovered once it runs, may produce, and every output
        whose consumer runs is connected to it: then its failover is done."""
        for job_id in list(self.recovering):
            copy = self.copies[job_id]
            if copy.ready and copy.begun and all(
                    self._sends_to_running_consumer(copy, pipe) for pipe in copy.job.outputs):
                started = self.recovering.pop(job_id)
                self._event("failover_done", job=job_id, node=copy.node,
                            seconds=round(time.monotonic() - started, 3))

    def _sends_to_running_consumer(self, copy: Copy, pipe: BasePipe) -> bool:
        consumer = self.copies[self.network.pipes[pipe.id].destination]
        connected = self.connected.get(pipe.id)
        return not consumer.ready or (connected is not None
                                      and connected[0] == copy.incarnation)

    # -- supervising -----------------------------------------------------------------

    @property
    def _stopping(self) -> bool:
        return self.interrupted or self.timed_out or self.failure is not None

    def _supervise(self, console: ConsoleServer, duration: float | None) -> None:
        deadline = None if duration is None else time.monotonic() + duration
        poller = zmq.Poller()
        for socket in (self.control, self.output, self.mailbox.socket, console.socket):
            poller.register(socket, zmq.POLLIN)
        while not self._stopping:
            events = dict(poller.poll(100))
            if self.control in events:
                self._drain_control()
            if self.mailbox.socket in events:
                for message in self.mailbox.receive():
                    self._on_cluster(message)
            if self.output in events:
                self._relay_output()
            if console.socket in events:
                console.handle()
            self._check_exits()
            self._restart_due()
            self._wire()
            self._watch_nodes()
            if self.lifecycle.all_finished and not any(
                    c.exit_status is None for c in self.copies.values()):
                return
            if deadline is not None and time.monotonic() >= deadline:
                log.info("--duration of %s s has passed; stopping", duration)
                self.timed_out = True

    def _watch_nodes(self) -> None:
        """The nodes' heartbeat figures to the monitor, once a second."""
        now = time.monotonic()
        if now < self._next_nodes:
            return
        self._next_nodes = now + 1.0
        metrics = self.membership.metrics
        self.monitor.nodes({"ip": ip, **{k: v for k, v in metrics.get(address, {}).items()
                                          if k in NODE_FIGURES}}
                           for address, ip in self.nodes.items())

    def _drain_control(self) -> None:
        while self.control.poll(0):
            self._on_control(*report_frames(self.control))

    def _on_control(self, payload: bytes, data: bytes | None = None) -> None:
        message = parse_report(payload)
        if message is not None and data is not None:
            message["data"] = data  # a snapshot's pickled state
        handler = self._ops.get(message["op"]) if message else None
        copy = self.copies.get(message["job"]) if message else None
        if handler is None or copy is None:
            log.warning("ignoring a malformed control message: %r", payload[:200])
            return
        if message["incarnation"] != copy.incarnation:
            log.info("ignoring %r of %s incarnation %d (replaced)", message["op"],
                     copy.job.label, message["incarnation"])
            return
        handler(copy, message)

    def _on_ready(self, copy: Copy, message: dict) -> None:
        copy.ready = True
        copy.inputs = {int(pipe): address for pipe, address in message.get("inputs", {}).items()}
        self._event("job_started", job=copy.job.id, node=copy.node,
                    incarnation=copy.incarnation)
        self._send(self.lifecycle.ready(copy.job.id))
        self._wire()

    def _on_figures(self, copy: Copy, message: dict) -> None:
        self.monitor.figures(copy.job.id, message.get("stats") or {})

    def _on_finished(self, copy: Copy, message: dict) -> None:
        log.info("%s finished: %s", copy.job.label, message.get("stats"))
        self.statistics[copy.job.id] = message.get("stats") or {}
        self.monitor.finished(copy.job.id, self.statistics[copy.job.id])
        self._event("job_finished", job=copy.job.id, node=copy.node)
        self._send(self.lifecycle.finished(copy.job.id))

    def _on_stopped(self, copy: Copy, message: dict) -> None:
        self.statistics[copy.job.id] = message.get("stats") or {}
        self.monitor.finished(copy.job.id, self.statistics[copy.job.id], stopped=True)

    def _on_failed(self, copy: Copy, message: dict) -> None:
        self._send(self.lifecycle.failed(copy.job.id))
        error = one_line(str(message.get("error")))  # the user's message: no escapes reach us
        restarts = self.restarts[copy.job.id]
        delay = None if self._stopping else restarts.after_failure(time.monotonic())
        if delay is not None:
            self._event("job_restarted", job=copy.job.id, node=copy.node,
                        attempt=restarts.attempts, error=error)
            print(f"FISSION: {copy.job.label} failed on {copy.where} ({error}); it is "
                  f"restarted there in {delay:g} s (restart {restarts.attempts}; at most "
                  f"{copy.job.MAX_RESTARTS} within {copy.job.RESTART_WINDOW:g} s)",
                  file=sys.stderr)
            self.due[copy.job.id] = (time.monotonic() + delay, copy.incarnation)
            return
        self._event("job_failed", job=copy.job.id, node=copy.node, error=message.get("error"))
        self.failure = self.failure or f"{copy.job.label} failed on {copy.where}: {error}"

    def _on_snapshot(self, copy: Copy, message: dict) -> None:
        job = copy.job
        self._send(keep_snapshot(self.snapshots[job.id], self.network, job, message))

    def _on_progress(self, copy: Copy, message: dict) -> None:
        """How far a job has got: acknowledge to producers what no replay needs."""
        self._send(self.acks.progress(copy.job.id, message))

    def _restart_due(self) -> None:
        """Start again, where it ran, each failed job whose backoff has passed (once its
        process has exited); one whose node died meanwhile was failed over already."""
        now = time.monotonic()
        for job_id, (when, incarnation) in list(self.due.items()):
            copy = self.copies[job_id]
            if copy.incarnation != incarnation or self._stopping:
                del self.due[job_id]
            elif now >= when and copy.exit_status is not None:
                del self.due[job_id]
                self._fail_over(copy.node, [copy], restart=True)

    def _on_rewound(self, copy: Copy, message: dict) -> None:
        self.rewinding.pop(int(message["pipe"]), None)
        self._wire()

    def _on_fenced(self, copy: Copy, message: dict) -> None:
        pipe = int(message["pipe"])
        self.positions[pipe] = int(message.get("position", 0))
        self.fencing.pop(pipe, None)
        self._wire()

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

    def _check_exits(self) -> None:
        now = time.monotonic()
        lost = []
        for copy in self.copies.values():
            if copy.process is not None and copy.exit_status is None:
                status = copy.process.popen.poll()
                if status is not None:
                    copy.exit_status, copy.exited_at = status, now
            if copy.exited_at is None or now - copy.exited_at < LAST_WORDS:
                continue
            if self.lifecycle.in_state(copy.job.id, JobState.FINISHED, JobState.FAILED):
                continue
            if (copy.exit_status == -signal.SIGKILL and copy.process is None
                    and not self._stopping):
                lost.append(copy)
                continue
            self.lifecycle.failed(copy.job.id)
            status = copy.exit_status
            how = describe_exit(status, copy.job)
            self._event("job_failed", job=copy.job.id, node=copy.node, status=status)
            self.failure = self.failure or (
                f"{copy.job.label} {how} on {copy.where} before finishing (see its output above "
                f"and its job.log)")
        for copy in lost:
            self._replace_killed(copy)

    def _replace_killed(self, copy: Copy) -> None:
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

    def _send(self, messages: list[Message], to: bytes | None = None) -> None:
        for job_id, message in messages:
            target = to or self.copies[job_id].identity
            self.control.send_multipart([target, zmq.utils.jsonapi.dumps(message)])

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

    def _report(self) -> int:
        name = self.settings.name
        for job_id, stats in sorted(self.statistics.items()):
            losses = describe_losses(stats)
            if losses:
                print(f"FISSION: {self.network.job(job_id).label} {losses}", file=sys.stderr)
        if self.failure is not None:
            what = (f"The network {name} was stopped on every node; files written so far are "
                    f"in {self.local_dir}." if self.copies else "No job was started.")
            print(f"error: {self.failure}. {what}", file=sys.stderr)
            return 1
        why = (interruption(self.stop_signal) if self.interrupted
               else "--duration has passed" if self.timed_out else "finished")
        print(f"FISSION: {name} {why}; local results are in {self.local_dir}", file=sys.stderr)
        return 0


def _snapshots(job: BaseJob) -> bool:
    """Whether a job sends snapshots: it has state, or it may be restarted."""
    return stateful(job) or restartable(job)


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

