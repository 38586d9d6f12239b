"""NodeJobs, the node side of jobs, on real Dask workers in this process (on loopback):
tasks and ``client.run`` functions reach the worker's own instance, and a worker that
``fission node`` did not start (no NodeJobs) is named as such, not taken for a node."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from distributed import Client

from fission.backends.dask_cluster import FissionScheduler, FissionWorker, configure_dask
from fission.backends.node_jobs import NodeJobs, prefetch, stop_network
from fission.errors import ClusterError

HOST = "127.0.0.1"


@pytest.mark.timeout(60)
def test_node_functions_reach_the_workers_own_node_jobs(tmp_path: Path) -> None:
    async def main() -> None:
        configure_dask()
        scheduler = await FissionScheduler(host=HOST, port=0, dashboard=False, protocol="tcp")
        jobs = NodeJobs(None)
        options = dict(host=HOST, nthreads=1, dashboard=False, memory_limit=0, protocol="tcp")
        node = await FissionWorker(scheduler.address, plugins=(jobs,), **options)
        plain = await FissionWorker(scheduler.address, **options)
        try:
            async with Client(scheduler.address, asynchronous=True,
                              set_as_default=False) as client:
                assert node.plugins[NodeJobs.name] is jobs
                # A task (get_worker) and a client.run function (dask_worker) find it.
                fetched = client.submit(prefetch, "tcp://127.0.0.1:1", [], str(tmp_path),
                                        "net", workers=[node.address], pure=False)
                assert await fetched == 0  # nothing to fetch: no connection needed
                assert await client.run(stop_network, "net", workers=[node.address]) == {
                    node.address: 0}
                with pytest.raises(ClusterError, match="not a FISSION node"):
                    await client.run(stop_network, "net", workers=[plain.address])
        finally:
            await asyncio.gather(node.close(), plain.close())
            await scheduler.close()
            jobs.close()

    asyncio.run(main())
