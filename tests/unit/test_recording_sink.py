"""The client's recording sink under `run`: real sockets on loopback, no cluster.

Producers stream their recorded frames (fission/runtime/recording.py); the sink writes
each pipe's recording once per block, in order, fenced against replaced copies.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest
import zmq
from childprocess import wait_until

from fission.backends.recording import RecordingSink
from fission.runtime.recording import RecordStream
from fission.security.curve import CurveKeys, Gatekeeper
from fission.wire.frame import encode
from fission.wire.recording import SENT, read_recording

KEYS = CurveKeys.generate()


@pytest.fixture
def gates():
    """The client's gatekeeper and a producer's, with the same project's keys."""
    made = []
    for name in ("client", "job"):
        context = zmq.Context()
        made.append(Gatekeeper(context, KEYS, logging.getLogger(f"test.recording.{name}")))
    yield made
    for gate in made:
        gate.close()
        gate.context.destroy(linger=0)


def _frames(pipe: int, incarnation: int, seqs: range) -> list[bytes]:
    return [encode(pipe, seq, pickle.dumps((incarnation, seq)), incarnation=incarnation)
            for seq in seqs]


def _blocks(path: Path) -> list[tuple[int, int]]:
    return [pickle.loads(payload) for _, _, payload in read_recording(path)]


@pytest.mark.timeout(30)
def test_each_block_once_in_order_and_no_frame_of_a_replaced_copy(gates, tmp_path) -> None:
    client, job = gates
    paths = {2: tmp_path / "recordings" / "pipe-2.rec", 3: tmp_path / "recordings" / "pipe-3.rec"}
    failures: list[str] = []
    sink = RecordingSink(client, "127.0.0.1", paths, failures.append)
    sink.start()
    try:
        first = RecordStream(job, sink.address, hwm=64)
        for frame in _frames(2, 0, range(0, 5)) + _frames(3, 0, range(0, 2)):
            first.write(frame)
        wait_until(lambda: sink.last[2] == 4, 5, "the first copy's frames")
        # Flushed as they came: the file holds them while the run goes on.
        assert _blocks(paths[2]) == [(0, seq) for seq in range(5)]
        sink.fence(2, 1)  # the producer of pipe 2 is replaced ...
        for frame in _frames(2, 0, range(5, 7)):  # ... and its old copy is still heard
            first.write(frame)
        second = RecordStream(job, sink.address, hwm=64)
        for frame in _frames(2, 1, range(3, 9)):  # it sends 3 and 4 again
            second.write(frame)
        raw = job.context.socket(zmq.PUSH)  # the project's keys, but not a recorded frame
        job.dial(raw)
        raw.connect(sink.address)
        raw.send(b"not a frame")
        raw.send_multipart([SENT.pack(0.0), encode(9, 0, b"x")])
        raw.send_multipart([SENT.pack(0.0), b"short"])
        wait_until(lambda: sink.last[2] == 8 and sink.garbage == 3, 5, "every message")
        first.close()
        second.close()
        raw.close(linger=0)
    finally:
        sink.close()
    assert not sink.is_alive()
    assert _blocks(paths[2]) == [(0, seq) for seq in range(5)] + [(1, seq) for seq in range(5, 9)]
    assert _blocks(paths[3]) == [(0, 0), (0, 1)]
    assert failures == []


@pytest.mark.timeout(30)
def test_a_closing_sink_writes_what_is_still_in_flight(gates, tmp_path) -> None:
    client, job = gates
    path = tmp_path / "pipe-1.rec"
    sink = RecordingSink(client, "127.0.0.1", {1: path}, pytest.fail)
    sink.start()
    stream = RecordStream(job, sink.address, hwm=1000)
    for frame in _frames(1, 0, range(500)):
        stream.write(frame)
    stream.close()
    sink.close()  # at once: the frames on their way are received before it stops
    assert [seq for _, seq, _ in read_recording(path)] == list(range(500))


@pytest.mark.timeout(30)
def test_a_recording_that_cannot_be_written_is_reported_and_the_others_go_on(gates,
                                                                            tmp_path) -> None:
    client, job = gates
    full, good = Path("/dev/full"), tmp_path / "pipe-2.rec"  # /dev/full: ENOSPC on writes
    failures: list[str] = []
    sink = RecordingSink(client, "127.0.0.1", {1: full, 2: good}, failures.append)
    sink.start()
    stream = RecordStream(job, sink.address, hwm=64)
    try:
        for frame in _frames(1, 0, range(3)) + _frames(2, 0, range(3)):
            stream.write(frame)
        wait_until(lambda: failures and sink.last[2] == 2, 5, "the failure and pipe 2's frames")
        for frame in _frames(1, 0, range(3, 6)):  # dropped: the run is stopping
            stream.write(frame)
    finally:
        stream.close()
        sink.close()
    assert failures == [f"--record: cannot write the recording of pipe 1, {full} (No space "
                        "left on device); the run stops. What it holds so far is kept: free "
                        "space there, or record fewer pipes"]
    assert _blocks(good) == [(0, 0), (0, 1), (0, 2)]
    assert sink.garbage == 0
