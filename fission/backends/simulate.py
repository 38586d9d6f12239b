"""``simulate``: the whole network on this machine, one process per job.

It runs the very runtime ``run`` uses; only the addresses differ: every pipe and
the control channel are unix sockets (``ipc://``) in a private temporary folder
(mode 0700), so no other user can write to them; and, unless ``SECURE = False``,
they are CURVE sockets with the project's keys, as under ``run``.

The folder ``NET/simulation/`` is cleared and gets ``info.txt`` plus one working
directory per job id, where the job's ``job.log`` (DEBUG) and its files land.

The client (:class:`Simulation`) waits for one of: every job has finished (exit 0), a job has failed
(every job is stopped, exit 1), ``--duration`` has passed, or Ctrl+C, SIGTERM or
SIGHUP (every job is stopped, exit 0; see fission.backends.stopping). When a job
finishes, its producers are told to stop sending to it, so a producer with no
consumer left finishes too and the network winds down by itself.

Pipes are wired as under ``run``, by the failover protocol
(fission/backends/failover.py): once both ends of a pipe are ready, its producer is
told where its consumer bound it (``connect``).

Restarts. A job with ``RESTART = "on-failure"`` whose ``run`` raised is started
again in its working directory (fission/backends/restarts.py says when), as the
next incarnation, with inputs bound on fresh socket paths, through the very
protocol of a failover under ``run``: its consumers are fenced and say how far they
have got; the new copy restores the latest snapshot of its state no later than that
and its producers, which keep their blocks for this (``JobSpec.covered``), send
their blocks again from there. ``NET/simulation/events.jsonl`` records it.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import zmq

from fission import dashboard
from fission.backends.acks import restart_floors
from fission.backends.console import ConsoleServer, claim_network
from fission.backends.failover import Start
from fission.backends.files import place_dependencies
from fission.backends.monitor import Monitor
from fission.backends.processes import JobProcess, pickle_spec, start_job, stop_jobs
from fission.backends.recording import recordings
from fission.backends.stopping import stop_signals_interrupt
from fission.backends.supervision import Supervision
from fission.config import Settings, configure_logging, load_settings
from fission.core.durability import restartable
from fission.core.jobs import BaseJob
from fission.events import EventLog
from fission.runtime.spec import JobSpec
from fission.security.credentials import for_run
from fission.security.curve import CurveKeys

log = logging.getLogger("fission.simulate")

#: What the event log names this machine as, for a job's ``node``.
NODE = "local"


def simulate(project: Path, network: str, *, duration: float | None = None,
             record: tuple[int, ...] = ()) -> int:
    """Run ``network`` of ``project`` locally; return the exit status for the CLI.

    ``record``: the ids of the pipes whose blocks are written to ``NET/recordings/``."""
    with stop_signals_interrupt():  # until the simulation has its own handler, and after
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
                simulation = Simulation(settings, workdir, Path(sockets), keys, monitor)
                simulation.recorded = recorded
                simulation.specs()  # a job that cannot travel is refused before the dashboard
                with dashboard.serve(settings, monitor, Path(sockets)):
                    return simulation.run(duration)


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


class Simulation(Supervision):
    """The client of ``simulate``: every job a process of this machine, on ``ipc://``."""

    log = log
    SUPERSEDED = "restarted"
    snapshotting = staticmethod(restartable)  # only a restart replaces a copy here

    def __init__(self, settings: Settings, workdir: Path, sockets: Path,
                 keys: CurveKeys | None, monitor: Monitor | None = None) -> None:
        super().__init__(settings, sockets, keys,
                         monitor or Monitor(settings.name, settings.network, "simulate"))
        self.workdir = workdir
        self.control = self.context.socket(zmq.ROUTER)
        self.control.setsockopt(zmq.LINGER, 0)
        self.gate.serve(self.control, "the control channel")
        self.processes: dict[int, JobProcess] = {}
        self.incarnations = dict.fromkeys((job.id for job in self.network.jobs), 0)
        self._first_specs: dict[int, bytes] = {}

    def specs(self) -> dict[int, bytes]:
        """The pickled specs of the first copies (a job that cannot travel fails here)."""
        return {job.id: self.spec(Start(job.id, 0)) for job in self.network.jobs}

    def spec(self, start: Start) -> bytes:
        """The pickled spec of a copy the failover protocol starts.

        Its inputs are bound on paths of its own (nothing queued for an earlier copy
        lands in a later one); where its outputs go, the protocol tells it. Only what
        a restart can need is kept: a job that may restart sends snapshots, and its
        producers keep their last blocks to send them again.
        """
        job, incarnation = self.network.job(start.job), start.incarnation
        pipes = self.network.pipes
        covered = frozenset(pipe.id for pipe in job.outputs
                            if restartable(self.network.job(pipes[pipe.id].destination)))
        suffix = f"-{incarnation}" if incarnation else ""
        spec = JobSpec(
            job=job,
            control=self.address("control"),
            inputs={pipe.id: self.address(f"pipe-{pipe.id}{suffix}") for pipe in job.inputs},
            outputs={},
            console=self._console(job.id) if job.CONSOLE else None,
            log_level="DEBUG",
            incarnation=incarnation,
            covered=covered,
            retain_floor=restart_floors(self.network, job),
            snapshots=self.snapshotting(job),
            gated=start.gated,
            restoring=start.restoring,
            figures=self.settings.dashboard is not None,
            record={pipe.id: str(self.recorded[pipe.id]) for pipe in job.outputs
                    if pipe.id in self.recorded},
            record_append=incarnation > 0,
        )
        return pickle_spec(spec)

    # -- the run, start to end -------------------------------------------------------

    def _prepare(self) -> None:
        self._first_specs = self.specs()  # every job must pickle before any starts
        self.control.bind(self.address("control"))

    def _main(self, console: ConsoleServer, interactive: list[BaseJob],
              duration: float | None) -> None:
        python_path = [self.settings.project]
        for start in self.failover.start().starts:
            job = self.network.job(start.job)
            self.processes[job.id] = start_job(job, self._first_specs[job.id],
                                               self.workdir / str(job.id), python_path, self.keys)
        for job in self.network.jobs:
            self.monitor.note("placed", job=job.id, incarnation=0)
        self._start_relay(list(self.processes.values()),
                          any(restartable(job) for job in self.network.jobs))
        self.log.info("started %d job processes for %s", len(self.processes), self.settings.name)
        self._attend(console, interactive, duration)

    def _stop_everything(self) -> None:
        for process in self.processes.values():
            if process.alive:
                self._send([(process.job.id, {"op": "stop"})])
        stop_jobs(self.processes.values())
        self._drain_control()  # the counters of the jobs just stopped

    def _close(self) -> None:
        if self.events is not None:
            self.events.close()
        self.control.close()
        self.gate.close()
        self.context.term()

    def _all_exited(self) -> bool:
        return not any(p.alive for p in self.processes.values())

    # -- control and events ----------------------------------------------------------

    def _copy(self, job_id: int) -> JobProcess | None:
        return self.processes.get(job_id)

    def _incarnation(self, job_id: int) -> int:
        return self.incarnations[job_id]

    def _announce(self, event: str, copy: JobProcess, **fields: object) -> None:
        self.monitor.note(event, job=copy.job.id, **fields)

    def _record(self, event: str, copy: JobProcess, **fields: object) -> None:
        """Write to ``NET/simulation/events.jsonl``, made by the first event: a run
        without failures or restarts leaves none."""
        if self.events is None:
            self.events = EventLog(self.workdir / "events.jsonl")
        self.events.write(event, job=copy.job.id, node=NODE, **fields)

    def _where(self, copy: JobProcess) -> None:
        return None

    def _on_failed(self, process: JobProcess, message: dict) -> None:
        self._announce("job_failed", process, error=message.get("error"))
        super()._on_failed(process, message)

    # -- restarts --------------------------------------------------------------------

    def _restart_scheduled(self, process: JobProcess, delay: float) -> None:
        """Nothing yet: the restart fences the consumers, as a failover under ``run`` does."""

    def _may_restart(self, job_id: int, now: float) -> bool:
        return self.processes[job_id].popen.poll() is not None  # its last words are out

    def _restart(self, job_id: int) -> None:
        """Start the next copy in the job's working directory; the protocol fences its
        consumers, then restores it and has its producers send their blocks again."""
        self.lifecycle.restart(job_id)
        actions = self.failover.lost([job_id], time.monotonic())
        self._apply(actions)
        for start in actions.starts:
            job = self.network.job(start.job)
            self.incarnations[job.id] = start.incarnation
            process = start_job(job, self.spec(start), self.workdir / str(job.id),
                                [self.settings.project], self.keys)
            self.processes[job.id] = process
            self.relay.add(process)

    # -- job processes that exit without a word, and the end ---------------------------

    def _exits(self, now: float) -> list[tuple[JobProcess, int, float]]:
        exited = []
        for process in self.processes.values():
            code = process.popen.poll()
            if code is None:
                continue
            if process.exited_at is None:  # its last control message may still be on its way
                process.exited_at = now
            exited.append((process, code, process.exited_at))
        return exited

    def _see(self, process: JobProcess) -> str:
        job_log = self.workdir / str(process.job.id) / "job.log"
        return f"its output above and {job_log}" if job_log.exists() else "its output above"

    def _losses_see(self, job_id: int) -> str:
        return f" (see {self.workdir / str(job_id) / 'job.log'})"

    def _after_failure(self) -> str:
        return (f"The network {self.settings.name} was stopped; files written so far are in "
                f"{self.workdir}.")

    @property
    def results(self) -> Path:
        return self.workdir

    def _outcome(self, why: str | None) -> str:
        name = self.settings.name
        if why is None:
            return f"FISSION: {name} finished; results are in {self.workdir}"
        return f"FISSION: stopped {name} ({why}); results are in {self.workdir}"
