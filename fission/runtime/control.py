"""The control channel between a job process and the backend that started it.

Messages are small JSON objects with an ``op`` field, sent over a ZeroMQ DEALER
socket to the backend's ROUTER. The job reports ``ready``, ``finished`` or
``stopped`` (with its counters) and ``failed``. The backend sends
``stop`` (end after the current run), ``close_output`` (a consumer has finished:
stop sending on that pipe), ``release`` (every consumer has finished: a finished
job may close its sockets), ``connect`` (send an output pipe to this address from
now on), ``fence`` (drop blocks of older incarnations on an input pipe, and say how
far it has got), ``rewind`` (forget an input's waiting blocks from a sequence number
on: a replaced source sends them anew) and ``begin`` (a gated source may start, at
this sequence number) and ``covered`` (no replay can need an output's blocks before a
sequence number: drop them). The job answers ``fenced`` and ``rewound``, and reports
``progress`` (how far its runs have got on each input; under ``run``).
Each side dispatches through a table of handlers, so adding an op is adding an
entry. A report may carry bytes (the pickled state of a ``snapshot``): they travel as
a frame of their own before the JSON, which stays the last frame, so no JSON has to
hold them; the backend reads them with :func:`attached`. Bytes the backend sends
(the state of a ``restore``, once per replacement) travel inside the JSON, as
:func:`to_text` makes them.

A job's socket identity is its id *and* incarnation: after a failover the copy
that was replaced may still be connected, and the backend must be able to tell the
two apart and address each.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import zmq

from fission.security.curve import Gatekeeper

log = logging.getLogger("fission.control")


def parse_report(payload: bytes) -> dict[str, Any] | None:
    """A job's report as a dict with an int ``job`` and ``incarnation`` and a str ``op``;
    None for anything else (the backend logs and ignores it)."""
    try:
        message = json.loads(payload)
        message["job"] = int(message["job"])
        message["incarnation"] = int(message.get("incarnation", 0))
        if not isinstance(message["op"], str):
            return None
    except (ValueError, KeyError, TypeError):
        return None
    return message


def attached(frames: list[bytes]) -> bytes | None:
    """The bytes a report carries, from its frames as the backend's ROUTER received them
    (identity, then the report's own frames); None if it carries none."""
    return frames[-2] if len(frames) > 2 else None


def to_text(data: bytes | None) -> str | None:
    """Bytes for a JSON control message (:func:`from_text` undoes it)."""
    return None if data is None else base64.b64encode(data).decode("ascii")


def from_text(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def identity(job_id: int, incarnation: int) -> bytes:
    """The control socket identity of one copy of a job, for the backend's ROUTER."""
    return f"{job_id}.{incarnation}".encode()


class ControlChannel:
    """The job's end of the control channel."""

    def __init__(self, gate: Gatekeeper, address: str, job_id: int,
                 incarnation: int = 0) -> None:
        self.socket = gate.context.socket(zmq.DEALER)
        gate.dial(self.socket)
        self.socket.setsockopt(zmq.IDENTITY, identity(job_id, incarnation))
        self.socket.setsockopt(zmq.LINGER, 2000)
        self.socket.connect(address)
        self.job_id = job_id
        self.incarnation = incarnation

    def send(self, op: str, **fields: Any) -> None:
        self.socket.send_json({"op": op, "job": self.job_id, "incarnation": self.incarnation,
                               **fields})

    def send_with(self, op: str, data: bytes, **fields: Any) -> None:
        """A report that carries ``data``: a frame of its own, before the JSON one."""
        self.socket.send_multipart([data, json.dumps(
            {"op": op, "job": self.job_id, "incarnation": self.incarnation, **fields}).encode()])

    def dispatch(self, handlers: Mapping[str, Callable[[dict], None]]) -> None:
        """Handle every message waiting, without blocking."""
        while self.socket.poll(0):
            message = self.socket.recv_json()
            handler = handlers.get(message.get("op")) if isinstance(message, dict) else None
            if handler is None:
                log.warning("ignoring unknown control message %r", message)
                continue
            handler(message)

    def close(self) -> None:
        self.socket.close()
