"""Bytes that are not FISSION blocks, pushed onto a live pipe of a running network by a
peer that holds the project's keys (a stranger does not get that far: test_security)."""

from __future__ import annotations

import json
import pickle
import re

import psutil
import pytest
import zmq
from simhelp import job_stats, read_csv, wait_until

from fission.security.credentials import project_credentials
from fission.security.curve import dial
from fission.wire.frame import HEADER, VERSION, encode


def _input_socket_path(run, job_id: int, pipe_id: int) -> str | None:
    """The ipc path job ``job_id`` has bound for ``pipe_id``, read from its open sockets."""
    folder = str(run.job_dir(job_id))
    for process in run.members():
        try:
            if process.cwd() != folder:
                continue
            for connection in process.net_connections(kind="unix"):
                if str(connection.laddr).endswith(f"/pipe-{pipe_id}"):
                    return connection.laddr
        except psutil.Error:
            continue
    return None


def _count_into_sink(sim, project, count: int):
    """Start a network whose source sends 0..count-1 to a CSVSinkJob; the run and its CSV."""
    project.network("net", f"""
        from fission.core.pipes import PicklePipe
        from fission.core.jobs import CSVSinkJob
        from netjobs import CountSource
        JOBS = [
            CountSource(n={count}, sleep=0.02, outputs=[PicklePipe(1)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(1)]),
        ]
    """)
    run = sim(project.root, "net")
    return run, run.job_dir(2) / "out.csv"


@pytest.mark.timeout(40)
def test_garbage_on_a_pipe_is_dropped_counted_and_logged(sim, project):
    run, out = _count_into_sink(sim, project, 100)
    path = wait_until(lambda: _input_socket_path(run, 2, 1), 15, "the sink's socket for pipe 1")
    wait_until(lambda: out.exists() and len(read_csv(out)) > 5, 15, "the sink's first rows")

    garbage = [
        b"xy",                                                  # shorter than a header
        HEADER.pack(VERSION + 1, 0, 0, 1, 0) + pickle.dumps(0),  # another format version
        encode(99, 0, pickle.dumps(0)),                         # another pipe's id
        encode(1, 50, b"\x80not a pickle"),                     # a payload that does not unpack
    ]
    context = zmq.Context()
    try:
        push = context.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 2000)
        dial(push, project_credentials(project.root).curve)
        push.connect(f"ipc://{path}")
        for frame in garbage:
            push.send(frame)
        push.close()
    finally:
        context.term()

    code = run.wait(30)
    assert code == 0, run.output()
    log = (run.job_dir(2) / "job.log").read_text()
    assert log.count("dropped an unreadable block") == len(garbage), log
    assert "[CSVSinkJob 2] WARNING: pipe 1: dropped an unreadable block" in run.stdout
    stats = job_stats(run, 2)["inputs"][1]
    assert stats["garbage"] == len(garbage)
    assert stats["dummies"] == 0 and stats["stale"] == 0
    assert f"FISSION: CSVSinkJob 2 {len(garbage)} unreadable blocks dropped" in run.stderr
    # The stream itself is untouched: every block, in order, once.
    assert read_csv(out)[1:] == [[str(i)] for i in range(100)]


