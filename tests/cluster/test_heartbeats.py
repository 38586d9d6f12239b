"""Heartbeats of real Dask workers (in this process, on loopback) under FISSION's settings:
their interval stays pinned as the cluster grows, and a slow metric probe never delays them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time

import pytest

from fission.backends.dask_cluster import (
    HEARTBEAT,
    MISSED_HEARTBEATS,
    FissionScheduler,
    FissionWorker,
    Membership,
    SchedulerThread,
    configure_dask,
)
from fission.backends.node_metrics import NodeMetrics

HOST = "127.0.0.1"


async def _cluster(workers: int, plugins=()) -> tuple[FissionScheduler, list[FissionWorker]]:
    configure_dask()
    scheduler = await FissionScheduler(host=HOST, port=0, dashboard=False, protocol="tcp")
    started = [FissionWorker(scheduler.address, host=HOST, nthreads=1, dashboard=False,
                             memory_limit=0, plugins=plugins, protocol="tcp")
               for _ in range(workers)]
    await asyncio.gather(*started)
    return scheduler, started


async def _close(scheduler: FissionScheduler, workers: list[FissionWorker]) -> None:
    await asyncio.gather(*(worker.close() for worker in workers))
    await scheduler.close()


@pytest.mark.timeout(60)
def test_the_heartbeat_interval_stays_pinned_beyond_ten_nodes() -> None:
    """Dask would space heartbeats 1 s apart from 11 workers on (2 s from 50)."""

    async def main() -> list[float]:
        scheduler, workers = await _cluster(12)
        try:
            await asyncio.sleep(2.5)  # several heartbeats, each answered with the interval
            return [w.periodic_callbacks["heartbeat"].callback_time for w in workers]
        finally:
            await _close(scheduler, workers)

    assert asyncio.run(main()) == [HEARTBEAT * 1000] * 12


@pytest.mark.timeout(60)
def test_a_slow_link_probe_does_not_delay_heartbeats() -> None:
    """The scheduler on its own thread, as in a run; the node's probe hangs for 3 s."""
    calls = []

    def slow_batctl() -> int:
        calls.append(time.monotonic())
        if len(calls) > 1:  # the reading at start-up is quick; later ones hang
            time.sleep(3)
        return 200

    metrics = NodeMetrics(cpus=1, tq_probe=slow_batctl, tq_interval=0.5)
    configure_dask()
    notices: list[dict] = []
    membership = Membership(notices.append, MISSED_HEARTBEATS * HEARTBEAT)
    scheduler = SchedulerThread(HOST, 0, membership, None)
    address = scheduler.start_and_wait()

    async def node() -> None:
        worker = await FissionWorker(address, host=HOST, nthreads=1, dashboard=False,
                                     memory_limit=0, plugins=(metrics,), protocol="tcp")
        try:
            await asyncio.sleep(5)
        finally:
            await worker.close()

    try:
        asyncio.run(node())
    finally:
        scheduler.stop()
    assert len(calls) >= 2, "the probe was not called again while the node ran"
    events = [notice["event"] for notice in notices]
    assert events[:1] == ["node_up"] and "node_down" not in events[:-1], notices
    assert not any(n.get("why") == "silent" for n in notices), notices


def _membership_cluster(workers: int, body) -> list[dict]:
    """``workers`` Dask workers of this process under a Membership (NODE_TIMEOUT 1.5 s) on
    its own scheduler thread; ``body(scheduler, workers)`` runs while they are up; returns
    what Membership reported before the workers were closed, each with its time ``at``."""
    configure_dask()
    notices: list[dict] = []
    membership = Membership(lambda notice: notices.append({**notice, "at": time.time()}),
                            MISSED_HEARTBEATS * HEARTBEAT)
    scheduler = SchedulerThread(HOST, 0, membership, None)
    address = scheduler.start_and_wait()

    async def nodes() -> list[dict]:
        started = await asyncio.gather(*(
            FissionWorker(address, host=HOST, nthreads=1, dashboard=False, memory_limit=0,
                          protocol="tcp") for _ in range(workers)))
        try:
            await asyncio.sleep(1.0)
            await body(scheduler, started)
            return list(notices)
        finally:
            await asyncio.gather(*(worker.close() for worker in started))

    try:
        return asyncio.run(nodes())
    finally:
        scheduler.stop()


@pytest.mark.timeout(60)
def test_a_held_up_scheduler_declares_no_node_silent() -> None:
    """Scheduler and nodes are all held up for 3 s (SIGSTOP of this process: as when 50
    nodes joining and 40 job processes starting leave a client no CPU); the first look
    after it comes before any node's next heartbeat can have been read: none is late."""

    async def hold_up(scheduler: SchedulerThread, workers: list) -> None:
        pid = os.getpid()
        pauser = subprocess.Popen(["sh", "-c", f"kill -STOP {pid}; sleep 3; kill -CONT {pid}"])
        try:
            await asyncio.sleep(6.0)
        finally:
            pauser.wait(timeout=10)

    notices = _membership_cluster(3, hold_up)
    assert [n["event"] for n in notices] == ["node_up"] * 3, notices


@pytest.mark.timeout(60)
def test_a_node_whose_heartbeats_stop_is_still_removed_on_time() -> None:
    """A scheduler held up for 1 s first; then one node stops its heartbeats (its
    connection stays open): it alone is removed, NODE_TIMEOUT (1.5 s) later."""
    quiet: list = []

    async def silence_one(scheduler: SchedulerThread, workers: list) -> None:
        scheduler._loop.call_soon_threadsafe(time.sleep, 1.0)
        await asyncio.sleep(2.0)
        workers[0].periodic_callbacks["heartbeat"].stop()
        quiet.extend([workers[0].address, time.time()])
        await asyncio.sleep(4.0)

    notices = _membership_cluster(3, silence_one)
    downs = [n for n in notices if n["event"] == "node_down"]
    assert len(downs) == 1 and downs[0]["why"] == "silent", notices
    address, stopped_at = quiet
    assert downs[0]["address"] == address
    # Its last heartbeat was read up to one interval before it stopped sending.
    timeout = MISSED_HEARTBEATS * HEARTBEAT
    assert timeout - HEARTBEAT <= downs[0]["at"] - stopped_at <= timeout + 1.0, downs
