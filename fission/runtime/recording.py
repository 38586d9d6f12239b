"""The job's end of ``--record``: where the frames of its recorded outputs go.

Under ``simulate`` the job writes each recorded pipe's file itself
(:class:`~fission.wire.recording.Recorder`). Under ``run`` (``JobSpec.record_to``) a job
may run on a node and be replaced on another, so it writes nothing: it sends each frame,
with the time it was sent, to the client's recording sink (a PUSH to a PULL the client
binds, CURVE-secured like every socket; fission/backends/recording.py), which keeps one
file per pipe in ``NET/recordings/`` on the client whichever copy sent the frames.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

import zmq

from fission.runtime.spec import JobSpec
from fission.security.curve import Gatekeeper
from fission.wire.recording import SENT, Recorder

#: Milliseconds the frames still queued for the client get at the job's end.
LINGER_MS = 2000


class FrameRecorder(Protocol):
    def write(self, frame: bytes) -> None: ...

    def close(self) -> None: ...


class RecordStream:
    """Sends the frames of one or more recorded outputs to the client's recording sink.

    Sends block when the sink lags by more than ``hwm`` frames (a recorded pipe goes no
    faster than its recording), so no frame is dropped on the way.
    """

    def __init__(self, gate: Gatekeeper, address: str, hwm: int) -> None:
        socket = gate.context.socket(zmq.PUSH)
        gate.dial(socket)
        socket.setsockopt(zmq.SNDHWM, hwm)
        socket.setsockopt(zmq.LINGER, LINGER_MS)
        socket.connect(address)
        self._socket, self._pack, self._clock = socket, SENT.pack, time.time
        self._send, self._more = socket.send, zmq.SNDMORE

    def write(self, frame: bytes) -> None:
        self._send(self._pack(self._clock()), self._more)
        self._send(frame, copy=False)

    def close(self) -> None:
        if not self._socket.closed:
            self._socket.close(linger=LINGER_MS)


def recorders(spec: JobSpec, gate: Gatekeeper) -> dict[int, FrameRecorder]:
    """Output pipe id -> what records its frames (nothing for a job that records none)."""
    if not spec.record:
        return {}
    if spec.record_to is None:
        return {pipe_id: Recorder(Path(path), append=spec.record_append)
                for pipe_id, path in spec.record.items()}
    hwm = max(pipe.HWM for pipe in spec.job.outputs if pipe.id in spec.record)
    stream = RecordStream(gate, spec.record_to, hwm)
    return dict.fromkeys(spec.record, stream)
