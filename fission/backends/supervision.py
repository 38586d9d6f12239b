"""The client's supervision of one running network, whichever backend started its jobs.

``simulate`` (:class:`fission.backends.simulate.Simulation`, every job a process of
this machine) and ``run`` (:class:`fission.backends.run.DistributedRun`, jobs on the
nodes of a Dask cluster) watch their jobs the same way, so they share this base:
the control channel and its op table, what each report does (``ready``,
``figures``, ``finished``, ``stopped``, ``failed``, ``snapshot``, ``fenced``,
``rewound``), the failover protocol (fission/backends/failover.py) that wires the
jobs' pipes and replaces copies, for a failover as for a restart, the check for job
processes that exited without saying why, the restart policy's schedule, the poll
loop with its exit conditions, the stop signals and the prompt, and the summary at
the end. A subclass says only what differs: where and how a job (or its next
incarnation) is started, where it runs, what else the poll loop serves, how the
jobs are stopped and what the summary names.

The handlers take a job's *copy*: whatever the subclass keeps for the job's current
process (a :class:`~fission.backends.processes.JobProcess` under ``simulate``, a
``Copy`` under ``run``); all the base needs of it is its ``job``.
"""

from __future__ import annotations

import abc
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

from fission.backends.console import ConsoleServer, prompt_if_terminal, write_console
from fission.backends.failover import Actions, Failover, sends_snapshots
from fission.backends.lifecycle import JobState, Lifecycle, Message, describe_losses
from fission.backends.monitor import Monitor
from fission.backends.processes import LAST_WORDS, JobProcess, OutputRelay, describe_exit
from fission.backends.restarts import Restarts
from fission.backends.stopping import handle_stop_signals, interruption
from fission.backends.terminal import one_line
from fission.config import Settings
from fission.core.jobs import BaseJob
from fission.events import EventLog
from fission.runtime.control import attached, identity, parse_report
from fission.security.curve import CurveKeys, Gatekeeper


