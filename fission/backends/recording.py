"""``--record PIPE,...``: which file records each pipe, and the client's recording sink.

The producer of a recorded pipe records it (see ``runtime/recording.py``), so recording
costs the pipes that are not recorded nothing. Each recorded pipe's file in
``NET/recordings/`` is written anew by each run; other recordings there stay.

Under ``simulate`` each producer writes its pipe's file. Under ``run`` a producer may
run on a node, die with it and be replaced on another, so producers send their frames
to the client instead, and :class:`RecordingSink` writes every file: one per pipe, on
the client, each block once and in order of sequence number (a replacement sends again
blocks its first copy sent: those are skipped), flushed as they come, so that a node's
death loses nothing that had reached the client.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import zmq

from fission.config import Settings
from fission.errors import ConfigError
from fission.security.curve import Gatekeeper
from fission.wire.frame import HEADER, HEADER_SIZE, VERSION
from fission.wire.recording import SENT, Recorder, recording_name

log = logging.getLogger("fission.run")

FOLDER = "recordings"
#: Milliseconds without a frame after which a closing sink has everything in flight.
QUIET_MS = 300
#: Seconds a closing sink goes on receiving at most.
CLOSING_WAIT = 3.0
#: Messages received before the files are flushed, at most.
BATCH = 512
#: How many unreadable messages are logged one by one before only being counted.
GARBAGE_LOG_LIMIT = 5


def recordings(settings: Settings, pipes: Iterable[int]) -> dict[int, Path]:
    """Pipe id -> its recording in ``NET/recordings/``; ConfigError for an unknown pipe.

    The last run's recording of each chosen pipe is removed: a restarted producer
    appends to what its first copy wrote in this run."""
    known = settings.network.pipes
    chosen = dict.fromkeys(pipes)
    unknown = [pipe for pipe in chosen if pipe not in known]
    if unknown:
        raise ConfigError(
            f"--record: {', '.join(map(str, unknown))} is not a pipe of {settings.name} "
            f"(its pipes: {', '.join(map(str, sorted(known)))}); name pipes by their ids in "
            f"{settings.name}/config.py")
    folder = settings.directory / FOLDER
    paths = {pipe: folder / recording_name(pipe) for pipe in chosen}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(folder))
        for path in paths.values():
            path.unlink(missing_ok=True)
    except OSError as error:
        raise ConfigError(
            f"--record: cannot write the recordings in {folder} ({error.strerror}: "
            f"{error.filename}); make it a folder you can write to, or move what is in "
            "the way") from None
    return paths


class RecordingSink(threading.Thread):
    """Receives the recorded frames of every producer of a run and writes the recordings.

    A message is two frames: the time the block was sent (``SENT``) and the block's frame
    as it went on the wire, whose header names the pipe and the sequence number. A block
    numbered no higher than the last one written for its pipe is one a replacement sent
    again, and is skipped. Like a consumer, the sink is fenced when a producer is
    replaced (:meth:`fence`): frames of an older copy (still running on a node cut off
    from the run) are dropped from then on. Anything that is not a frame of a recorded
    pipe is garbage, counted and dropped.
    """

    def __init__(self, gate: Gatekeeper, host: str, paths: dict[int, Path],
                 on_failure: Callable[[str], None]) -> None:
        """``on_failure`` is called, from the sink's thread, with a one-paragraph error
        when a recording cannot be written (a full disk): the backend stops the run, as
        a producer that cannot write its recording fails under ``simulate``."""
        super().__init__(name="fission-recording-sink", daemon=True)
        self._paths = paths
        self._on_failure = on_failure
        self._socket = gate.listen(zmq.PULL, host, "the recordings")
        self.address = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._files = {pipe: Recorder(path) for pipe, path in paths.items()}
        #: Pipe id -> the sequence number of the last block written.
        self.last = dict.fromkeys(paths, -1)
        #: Pipe id -> the lowest producer incarnation whose frames are written.
        self._lowest = dict.fromkeys(paths, 0)
        self._fences = threading.Lock()  # fence() is called from the backend's thread
        self.garbage = 0
        self._closing = threading.Event()

    def run(self) -> None:
        try:
            closing_by = None
            while True:
                if self._socket.poll(QUIET_MS if self._closing.is_set() else 200):
                    self._receive()
                elif self._closing.is_set():
                    break
                if self._closing.is_set():
                    closing_by = closing_by or time.monotonic() + CLOSING_WAIT
                    if time.monotonic() >= closing_by:
                        break
        finally:
            self._close_files()
            self._socket.close()

    def _receive(self) -> None:
        """Write what has come, a batch at most, then flush it to the files."""
        written = set()
        for _ in range(BATCH):
            try:
                message = self._socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            try:
                pipe = self._write(message)
            except OSError as error:
                self._cannot_write(HEADER.unpack_from(message[1])[3], error)
                continue
            if pipe is not None:
                written.add(pipe)
        for pipe in written:
            try:
                self._files[pipe].flush()
            except OSError as error:
                self._cannot_write(pipe, error)

    def _write(self, message: list[bytes]) -> int | None:
        if len(message) != 2 or len(message[0]) != SENT.size or len(message[1]) < HEADER_SIZE:
            return self._garbage("not a recorded frame")
        sent, frame = SENT.unpack(message[0])[0], message[1]
        version, _flags, incarnation, pipe, seq = HEADER.unpack_from(frame)
        if version != VERSION or pipe not in self._paths:
            return self._garbage(f"a frame of version {version}, pipe {pipe}")
        if pipe not in self._files:
            return None  # its recording could not be written: the run is stopping
        with self._fences:
            if incarnation < self._lowest[pipe]:
                return None  # from a copy that was replaced
            self._lowest[pipe] = incarnation
        if seq <= self.last[pipe]:
            return None  # sent again by a replacement: written already
        self._files[pipe].write_at(sent, frame)
        self.last[pipe] = seq
        return pipe

    def _cannot_write(self, pipe: int, error: OSError) -> None:
        """Stop writing ``pipe``'s recording (what is in it stays) and tell the backend."""
        recorder = self._files.pop(pipe, None)
        if recorder is None:
            return
        with contextlib.suppress(OSError):
            recorder.close()
        self._on_failure(
            f"--record: cannot write the recording of pipe {pipe}, {self._paths[pipe]} "
            f"({error.strerror}); the run stops. What it holds so far is kept: free space "
            "there, or record fewer pipes")

    def fence(self, pipe: int, incarnation: int) -> None:
        """Write no more frames of ``pipe`` from copies older than ``incarnation`` (its
        producer's replacement has been started)."""
        with self._fences:
            if pipe in self._lowest:
                self._lowest[pipe] = max(self._lowest[pipe], incarnation)

    def _garbage(self, what: str) -> None:
        self.garbage += 1
        if self.garbage <= GARBAGE_LOG_LIMIT:
            log.warning("the recordings: dropped %s", what)

    def close(self) -> None:
        """Receive what is still in flight (until the producers are quiet), then close."""
        self._closing.set()
        if self.is_alive():
            self.join(timeout=CLOSING_WAIT + 2)
        else:
            self._close_files()
            self._socket.close()

    def _close_files(self) -> None:
        for pipe in list(self._files):
            try:
                self._files.pop(pipe).close()  # flushes what is left
            except OSError as error:
                log.error("--record: cannot write the end of %s (%s)", self._paths[pipe],
                          error.strerror)
