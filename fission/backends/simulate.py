"""``simulate``: the whole network on this machine, one process per job.

It runs the very runtime ``run`` uses; only the addresses differ: every pipe and
the control channel are unix sockets (``ipc://``) in a private temporary folder
(mode 0700), so no other user can write to them; and, unless ``SECURE = False``,
they are CURVE sockets with the project's keys, as under ``run``.

The folder ``NET/simulation/`` is cleared and gets ``info.txt`` plus one working
directory per job id, where the job's ``job.log`` (DEBUG) and its files land.

The supervisor waits for one of: every job has finished (exit 0), a job has failed
(every job is stopped, exit 1), ``--duration`` has passed, or Ctrl+C, SIGTERM or
SIGHUP (every job is stopped, exit 0; see fission.backends.stopping). When a job
finishes, its producers are told to stop sending to it, so a producer with no
consumer left finishes too and the network winds down by itself.

Restarts. A job with ``RESTART = "on-failure"`` whose ``run`` raised is started
again in its working directory (fission/backends/restarts.py says when), as the
next incarnation, with inputs bound on fresh socket paths. As under ``run``, its
consumers are fenced first and say how far they have got; the new copy restores the
latest snapshot of its state no later than that (fission/backends/snapshots.py) and
its producers, which keep their blocks for this (``JobSpec.covered``), send
their blocks again from there. ``NET/simulation/events.jsonl`` records it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import zmq

from fission import dashboard
from fission.backends.console import ConsoleServer, Prompt, claim_network
from fission.backends.files import place_dependencies
from fission.backends.lifecycle import JobState, Lifecycle, Message, describe_losses
from fission.backends.monitor import Monitor
from fission.backends.processes import (
    LAST_WORDS,
    JobProcess,
    OutputRelay,
    describe_exit,
    pickle_spec,
    start_job,
    stop_jobs,
)
from fission.backends.recording import recordings
from fission.backends.restarts import Restarts
from fission.backends.snapshots import Snapshots, keep_snapshot
from fission.backends.stopping import handle_stop_signals, interruption, stop_signals_interrupt
from fission.backends.terminal import one_line
from fission.config import Settings, configure_logging, load_settings
from fission.core.durability import restartable
from fission.core.jobs import BaseJob
from fission.events import EventLog
from fission.runtime.control import attached, identity, parse_report, to_text
from fission.runtime.spec import JobSpec
from fission.security.credentials import for_run
from fission.security.curve import CurveKeys, Gatekeeper

log = logging.getLogger("fission.simulate")

#: Seconds a restart waits for a consumer's fence reply before going on without it.
FENCE_PATIENCE = 2.0
#: What the event log names this machine as, for a job's ``node``.
NODE = "local"


def simulate(project: Path, network: str, *, duration: float | None = None,
             record: tuple[int, ...] = ()) -> int:
    """Run ``network`` of ``project`` locally; return the exit status for the CLI.

    ``record``: the ids of the pipes whose blocks are written to ``NET/recordings/``."""
    with stop_signals_interrupt():  # until the supervisor has its own handler, and after
        settings = load_settings(Path(project), network)
        for notice in settings.notices:
            print(notice, file=sys.stderr)
        recorded = recordings(settings, record)
        configure_logging(settings)
        credentials = for_run(settings.project, settings.name, settings.secure, announce=False)
        keys = None if credentials is None else credentials.curve
        with tempfile.TemporaryDirectory(prefix="fission-") as sockets:
            send_address = f"ipc://{Path(sockets) / 'send'}"
            with claim_network(settings.directory, send_address, secure=keys is not None):
                workdir = _prepare_simulation_folder(settings)
                monitor = Monitor(settings.name, settings.network, "simulate")
                supervisor = _Supervisor(settings, workdir, Path(sockets), keys, monitor)
                supervisor.recorded = recorded
                supervisor.specs()  # a job that cannot travel is refused before the dashboard
                with dashboard.serve(settings, monitor, Path(sockets)):
                    return supervisor.run(duration)


def _prepare_simulation_folder(settings: Settings) -> Path:
    folder = settings.directory / "simulation"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for job in settings.network.jobs:
        (folder / str(job.id)).mkdir()
        place_dependencies(settings.project, job.DEPENDENCIES, folder / str(job.id))
    (folder / "info.txt").write_text(
        "job id\tclass\tpipes (each job's working directory is the folder named after its id)\n"
        + settings.network.describe()
    )
    return folder


class _Supervisor:
    def __init__(self, settings: Settings, workdir: Path, sockets: Path,
                 keys: CurveKeys | None, monitor: Monitor | None = None) -> None:
        self.settings = settings
        self.monitor = monitor or Monitor(settings.name, settings.network, "simulate")
        self.network = settings.network
        self.workdir = workdir
        self.sockets = sockets
        self.keys = keys
        self.context = zmq.Context()
        self.gate = Gatekeeper(self.context, keys, log)
        self.control = self.context.socket(zmq.ROUTER)
        self.control.setsockopt(zmq.LINGER, 0)
        self.gate.serve(self.control, "the control channel")
        self.lifecycle = Lifecycle(self.network)
        self.processes: dict[int, JobProcess] = {}
        self.failure: str | None = None
        self.interrupted = False
        #: The signal that stopped the network, if one did (Ctrl+C at the prompt is none).
        self.stop_signal: int | None = None
        self.timed_out = False
        self._ops = {"ready": self._on_ready, "finished": self._on_finished,
                     "stopped": self._on_stopped, "failed": self._on_failed,
                     "snapshot": self._on_snapshot, "fenced": self._on_fenced,
                     "figures": self._on_figures}
        self.statistics: dict[int, dict] = {}
        #: Pipe id -> its recording (``--record``).
        self.recorded: dict[int, Path] = {}
        self.events: EventLog | None = None
        self.relay: OutputRelay | None = None
        jobs = self.network.jobs
        self.incarnations = dict.fromkeys((job.id for job in jobs), 0)
        self.restarts = {job.id: Restarts(job) for job in jobs}
        self.snapshots = {job.id: Snapshots() for job in jobs}
        #: pipe id -> the address its consumer's current copy binds.
        self.bound = {pipe_id: self.address(f"pipe-{pipe_id}") for pipe_id in self.network.pipes}
        self.due: dict[int, float] = {}  # job id -> when its restart may start
        self.fencing: dict[int, float] = {}  # pipe id -> when its fence reply is late
        self.positions: dict[int, int] = {}  # pipe id -> how far its consumer had got
        self.restoring: set[int] = set()  # restarted jobs not yet told where to go on

    def address(self, name: str) -> str:
        return f"ipc://{self.sockets / name}"

    def specs(self) -> dict[int, bytes]:
        return {job.id: self.spec(job) for job in self.network.jobs}

    def spec(self, job: BaseJob) -> bytes:
        """The pickled spec of ``job``'s current incarnation.

        Only what a restart can need is kept: a job that may restart sends
        snapshots, and its producers keep their last blocks to send them again.
        """
        incarnation = self.incarnations[job.id]
        pipes = self.network.pipes
        covered = frozenset(pipe.id for pipe in job.outputs
                            if restartable(self.network.job(pipes[pipe.id].destination)))
        if incarnation:
            for pipe in job.inputs:  # a fresh path: nothing queued for the old copy lands
                self.bound[pipe.id] = self.address(f"pipe-{pipe.id}-{incarnation}")
        spec = JobSpec(
            job=job,
            control=self.address("control"),
            inputs={pipe.id: self.bound[pipe.id] for pipe in job.inputs},
            outputs={pipe.id: self.bound[pipe.id] for pipe in job.outputs},
            console=self.address(f"console-{job.id}") if job.CONSOLE else None,
            log_level="DEBUG",
            incarnation=incarnation,
            covered=covered,
            snapshots=restartable(job),
            restoring=incarnation > 0,
            figures=self.settings.dashboard is not None,
            record={pipe.id: str(self.recorded[pipe.id]) for pipe in job.outputs
                    if pipe.id in self.recorded},
            record_append=incarnation > 0,
        )
        return pickle_spec(spec)

    def run(self, duration: float | None) -> int:
        specs = self.specs()  # every job must pickle before any starts
        self.control.bind(self.address("control"))
        interactive = [job for job in self.network.jobs if job.CONSOLE]
        console = ConsoleServer(self.gate, self.address("send"),
                                {job.id: self.address(f"console-{job.id}") for job in interactive})
        restore_signals = handle_stop_signals(self._interrupt)
        relay = None
        try:
            python_path = [self.settings.project]
            for job in self.network.jobs:
                self.processes[job.id] = start_job(job, specs[job.id], self.workdir / str(job.id),
                                                   python_path, self.keys)
            for job in self.network.jobs:
                self.monitor.note("placed", job=job.id, incarnation=0)
            relay = self.relay = OutputRelay(self.processes.values(), write_console,
                                             tap=self.monitor.line)
            relay.expect_more(any(restartable(job) for job in self.network.jobs))
            relay.start()
            log.info("started %d job processes for %s", len(self.processes), self.settings.name)
            with prompt_if_terminal(self.settings, interactive, self._interrupt_from_prompt):
                self._supervise(console, duration)
        finally:
            for process in self.processes.values():
                if process.alive:
                    self._send([(process.job.id, {"op": "stop"})])
            stop_jobs(self.processes.values())
            while self.control.poll(0):  # the counters of the jobs just stopped
                self._on_control(*report_frames(self.control))
            if relay is not None:
                relay.expect_more(False)
                relay.join(timeout=2)
            if self.events is not None:
                self.events.close()
            console.close()
            self.control.close()
            self.gate.close()
            self.context.term()
            restore_signals()  # only now: a second signal must not cut the stopping short
        return self._report()

    def _interrupt(self, signum: int, frame: object) -> None:
        self.interrupted = True
        self.stop_signal = self.stop_signal or signum

    def _interrupt_from_prompt(self) -> None:
        self.interrupted = True

    def _supervise(self, console: ConsoleServer, duration: float | None) -> None:
        deadline = None if duration is None else time.monotonic() + duration
        poller = zmq.Poller()
        poller.register(self.control, zmq.POLLIN)
        poller.register(console.socket, zmq.POLLIN)
        while not self.interrupted and self.failure is None:
            events = dict(poller.poll(100))
            if self.control in events:
                while self.control.poll(0):
                    self._on_control(*report_frames(self.control))
            if console.socket in events:
                console.handle()
            self._check_processes()
            self._restart_due()
            if self.lifecycle.all_finished and not any(p.alive for p in self.processes.values()):
                return
            if deadline is not None and time.monotonic() >= deadline:
                log.info("--duration of %s s has passed; stopping", duration)
                self.timed_out = True
                return

    def _on_control(self, payload: bytes, data: bytes | None = None) -> None:
        message = parse_report(payload)
        if message is not None and data is not None:
            message["data"] = data  # a snapshot's pickled state
        handler = self._ops.get(message["op"]) if message else None
        process = self.processes.get(message["job"]) if message else None
        if handler is None or process is None:
            log.warning("ignoring a malformed control message: %r", payload[:200])
            return
        if message["incarnation"] != self.incarnations[message["job"]]:
            log.info("ignoring %r of %s incarnation %d (restarted)", message["op"],
                     process.job.label, message["incarnation"])
            return
        handler(process, message)

    def _on_ready(self, process: JobProcess, message: dict) -> None:
        self.monitor.note("job_started", job=process.job.id, incarnation=0)
        self._send(self.lifecycle.ready(process.job.id))
        if process.job.id in self.restoring:
            self._continue(process.job, message.get("inputs", {}))

    def _on_figures(self, process: JobProcess, message: dict) -> None:
        self.monitor.figures(process.job.id, message.get("stats") or {})

    def _on_finished(self, process: JobProcess, message: dict) -> None:
        log.info("%s finished: %s", process.job.label, message.get("stats"))
        self.statistics[process.job.id] = message.get("stats") or {}
        self.monitor.finished(process.job.id, self.statistics[process.job.id])
        self.monitor.note("job_finished", job=process.job.id)
        self._send(self.lifecycle.finished(process.job.id))

    def _on_stopped(self, process: JobProcess, message: dict) -> None:
        log.info("%s stopped: %s", process.job.label, message.get("stats"))
        self.statistics[process.job.id] = message.get("stats") or {}
        self.monitor.finished(process.job.id, self.statistics[process.job.id], stopped=True)

    def _on_failed(self, process: JobProcess, message: dict) -> None:
        job = process.job
        self.monitor.note("job_failed", job=job.id, error=message.get("error"))
        self._send(self.lifecycle.failed(job.id))
        error = one_line(str(message.get("error")))  # the user's message: no escapes reach us
        delay = None if self.failure else self.restarts[job.id].after_failure(time.monotonic())
        if delay is None:
            self._event("job_failed", job=job.id, node=NODE, error=error)
            self.failure = self.failure or f"{job.label} failed: {error}"
            return
        self._schedule_restart(job, error, delay)

    def _event(self, event: str, **fields: object) -> None:
        """Write to ``NET/simulation/events.jsonl``, made by the first event: a run
        without failures or restarts leaves none."""
        if self.events is None:
            self.events = EventLog(self.workdir / "events.jsonl")
        self.events.write(event, **fields)

    def _on_snapshot(self, process: JobProcess, message: dict) -> None:
        job = process.job
        self._send(keep_snapshot(self.snapshots[job.id], self.network, job, message))

    def _on_fenced(self, process: JobProcess, message: dict) -> None:
        pipe = int(message["pipe"])
        self.positions[pipe] = int(message.get("position", 0))
        self.fencing.pop(pipe, None)

    # -- restarts --------------------------------------------------------------------

    def _schedule_restart(self, job: BaseJob, error: str, delay: float) -> None:
        """Fence the job's consumers now, so none takes a late block of the failed copy,
        and start the new copy once ``delay`` has passed and they have answered."""
        restarts = self.restarts[job.id]
        self._event("job_restarted", job=job.id, node=NODE, attempt=restarts.attempts,
                    error=error)
        print(f"FISSION: {job.label} failed ({error}); it is restarted in {delay:g} s "
              f"(restart {restarts.attempts}; at most {job.MAX_RESTARTS} within "
              f"{job.RESTART_WINDOW:g} s)", file=sys.stderr)
        now = time.monotonic()
        self.due[job.id] = now + delay
        for pipe in job.outputs:
            consumer = self.network.pipes[pipe.id].destination
            self.positions.pop(pipe.id, None)
            if self.processes[consumer].alive and not self.lifecycle.in_state(
                    consumer, JobState.FINISHED, JobState.FAILED):
                self.fencing[pipe.id] = now + FENCE_PATIENCE + delay
                self._send([(consumer, {"op": "fence", "pipe": pipe.id,
                                        "incarnation": self.incarnations[job.id] + 1})])

    def _restart_due(self) -> None:
        now = time.monotonic()
        for job_id, due in list(self.due.items()):
            job = self.network.job(job_id)
            if now < due or self.processes[job_id].popen.poll() is None:
                continue  # the failed copy may still be writing its last words
            if any(self.fencing.get(pipe.id, now) > now for pipe in job.outputs):
                continue
            for pipe in job.outputs:
                if self.fencing.pop(pipe.id, None) is not None:
                    log.warning("pipe %s: no fence reply from its consumer; going on", pipe.id)
                    self.positions[pipe.id] = 0  # unknown: start from the oldest snapshot
            del self.due[job_id]
            self.incarnations[job_id] += 1
            process = start_job(job, self.spec(job), self.workdir / str(job_id),
                                [self.settings.project], self.keys)
            self.processes[job_id] = process
            self.relay.add(process)
            self.restoring.add(job_id)
            self._send(self.lifecycle.restart(job_id))

    def _continue(self, job: BaseJob, inputs: dict) -> None:
        """A restarted copy is ready: tell it the snapshot to go on from, and its
        producers to send it their blocks again from that run on."""
        self.restoring.discard(job.id)
        needed = min((self.positions[pipe.id] for pipe in job.outputs
                      if pipe.id in self.positions), default=math.inf)
        seq, state = self.snapshots[job.id].latest(needed)
        self.snapshots[job.id].restart_from(seq)
        self._send([(job.id, {"op": "restore", "seq": seq, "state": to_text(state)})])
        for pipe in job.inputs:
            self.bound[pipe.id] = str(inputs.get(str(pipe.id), self.bound[pipe.id]))
            producer = self.network.pipes[pipe.id].source
            self._send([(producer, {"op": "connect", "pipe": pipe.id,
                                    "address": self.bound[pipe.id],
                                    "since": seq * pipe.BLOCK_COUNT})])
        log.info("%s goes on from run %d", job.label, seq)

    def _send(self, messages: list[Message]) -> None:
        for job_id, message in messages:
            self.control.send_multipart([identity(job_id, self.incarnations[job_id]),
                                         zmq.utils.jsonapi.dumps(message)])

    def _check_processes(self) -> None:
        now = time.monotonic()
        for job_id, process in self.processes.items():
            code = process.popen.poll()
            if code is None or self.lifecycle.in_state(job_id, JobState.FINISHED, JobState.FAILED):
                continue
            if process.exited_at is None:  # its last control message may still be on its way
                process.exited_at = now
            if now - process.exited_at < LAST_WORDS:
                continue
            self.lifecycle.failed(job_id)
            self.monitor.note("job_failed", job=job_id, status=code)
            how = describe_exit(code, process.job)
            job_log = self.workdir / str(job_id) / "job.log"
            see = f"its output above and {job_log}" if job_log.exists() else "its output above"
            self.failure = self.failure or f"{process.job.label} {how} before finishing (see {see})"

    def _report(self) -> int:
        name = self.settings.name
        for job_id, stats in sorted(self.statistics.items()):
            losses = describe_losses(stats)
            if losses:
                log_file = self.workdir / str(job_id) / "job.log"
                print(f"FISSION: {self.network.job(job_id).label} {losses} (see {log_file})",
                      file=sys.stderr)
        if self.failure is not None:
            print(f"error: {self.failure}. The network {name} was stopped; files written so far "
                  f"are in {self.workdir}.", file=sys.stderr)
            return 1
        if self.interrupted or self.timed_out:
            why = interruption(self.stop_signal) if self.interrupted else "--duration has passed"
            print(f"FISSION: stopped {name} ({why}); results are in {self.workdir}",
                  file=sys.stderr)
        else:
            print(f"FISSION: {name} finished; results are in {self.workdir}", file=sys.stderr)
        return 0


def report_frames(control: zmq.Socket) -> tuple[bytes, bytes | None]:
    """A report from the ROUTER: its JSON, and the bytes it carries (a snapshot's)."""
    frames = control.recv_multipart()
    return frames[-1], attached(frames)


def write_console(text: str) -> None:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except (OSError, ValueError):
        pass  # the console is gone (a closed pipe): keep draining so jobs never block on print


@contextlib.contextmanager
def prompt_if_terminal(settings: Settings, interactive: list, stop: Callable[[], None]):
    """A prompt for InteractiveJobs when a person is at the terminal; else nothing."""
    if not interactive or not sys.stdin.isatty():
        yield
        return
    from prompt_toolkit.patch_stdout import patch_stdout

    with patch_stdout(raw=True):
        prompt = Prompt(settings.project, settings.name, interactive, stop)
        prompt.start()
        try:
            yield
        finally:
            prompt.close()
