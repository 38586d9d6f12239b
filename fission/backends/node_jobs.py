"""The node's side of a job: the worker plugin that starts job processes and watches them.

The client submits :func:`run_job` pinned to one worker by its full address. The
task leaves Dask's thread pool (``secede``) and hands the launch to the worker's
:class:`NodeJobs`, which fetches the network's code from the client if the node does
not have it yet and starts the job runtime as a child process in a session of its
own, at a lower CPU priority than the agent
(:data:`~fission.backends.processes.JOB_NICENESS`). That child is the job's keeper
(:mod:`fission.runtime.descendants`): it asks Linux to signal it when the thread that
started it ends (``PR_SET_PDEATHSIG``), and then kills the job and everything the
job started; the task's thread lives exactly as long as the keeper: so the job and
its own processes die with their agent in every case, SIGKILL included. Once the
keeper has exited, its process group is killed too, for the processes a SIGKILLed
keeper left behind.

What the job prints is forwarded, line by line, straight to the client over
ZeroMQ (``DEBUG_WINDOW``); it is also in the job's ``job.log`` on the node.

Why a plugin: the job processes, the node's keys and the fetch locks are the state
of one agent, not of the module. The agent makes one :class:`NodeJobs`, registers it
on each worker it starts (a worker lasts one run, the agent many), and asks it to
:meth:`~NodeJobs.stop_all` whenever a worker ends; tasks reach it through
``get_worker().plugins[NodeJobs.name]``, ``client.run`` functions through the
``dask_worker`` they are given.

The tasks the client sends carry no secret: whatever needs the project's keys (the
job process, file fetches, output lines, logs) gets the node's own, which the agent
gives its :class:`NodeJobs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
from distributed.diagnostics.plugin import WorkerPlugin

from fission.backends.files import Manifest, fetch, place_dependencies, push_files
from fission.backends.processes import job_stdin, lower_priority, stop_processes
from fission.errors import ClusterError
from fission.security.curve import CurveKeys, dial


@dataclass(frozen=True)
class JobLaunch:
    """Everything a node needs to start one copy of one job."""

    network: str
    job_id: int
    incarnation: int
    #: The pickled JobSpec; only the job process unpickles it (it needs the user's code).
    spec: bytes
    remote_root: str
    #: The client's file server, and what to fetch from it.
    files: str
    code: Manifest
    dependencies: Manifest
    #: The job's DEPENDENCIES entries, placed in its working directory by their names.
    job_dependencies: tuple[str, ...]
    #: The client's endpoint for the job's output lines, or None to keep them on the node.
    output: str | None


#: Seconds the last lines of a job that has exited get to reach the client.
OUTPUT_DRAIN = 2.0


def network_folder(remote_root: str, network: str) -> Path:
    return Path(remote_root).expanduser() / network


class NodeJobs(WorkerPlugin):
    """The job processes of one agent, with the node's keys (None: an ``--insecure`` node).

    It outlives the workers it is registered on; :meth:`close` (the agent's, once it
    stops) ends its ZeroMQ context.
    """

    name = "fission-node-jobs"

    def __init__(self, keys: CurveKeys | None) -> None:
        self.keys = keys
        self.context = zmq.Context()
        self._running: dict[tuple[str, int, int], subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._fetch_locks: dict[Path, threading.Lock] = {}
        #: Threads forwarding output; :meth:`close` waits for them before the context ends.
        self._forwarders: set[threading.Thread] = set()

    def run(self, launch: JobLaunch) -> int:
        """Start the job's process, forward its output, and return its exit status."""
        folder = network_folder(launch.remote_root, launch.network)
        code = folder / "code"
        with self._fetch_lock(code):
            fetch(self.context, launch.files, launch.code, code, self.keys)
            fetch(self.context, launch.files, launch.dependencies, code, self.keys)
        workdir = folder / str(launch.job_id)
        workdir.mkdir(parents=True, exist_ok=True)
        place_dependencies(code, launch.job_dependencies, workdir)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
        forward = launch.output is not None
        key = (launch.network, launch.job_id, launch.incarnation)
        with self._lock:
            popen = subprocess.Popen(
                [sys.executable, "-m", "fission.runtime.entry"], cwd=workdir, env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE if forward else subprocess.DEVNULL,
                stderr=subprocess.STDOUT if forward else subprocess.DEVNULL,
                start_new_session=True,
            )
            self._running[key] = popen
        lower_priority(popen.pid)  # the agent's heartbeats come before the jobs (processes.py)
        try:
            with contextlib.suppress(BrokenPipeError):
                popen.stdin.write(job_stdin(launch.spec, self.keys))
                popen.stdin.close()
            # The output is forwarded by a thread of its own: a process the job left behind
            # may hold the pipe open, and this thread must see the keeper's exit regardless.
            forwarder = threading.Thread(target=self._forward_output, args=(popen, launch),
                                         daemon=True, name=f"fission-output-{launch.job_id}"
                                         ) if forward else None
            if forwarder is not None:
                with self._lock:
                    self._forwarders.add(forwarder)
                forwarder.start()
            status = popen.wait()
            _signal_group(popen, signal.SIGKILL)  # what a SIGKILLed keeper could not end
            if forwarder is not None:
                forwarder.join(OUTPUT_DRAIN)
            return status
        finally:
            with self._lock:
                self._running.pop(key, None)

    def prefetch(self, files: str, manifests: list[Manifest], remote_root: str,
                 network: str) -> int:
        """Fetch a network's code and data files ahead of any job (``PRE_COPY = True``)."""
        code = network_folder(remote_root, network) / "code"
        with self._fetch_lock(code):
            return sum(fetch(self.context, files, manifest, code, self.keys)
                       for manifest in manifests)

    def push_logs(self, sink: str, node: str, remote_root: str, network: str) -> int:
        """Send this node's job logs of ``network`` to the client (``collect``)."""
        folder = network_folder(remote_root, network)
        if not folder.is_dir():
            return 0
        return push_files(self.context, sink, node, folder, self.keys)

    def stop_all(self, network: str | None = None, grace: float = 1.0) -> int:
        """Stop this node's job processes (of ``network``, or all), see ``stop_processes``."""
        with self._lock:
            targets = [p for (net, _, _), p in self._running.items()
                       if (network is None or net == network) and p.poll() is None]
        stop_processes(targets, patience=0.0, grace=grace,
                       kill=lambda popen: _signal_group(popen, signal.SIGKILL))
        return len(targets)

    def close(self) -> None:
        """End the ZeroMQ context when the agent stops (after :meth:`stop_all`).

        The output forwarders get :data:`OUTPUT_DRAIN` seconds to end first (a ZeroMQ
        socket must not be closed under a thread using it); lines a job wrote in its last
        moments may be dropped: an agent that stops does not wait for a client to read them.
        """
        until = time.monotonic() + OUTPUT_DRAIN
        with self._lock:
            forwarders = list(self._forwarders)
        for forwarder in forwarders:
            forwarder.join(max(0.0, until - time.monotonic()))
        self.context.destroy(linger=0)

    def _fetch_lock(self, folder: Path) -> threading.Lock:
        with self._lock:
            return self._fetch_locks.setdefault(folder, threading.Lock())

    def _forward_output(self, popen: subprocess.Popen, launch: JobLaunch) -> None:
        socket = self.context.socket(zmq.PUSH)
        socket.setsockopt(zmq.LINGER, 1000)
        socket.setsockopt(zmq.SNDHWM, 10000)
        dial(socket, self.keys)
        socket.connect(launch.output)
        header = [str(launch.job_id).encode(), str(launch.incarnation).encode()]
        try:
            for line in popen.stdout:
                with contextlib.suppress(zmq.Again):  # a client that cannot keep up loses lines
                    socket.send_multipart([*header, line.rstrip(b"\r\n")], zmq.NOBLOCK)
        finally:
            socket.close()
            with self._lock:
                self._forwarders.discard(threading.current_thread())


