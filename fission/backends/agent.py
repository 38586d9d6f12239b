"""``fission node``: the agent that makes a machine a FISSION node.

It runs a Dask worker (no Nanny: a Nanny restarts a lost worker, and Dask then
re-runs the tasks pinned to it, which would duplicate jobs) that joins the
scheduler inside the client. A worker shuts down for good when it loses the
scheduler or is removed from it, so the agent starts a fresh one each time: the
agent waits for a client, outlives it, and joins the next run by itself.

Whenever its worker ends, the agent stops every job process it started: a node
declared dead must not keep old copies of jobs running (their blocks are fenced
anyway). SIGINT, SIGTERM or SIGHUP (unless started under ``nohup``) stop the jobs
(each is asked to tear down first) and the agent within a few seconds, exit 0.

With ``--credentials`` (the bundle ``fission credentials export`` wrote for this
node) the worker speaks mutual TLS only, and the agent's probe for a client is a
TLS handshake too: a client of another project is reported once and never joined.
``--insecure`` is the explicit way to serve runs with ``SECURE = False``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import ssl

from fission.backends.dask_cluster import FissionWorker, configure_dask
from fission.backends.node_jobs import NodeJobs
from fission.backends.node_metrics import NodeMetrics
from fission.backends.stopping import heeded_stop_signals
from fission.security.credentials import Credentials

log = logging.getLogger("fission.node")

#: Seconds between two workers, so a scheduler that refuses us is not hammered.
RESTART_DELAY = 0.2
#: Seconds between two looks for a client's scheduler.
PROBE_INTERVAL = 0.1


async def serve(client: str, port: int, host: str, cpus: int,
                credentials: Credentials | None) -> None:
    """Be a node of whichever client runs at ``client:port`` until a signal says stop."""
    configure_dask()
    security = None if credentials is None else credentials.dask_security()
    jobs = NodeJobs(None if credentials is None else credentials.curve)
    tls = None if security is None else security.get_connection_args("worker")["ssl_context"]
    protocol = "tcp" if security is None else "tls"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in heeded_stop_signals():
        loop.add_signal_handler(signum, stop.set)
    stopping = asyncio.ensure_future(stop.wait())
    metrics = NodeMetrics(cpus, disk_path=os.path.expanduser("~"))
    project = "no credentials: SECURE = False runs only" if credentials is None else (
        f"project {credentials.project}")
    print(f"fission node {host}: {cpus} cpus, {project}, waiting for a client at "
          f"{client}:{port}", flush=True)
    refusals: set[str] = set()
    for generation in itertools.count():
        if not await _scheduler_listens(client, port, host, tls, stop, refusals):
            break
        worker = FissionWorker(f"{protocol}://{client}:{port}", host=host,
                               nthreads=max(cpus, 1), dashboard=False, memory_limit=0,
                               plugins=(metrics, jobs), security=security, protocol=protocol,
                               name=f"fission-{host}-{os.getpid()}-{generation}")
        starting = asyncio.ensure_future(worker.start())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        joined = starting.done() and starting.exception() is None
        if joined:
            print(f"fission node {host}: joined the client as {worker.address}", flush=True)
            finished = asyncio.ensure_future(worker.finished())
            await asyncio.wait({finished, stopping}, return_when=asyncio.FIRST_COMPLETED)
        elif starting.done() and "join" not in refusals:
            refusals.add("join")
            log.warning("cannot join the client at %s:%d: %s", client, port,
                        starting.exception())
        stopped = await loop.run_in_executor(None, jobs.stop_all)
        if stopped:
            print(f"fission node {host}: stopped {stopped} job processes", flush=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(worker.close(reason="fission-node-restart"), 3)
        if not starting.done():
            starting.cancel()
        if joined and not stop.is_set():
            print(f"fission node {host}: left the client; waiting for the next run",
                  flush=True)
        if not stop.is_set():
            await asyncio.sleep(RESTART_DELAY)
    jobs.close()
    print(f"fission node {host}: stopped", flush=True)


async def _scheduler_listens(client: str, port: int, host: str, tls: ssl.SSLContext | None,
                             stop: asyncio.Event, refusals: set[str]) -> bool:
    """Wait until a client's scheduler accepts connections; False if told to stop first.

    An idle Dask worker retries its connection with a random back-off of up to a
    second or more; a probe every :data:`PROBE_INTERVAL` seconds lets the agent join
    a new run as soon as it starts. With TLS the probe is a full handshake, so a
    client that is not of this project is told apart from one that is not there. It
    leaves from the node's own address, the one the client knows it by.
    """
    while not stop.is_set():
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(client, port, ssl=tls, local_addr=(host, 0)), 1.0)
        except ssl.SSLError as error:
            why = error.reason or str(error)
            if why not in refusals:
                refusals.add(why)
                log.warning("the client at %s:%d is not of this node's project (TLS: %s); "
                            "waiting for one that is", client, port, why)
        except (OSError, asyncio.TimeoutError):
            pass
        else:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
            return True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), PROBE_INTERVAL)
    return False


def main(client: str, port: int, host: str, cpus: int | None,
         credentials: Credentials | None) -> int:
    logging.basicConfig(level=logging.WARNING, format=f"fission node {host}: %(message)s")
    asyncio.run(serve(client, port, host, cpus or os.cpu_count() or 1, credentials))
    return 0