@pytest.mark.timeout(40)
def test_garbage_from_a_project_peer_on_control_and_send_is_ignored(sim, project):
    """A peer with the project's keys gets in, and what it sends is still only parsed."""
    run, out = _count_into_sink(sim, project, 150)
    wait_until(lambda: out.exists() and len(read_csv(out)) > 5, 15, "the sink's first rows")
    send = json.loads((project.root / "net" / ".fission" / "run.json").read_text())["send"]
    keys = project_credentials(project.root).curve
    context = zmq.Context()
    try:
        control = context.socket(zmq.DEALER)
        control.setsockopt(zmq.LINGER, 2000)
        dial(control, keys)
        control.connect(send.rsplit("/", 1)[0] + "/control")
        for frames in ([b"\xff"], [b"{\"op\": "], [b"{}", b"two"], [b"[1, 2]"],
                       [b'{"op": "failed", "job": "x"}'], [b'{"op": 5, "job": 1}']):
            control.send_multipart(frames)
        console = context.socket(zmq.REQ)
        console.setsockopt(zmq.LINGER, 0)
        dial(console, keys)
        console.connect(send)
        replies = []
        for frames in ([b"\xff\xfe"], [b'{"job": 1'], [b'{"job": 1}', b"more"], [b"null"]):
            console.send_multipart(frames)
            assert console.poll(3000), "the send endpoint stopped answering"
            replies.append(json.loads(console.recv()))
        control.close()
    finally:
        context.destroy(linger=2000)
    assert all("malformed send request" in reply["error"] for reply in replies), replies
    assert run.wait(30) == 0, run.output()  # finished by itself: nothing stopped it
    assert read_csv(out)[1:] == [[str(i)] for i in range(150)]
    backend_log = (project.root / "FISSION.log").read_text()
    assert backend_log.count("ignoring a malformed control message") == 6, backend_log


SINKS = {
    "one input": ("CSVSinkJob(path='out.csv', inputs=[Fussy(1)])", 2),
    "two inputs": ("CSVSinkJob(path='out.csv', inputs=[PicklePipe(2), Fussy(1)])", 3),
}


@pytest.mark.timeout(40)
@pytest.mark.parametrize("sink", SINKS, ids=list(SINKS))
def test_an_exception_of_a_users_unpack_fails_the_job_naming_the_pipe(sim, project, sink):
    config, sink_id = SINKS[sink]
    second = "CountSource(n=10, outputs=[PicklePipe(2)])," if sink_id == 3 else ""
    project.network("net", f"""
        from fission.core.pipes import PicklePipe
        from fission.core.jobs import CSVSinkJob
        from netjobs import CountSource, Fussy
        JOBS = [
            CountSource(n=10, sleep=0.02, outputs=[Fussy(1)]),
            {second}
            {config},
        ]
    """)
    run = sim(project.root, "net")
    assert run.wait(30) == 1, run.output()
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, run.output()
    assert re.search(rf"CSVSinkJob {sink_id}\b.*unpack\(\) of its input pipe 1 \(Fussy\) "
                     r"raised ValueError: three is not welcome", errors[0]), errors[0]
    assert "unreadable" not in run.output()
    rows = read_csv(run.job_dir(sink_id) / "out.csv")[1:]
    assert [row[-1] for row in rows] == ["0", "1", "2"]  # what came before is kept


@pytest.mark.timeout(40)
def test_a_users_unpack_raising_wire_error_drops_the_block_as_garbage(sim, project):
    project.network("net", """
        from fission.core.jobs import CSVSinkJob
        from netjobs import CountSource, Picky
        JOBS = [
            CountSource(n=10, outputs=[Picky(1)]),
            CSVSinkJob(path="out.csv", inputs=[Picky(1)]),
        ]
    """)
    run = sim(project.root, "net")
    assert run.wait(30) == 0, run.output()
    assert job_stats(run, 2)["inputs"][1]["garbage"] == 1
    assert read_csv(run.job_dir(2) / "out.csv")[1:] == [[str(i)] for i in range(10) if i != 3]


@pytest.mark.timeout(40)
def test_a_return_value_no_output_pipe_can_pack_fails_the_job_naming_the_pipe(sim, project):
    project.network("net", """
        from fission.core.pipes import PicklePipe
        from fission.core.jobs import CSVSinkJob
        from netjobs import CountSource, ReturnsLambda
        JOBS = [
            CountSource(n=10, outputs=[PicklePipe(1)]),
            ReturnsLambda(inputs=[PicklePipe(1)], outputs=[PicklePipe(2), PicklePipe(3)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(2), PicklePipe(3)]),
        ]
    """)
    run = sim(project.root, "net")
    assert run.wait(30) == 1, run.output()
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, run.output()
    assert re.search(r"ReturnsLambda 2\b.*returned a value that its output pipe 3 "
                     r"\(PicklePipe\) cannot pack: function", errors[0]), errors[0]
