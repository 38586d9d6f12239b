"""The node's side of a job: a Dask task that starts the job process and watches it.

The client submits :func:`run_job` pinned to one worker by its full address. The
task leaves Dask's thread pool (``secede``), fetches the network's code from the
client if the node does not have it yet, and starts the job runtime as a child
process in a session of its own, at a lower CPU priority than the agent
(:data:`~fission.backends.processes.JOB_NICENESS`). That child is the job's keeper
(:mod:`fission.runtime.descendants`): it asks Linux to signal it when the thread that
started it ends (``PR_SET_PDEATHSIG``), and then kills the job and everything the
job started; this thread lives exactly as long as the keeper: so the job and its
own processes die with their agent in every case, SIGKILL included. Once the keeper
has exited, its process group is killed too, for the processes a SIGKILLed keeper
left behind.

What the job prints is forwarded, line by line, straight to the client over
ZeroMQ (``DEBUG_WINDOW``); it is also in the job's ``job.log`` on the node.

Every job process of this agent is registered here, so :func:`stop_all` can stop
them when the agent loses the scheduler or is asked to quit.

The tasks the client sends carry no secret: whatever needs the project's keys (the
job process, file fetches, output lines, logs) gets the node's own, which the agent
hands over once with :func:`use_keys`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import zmq

from fission.backends.files import Manifest, fetch, place_dependencies
from fission.backends.processes import job_stdin, lower_priority, stop_processes
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

_running: dict[tuple[str, int, int], subprocess.Popen] = {}
_keys: CurveKeys | None = None
_registry_lock = threading.Lock()
_fetch_locks: dict[Path, threading.Lock] = {}


def use_keys(keys: CurveKeys | None) -> None:
    """Set this node's CURVE keys (None: an ``--insecure`` node)."""
    global _keys
    _keys = keys


def network_folder(remote_root: str, network: str) -> Path:
    return Path(remote_root).expanduser() / network


def run_job(launch: JobLaunch) -> int:
    """Start the job's process, forward its output, and return its exit status."""
    from distributed import secede

    secede()  # a job runs for as long as the network does: give the thread slot back
    folder = network_folder(launch.remote_root, launch.network)
    code = folder / "code"
    with _fetch_lock(code):
        fetch(launch.files, launch.code, code, _keys)
        fetch(launch.files, launch.dependencies, code, _keys)
    workdir = folder / str(launch.job_id)
    workdir.mkdir(parents=True, exist_ok=True)
    place_dependencies(code, launch.job_dependencies, workdir)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
    forward = launch.output is not None
    key = (launch.network, launch.job_id, launch.incarnation)
    with _registry_lock:
        popen = subprocess.Popen(
            [sys.executable, "-m", "fission.runtime.entry"], cwd=workdir, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE if forward else subprocess.DEVNULL,
            stderr=subprocess.STDOUT if forward else subprocess.DEVNULL,
            start_new_session=True,
        )
        _running[key] = popen
    lower_priority(popen.pid)  # the agent's heartbeats come before the jobs (processes.py)
    try:
        with contextlib.suppress(BrokenPipeError):
            popen.stdin.write(job_stdin(launch.spec, _keys))
            popen.stdin.close()
        # The output is forwarded by a thread of its own: a process the job left behind
        # may hold the pipe open, and this thread must see the keeper's exit regardless.
        forwarder = threading.Thread(target=_forward_output, args=(popen, launch), daemon=True,
                                     name=f"fission-output-{launch.job_id}") if forward else None
        if forwarder is not None:
            forwarder.start()
        status = popen.wait()
        _signal_group(popen, signal.SIGKILL)  # what a SIGKILLed keeper could not end
        if forwarder is not None:
            forwarder.join(OUTPUT_DRAIN)
        return status
    finally:
        with _registry_lock:
            _running.pop(key, None)


def prefetch(files: str, manifests: list[Manifest], remote_root: str, network: str) -> int:
    """Fetch a network's code and data files ahead of any job (``PRE_COPY = True``)."""
    code = network_folder(remote_root, network) / "code"
    with _fetch_lock(code):
        return sum(fetch(files, manifest, code, _keys) for manifest in manifests)


def _fetch_lock(folder: Path) -> threading.Lock:
    with _registry_lock:
        return _fetch_locks.setdefault(folder, threading.Lock())


def _forward_output(popen: subprocess.Popen, launch: JobLaunch) -> None:
    socket = zmq.Context.instance().socket(zmq.PUSH)
    socket.setsockopt(zmq.LINGER, 1000)
    socket.setsockopt(zmq.SNDHWM, 10000)
    dial(socket, _keys)
    socket.connect(launch.output)
    header = [str(launch.job_id).encode(), str(launch.incarnation).encode()]
    try:
        for line in popen.stdout:
            with contextlib.suppress(zmq.Again):  # a client that cannot keep up loses lines
                socket.send_multipart([*header, line.rstrip(b"\r\n")], zmq.NOBLOCK)
    finally:
        socket.close()


def stop_all(network: str | None = None, grace: float = 1.0) -> int:
    """Stop this node's job processes (of ``network``, or all), see ``stop_processes``."""
    with _registry_lock:
        targets = [p for (net, _, _), p in _running.items()
                   if (network is None or net == network) and p.poll() is None]
    stop_processes(targets, patience=0.0, grace=grace,
                   kill=lambda popen: _signal_group(popen, signal.SIGKILL))
    return len(targets)


async def stop_network(network: str, grace: float = 1.0) -> int:
    """:func:`stop_all` for one network, run by the client on the worker (``client.run``)."""
    return await asyncio.get_running_loop().run_in_executor(None, stop_all, network, grace)


def _signal_group(popen: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signum)


def push_logs(sink: str, node: str, remote_root: str, network: str) -> int:
    """Send this node's job logs of ``network`` to the client (``collect``)."""
    from fission.backends.files import push_files

    folder = network_folder(remote_root, network)
    return push_files(sink, node, folder, _keys) if folder.is_dir() else 0
