"""Heartbeats of real Dask workers (in this process, on loopback) under FISSION's settings:
their interval stays pinned as the cluster grows, and a slow metric probe never delays them."""

from __future__ import annotations

import asyncio
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
