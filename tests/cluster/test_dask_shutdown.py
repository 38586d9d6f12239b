"""The end of a run against Dask's shutdown: a real scheduler in this process, a real
``fission node`` agent, and task futures whose done-callbacks run late, as under load."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
import zmq
from clusterhelp import CLIENT_IP, Agent, free_port, wait_until

from fission.backends.dask_cluster import (
    Mailbox,
    Membership,
    SchedulerThread,
    configure_dask,
    connect_client,
    exit_notice,
)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.timeout(60)
def test_task_callbacks_that_run_after_the_client_closed_print_nothing(tmp_path: Path) -> None:
    """Dask runs done-callbacks one at a time; under load they run late, after the
    client has closed. Ours must then not ask Dask anything: that printed
    "Error in callback ... IOLoop is closed" at the end of runs."""
    configure_dask()
    records = _Records()
    dask_client_log = logging.getLogger("distributed.client")
    dask_client_log.addHandler(records)
    context = zmq.Context()
    mailbox = Mailbox(context, "test")
    notices: list[dict] = []
    port = free_port()
    scheduler = SchedulerThread(CLIENT_IP, port, Membership(notices.append, 5.0), None)
    address = scheduler.start_and_wait()
    agent = Agent(tmp_path, "127.0.0.2", port, cpus=4)
    try:
        client = connect_client(address, None)
        worker = wait_until(lambda: [n["address"] for n in notices if n["event"] == "node_up"],
                            20, f"the node to join\n{agent.log}")[0]
        def task(seconds: float):
            return client.submit(time.sleep, seconds, workers=[worker],
                                 allow_other_workers=False, pure=False)

        # While the client is up, an ended task is reported.
        single = task(0.1)
        single.add_done_callback(exit_notice(mailbox.post, {"job": "single"}))
        assert mailbox.socket.poll(10_000), "no notice of a task that ended"
        assert mailbox.receive() == [{"job": "single"}]

        futures = [task(0.3) for _ in range(4)]
        gate = threading.Event()
        futures[0].add_done_callback(lambda _future: gate.wait(10))  # a slow callback first
        for index, future in enumerate(futures):
            future.add_done_callback(exit_notice(mailbox.post, {"job": index}))
        wait_until(lambda: all(f.status == "finished" for f in futures), 10, "the tasks")
        for future in futures:
            future.release()
        client.close(timeout=3)
        gate.set()  # the callbacks run now, the client closed
        time.sleep(1)
        assert records.messages == []
    finally:
        dask_client_log.removeHandler(records)
        scheduler.stop()
        agent.close()
        mailbox.close()
        context.destroy(linger=0)