def node_jobs(worker: Any) -> NodeJobs:
    """The :class:`NodeJobs` of ``worker``; a ClusterError if it is not a FISSION node."""
    plugin = worker.plugins.get(NodeJobs.name)
    if not isinstance(plugin, NodeJobs):
        raise ClusterError(f"worker {worker.address} is not a FISSION node (it has no "
                           f"{NodeJobs.name} plugin): start nodes with `fission node`")
    return plugin


def run_job(launch: JobLaunch) -> int:
    """The task the client pins to a node: one job process, its exit status."""
    from distributed import get_worker, secede

    secede()  # a job runs for as long as the network does: give the thread slot back
    return node_jobs(get_worker()).run(launch)


def prefetch(files: str, manifests: list[Manifest], remote_root: str, network: str) -> int:
    """The task behind ``PRE_COPY = True``: see :meth:`NodeJobs.prefetch`."""
    from distributed import get_worker

    return node_jobs(get_worker()).prefetch(files, manifests, remote_root, network)


async def stop_network(network: str, grace: float = 1.0, dask_worker: Any = None) -> int:
    """:meth:`NodeJobs.stop_all` for one network, run by the client on the worker
    (``client.run``, which passes ``dask_worker``)."""
    jobs = node_jobs(dask_worker)
    return await asyncio.get_running_loop().run_in_executor(None, jobs.stop_all, network, grace)


def push_logs(sink: str, node: str, remote_root: str, network: str,
              dask_worker: Any = None) -> int:
    """:meth:`NodeJobs.push_logs`, run by the client on the worker (``client.run``)."""
    return node_jobs(dask_worker).push_logs(sink, node, remote_root, network)


def _signal_group(popen: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signum)