class Supervision(abc.ABC):
    """One running network seen from the client: its jobs' reports in, control out."""

    #: The backend's logger (``fission.simulate``, ``fission.run``).
    log: logging.Logger
    #: The ROUTER every job's control channel connects to (the subclass makes it).
    control: zmq.Socket
    #: What became of the copy a late report comes from, for the log.
    SUPERSEDED = "replaced"
    #: Which jobs send snapshots of their state (those a replacement restores).
    snapshotting: Callable[[BaseJob], bool] = staticmethod(sends_snapshots)

    def __init__(self, settings: Settings, sockets: Path, keys: CurveKeys | None,
                 monitor: Monitor) -> None:
        self.settings = settings
        self.network = settings.network
        self.monitor = monitor
        #: The private folder (mode 0700) of this run's ``ipc://`` endpoints.
        self.sockets = sockets
        self.keys = keys
        self.context = zmq.Context()
        self.gate = Gatekeeper(self.context, keys, self.log)
        self.lifecycle = Lifecycle(self.network)
        #: Pipe id -> its recording (``--record``).
        self.recorded: dict[int, Path] = {}
        self.statistics: dict[int, dict] = {}
        self.failure: str | None = None
        self.interrupted = False
        #: The signal that stopped the network, if one did (Ctrl+C at the prompt is none).
        self.stop_signal: int | None = None
        self.timed_out = False
        self.events: EventLog | None = None
        self.relay: OutputRelay | None = None
        jobs = self.network.jobs
        self.restarts = {job.id: Restarts(job) for job in jobs}
        #: The wiring and failover protocol: what to send when copies are ready or lost.
        self.failover = Failover(self.network, snapshotting=self.snapshotting)
        self.snapshots = self.failover.snapshots  # one store: the protocol chooses from it
        #: job id -> (when its restart may start, the incarnation that failed).
        self.due: dict[int, tuple[float, int]] = {}
        #: op of a job's report -> its handler; a subclass adds the ops only it hears.
        self._ops: dict[str, Callable[[Any, dict], None]] = {
            "ready": self._on_ready, "figures": self._on_figures,
            "finished": self._on_finished, "stopped": self._on_stopped,
            "failed": self._on_failed, "snapshot": self._on_snapshot,
            "fenced": self._on_fenced, "rewound": self._on_rewound}

    def address(self, name: str) -> str:
        """An ``ipc://`` endpoint of this run's private folder."""
        return f"ipc://{self.sockets / name}"

    def _console(self, job_id: int) -> str:
        return self.address(f"console-{job_id}")

    # -- the run, start to end -------------------------------------------------------

    def run(self, duration: float | None) -> int:
        """Start the network, supervise it until it ends, stop it; the exit status."""
        self._prepare()
        interactive = [job for job in self.network.jobs if job.CONSOLE]
        console = ConsoleServer(self.gate, self.address("send"),
                                {job.id: self._console(job.id) for job in interactive})
        restore_signals = handle_stop_signals(self._interrupt)
        try:
            self._main(console, interactive, duration)
        finally:
            self._stop_everything()
            if self.relay is not None:
                self.relay.expect_more(False)
                self.relay.join(timeout=2)
            console.close()
            self._close()
            restore_signals()  # only now: a second signal must not cut the stopping short
        self._write_statistics()
        return self._report()

    @abc.abstractmethod
    def _prepare(self) -> None:
        """What must hold, or be made, before the stop signals are handled."""

    @abc.abstractmethod
    def _main(self, console: ConsoleServer, interactive: list[BaseJob],
              duration: float | None) -> None:
        """Start every job, then :meth:`_attend` to them."""

    @abc.abstractmethod
    def _stop_everything(self) -> None:
        """Stop every job still running, and take their last reports."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Release what :meth:`_prepare` and the subclass opened, sockets last."""

    def _start_relay(self, processes: list[JobProcess], more: bool, **where: str) -> None:
        """Relay the output of this machine's job processes (``more``: others may follow)."""
        self.relay = OutputRelay(processes, write_console, tap=self.monitor.line, **where)
        self.relay.expect_more(more)
        self.relay.start()

    def _attend(self, console: ConsoleServer, interactive: list[BaseJob],
                duration: float | None) -> None:
        with prompt_if_terminal(self.settings, interactive, self._stop_from_prompt):
            self._supervise(console, duration)

    def _interrupt(self, signum: int, frame: object) -> None:
        self.interrupted = True
        self.stop_signal = self.stop_signal or signum

    def _stop_from_prompt(self) -> None:
        self.interrupted = True

    @property
    def _stopping(self) -> bool:
        return self.interrupted or self.timed_out or self.failure is not None

    # -- the poll loop ---------------------------------------------------------------

    def _supervise(self, console: ConsoleServer, duration: float | None) -> None:
        """Serve the sockets until the network has finished, failed, been stopped or
        run for ``duration`` seconds."""
        deadline = None if duration is None else time.monotonic() + duration
        served = {self.control: self._drain_control, **self._served(),
                  console.socket: console.handle}
        poller = zmq.Poller()
        for socket in served:
            poller.register(socket, zmq.POLLIN)
        while not self._stopping:
            events = dict(poller.poll(100))
            for socket, serve in served.items():
                if socket in events:
                    serve()
            self._check_exits()
            self._restart_due()
            self._tick()
            if self.lifecycle.all_finished and self._all_exited():
                return
            if deadline is not None and time.monotonic() >= deadline:
                self.log.info("--duration of %s s has passed; stopping", duration)
                self.timed_out = True

    def _served(self) -> dict[zmq.Socket, Callable[[], None]]:
        """Sockets of the subclass the poll loop serves too, with what reads each."""
        return {}

    def _tick(self) -> None:
        """On every turn of the poll loop: send every connect, rewind, begin and restore
        that has become possible (a late answer given up on included)."""
        self._apply(self.failover.tick(time.monotonic()))

    @abc.abstractmethod
    def _all_exited(self) -> bool:
        """Whether no job process is running any more."""

    # -- control ---------------------------------------------------------------------

    @abc.abstractmethod
    def _copy(self, job_id: int) -> Any:
        """The current copy of job ``job_id``; None for no such job."""

    @abc.abstractmethod
    def _incarnation(self, job_id: int) -> int:
        """The incarnation of job ``job_id``'s current copy."""

    def _drain_control(self) -> None:
        while self.control.poll(0):
            frames = self.control.recv_multipart()
            self._on_control(frames[-1], attached(frames))

    def _on_control(self, payload: bytes, data: bytes | None = None) -> None:
        """One report: its JSON and the bytes it carries (a snapshot's pickled state)."""
        message = parse_report(payload)
        if message is not None and data is not None:
            message["data"] = data
        handler = self._ops.get(message["op"]) if message else None
        copy = self._copy(message["job"]) if message else None
        if handler is None or copy is None:
            self.log.warning("ignoring a malformed control message: %r", payload[:200])
            return
        if message["incarnation"] != self._incarnation(message["job"]):
            self.log.info("ignoring %r of %s incarnation %d (%s)", message["op"],
                          copy.job.label, message["incarnation"], self.SUPERSEDED)
            return
        handler(copy, message)

    def _send(self, messages: list[Message], to: bytes | None = None) -> None:
        """Send each message to its job's current copy (or to the copy named ``to``)."""
        for job_id, message in messages:
            target = to or identity(job_id, self._incarnation(job_id))
            self.control.send_multipart([target, zmq.utils.jsonapi.dumps(message)])

    # -- events ----------------------------------------------------------------------

    @abc.abstractmethod
    def _announce(self, event: str, copy: Any, **fields: Any) -> None:
        """An event the views show (job started, finished, failed)."""

    @abc.abstractmethod
    def _record(self, event: str, copy: Any, **fields: Any) -> None:
        """An event of the run's ``events.jsonl`` (a failure, a restart)."""

    @abc.abstractmethod
    def _where(self, copy: Any) -> str | None:
        """Where ``copy`` runs, for messages; None when all jobs run here."""

    # -- the jobs' reports -----------------------------------------------------------

    def _on_ready(self, copy: Any, message: dict) -> None:
        """A copy has bound its inputs: the protocol connects its producers to them."""
        job_id = copy.job.id
        incarnation = self._incarnation(job_id)
        self._announce("job_started", copy, incarnation=incarnation)
        self._send(self.lifecycle.ready(job_id))
        inputs = {int(pipe): address for pipe, address in message.get("inputs", {}).items()}
        self._apply(self.failover.ready(job_id, incarnation, inputs, time.monotonic()))

    def _on_figures(self, copy: Any, message: dict) -> None:
        self.monitor.figures(copy.job.id, message.get("stats") or {})

    def _on_finished(self, copy: Any, message: dict) -> None:
        job_id = copy.job.id
        self.log.info("%s finished: %s", copy.job.label, message.get("stats"))
        self.statistics[job_id] = message.get("stats") or {}
        self.monitor.finished(job_id, self.statistics[job_id])
        self._announce("job_finished", copy)
        self._send(self.lifecycle.finished(job_id))

    def _on_stopped(self, copy: Any, message: dict) -> None:
        job_id = copy.job.id
        self.log.info("%s stopped: %s", copy.job.label, message.get("stats"))
        self.statistics[job_id] = message.get("stats") or {}
        self.monitor.finished(job_id, self.statistics[job_id], stopped=True)

    def _on_failed(self, copy: Any, message: dict) -> None:
        """A job's ``run`` raised: restarted after the backoff if its policy allows,
        else the network stops with the error."""
        job = copy.job
        self._send(self.lifecycle.failed(job.id))
        error = one_line(str(message.get("error")))  # the user's message: no escapes reach us
        restarts = self.restarts[job.id]
        delay = None if self._stopping else restarts.after_failure(time.monotonic())
        where = self._where(copy)
        on = "" if where is None else f" on {where}"
        if delay is None:
            self._record("job_failed", copy, error=message.get("error"))
            self.failure = self.failure or f"{job.label} failed{on}: {error}"
            return
        self._record("job_restarted", copy, attempt=restarts.attempts, error=error)
        print(f"FISSION: {job.label} failed{on} ({error}); it is restarted"
              f"{'' if where is None else ' there'} in {delay:g} s (restart "
              f"{restarts.attempts}; at most {job.MAX_RESTARTS} within "
              f"{job.RESTART_WINDOW:g} s)", file=sys.stderr)
        self.due[job.id] = (time.monotonic() + delay, self._incarnation(job.id))
        self._restart_scheduled(copy, delay)

    def _on_snapshot(self, copy: Any, message: dict) -> None:
        """The failover protocol keeps the snapshots: it chooses what a replacement
        restores."""
        if message.get("data") is not None:
            self._send(self.failover.snapshot(copy.job.id, int(message["seq"]), message["data"]))

    def _on_fenced(self, copy: Any, message: dict) -> None:
        self._apply(self.failover.fenced(int(message["pipe"]), int(message.get("position", 0)),
                                         time.monotonic()))

    def _on_rewound(self, copy: Any, message: dict) -> None:
        self._apply(self.failover.rewound(int(message["pipe"]), time.monotonic()))

    def _apply(self, actions: Actions) -> None:
        """Send what the failover protocol says, and note the replacements it has
        completed (starting copies is the caller's: where they start is the backend's)."""
        self._send(actions.messages)
        for job_id, seconds in actions.recovered:
            self._recovered(job_id, seconds)

    def _recovered(self, job_id: int, seconds: float) -> None:
        """A replacement of ``job_id`` runs and every consumer that runs gets its blocks."""
        self.log.info("%s runs again, %.3f s after it was replaced",
                      self.network.job(job_id).label, seconds)

    # -- restarts --------------------------------------------------------------------

    @abc.abstractmethod
    def _restart_scheduled(self, copy: Any, delay: float) -> None:
        """``copy`` failed and is restarted in ``delay`` seconds: prepare for that."""

    def _restart_due(self) -> None:
        """Start again each failed job whose backoff has passed (once the subclass
        allows it); one replaced meanwhile (a failover) or a network stopping is not."""
        now = time.monotonic()
        for job_id, (when, incarnation) in list(self.due.items()):
            if self._incarnation(job_id) != incarnation or self._stopping:
                del self.due[job_id]
            elif now >= when and self._may_restart(job_id, now):
                del self.due[job_id]
                self._restart(job_id)

    @abc.abstractmethod
    def _may_restart(self, job_id: int, now: float) -> bool:
        """Whether the failed copy of ``job_id`` is out of the way for its restart."""

    @abc.abstractmethod
    def _restart(self, job_id: int) -> None:
        """Start the next incarnation of failed job ``job_id`` where it ran."""

    # -- job processes that exit without a word --------------------------------------

    @abc.abstractmethod
    def _exits(self, now: float) -> list[tuple[Any, int, float]]:
        """Each current copy whose process has exited: (copy, exit status, when
        it was seen to have exited)."""

    def _check_exits(self) -> None:
        """A job process that exited without reporting ``finished`` or ``failed`` (its
        last words had :data:`LAST_WORDS` seconds to arrive) has failed, unless it is
        :meth:`_lost`."""
        now = time.monotonic()
        lost = []
        for copy, status, exited_at in self._exits(now):
            job = copy.job
            if now - exited_at < LAST_WORDS:
                continue
            if self.lifecycle.in_state(job.id, JobState.FINISHED, JobState.FAILED):
                continue
            if self._lost(copy, status):
                lost.append(copy)
                continue
            self.lifecycle.failed(job.id)
            self._announce("job_failed", copy, status=status)
            where = self._where(copy)
            on = "" if where is None else f" on {where}"
            self.failure = self.failure or (f"{job.label} {describe_exit(status, job)}{on} "
                                            f"before finishing (see {self._see(copy)})")
        for copy in lost:
            self._replace_lost(copy)

    @abc.abstractmethod
    def _see(self, copy: Any) -> str:
        """Where to read more about a job process that ended without a word."""

    def _lost(self, copy: Any, status: int) -> bool:
        """Whether a job process that exited so is a fault to mend, not a failure."""
        return False

    def _replace_lost(self, copy: Any) -> None:
        """Replace a job process :meth:`_lost` says was lost."""
        raise NotImplementedError(f"{type(self).__name__} loses no job process")

    # -- the end -----------------------------------------------------------------------

    @property
    @abc.abstractmethod
    def results(self) -> Path:
        """The client's folder of this run's results (``NET/local``, ``NET/simulation``)."""

    def _write_statistics(self) -> None:
        """``statistics.json`` in :attr:`results`: each job's final figures, as it reported
        them (``{"jobs": {"<id>": {"runs": ..., "inputs": {"<pipe>": {...}}, ...}}}``).

        The same file under both backends, so tools and tests read figures, not a log line.
        """
        self.results.mkdir(parents=True, exist_ok=True)
        jobs = {str(job_id): stats for job_id, stats in sorted(self.statistics.items())}
        (self.results / "statistics.json").write_text(json.dumps({"jobs": jobs}, indent=1))

    def _report(self) -> int:
        """The summary on stderr: what was lost, and how the network ended; exit status."""
        for job_id, stats in sorted(self.statistics.items()):
            losses = describe_losses(stats)
            if losses:
                print(f"FISSION: {self.network.job(job_id).label} {losses}"
                      f"{self._losses_see(job_id)}", file=sys.stderr)
        if self.failure is not None:
            print(f"error: {self.failure}. {self._after_failure()}", file=sys.stderr)
            return 1
        why = (interruption(self.stop_signal) if self.interrupted
               else "--duration has passed" if self.timed_out else None)
        print(self._outcome(why), file=sys.stderr)
        return 0

    def _losses_see(self, job_id: int) -> str:
        """Where a job's losses are told in detail, as the end of their line."""
        return ""

    @abc.abstractmethod
    def _after_failure(self) -> str:
        """What the summary of a failed network says after the error."""

    @abc.abstractmethod
    def _outcome(self, why: str | None) -> str:
        """The summary's last line: the network stopped for ``why``, or finished (None)."""
