"""Recordings of a pipe: every block a producer sent, with its sequence number and time.

A recording (``NET/recordings/pipe-<id>.rec``, written under ``--record``) is a magic
line followed by one record per block: ``struct '<dI'`` (unix time the block was sent,
length of the frame), then the frame as it went on the wire (the 16-byte header, whose
sequence number it keeps, and the pipe's packed payload). :class:`ReplayJob` reads it
back with :func:`read_recording`. Under ``run`` the client writes every recording, from
the frames producers send it (fission/runtime/recording.py, fission/backends/recording.py).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from fission.errors import ConfigError
from fission.wire.frame import HEADER, HEADER_SIZE

MAGIC = b"FISSION recording 1\n"
RECORD = struct.Struct("<dI")
#: Under ``run`` a producer streams its recorded frames to the client instead: each is a
#: message of two frames, this (the unix time it was sent), then the frame itself.
SENT = struct.Struct("<d")


def recording_name(pipe_id: int) -> str:
    return f"pipe-{pipe_id}.rec"


class Recorder:
    """Appends the frames sent on one pipe to its recording (buffered; flushed at close).

    With ``append``, a producer that replaces one during the run (a restart) appends to
    the recording its first copy began, rather than starting it anew: the blocks it
    sends again are skipped by :func:`read_recording`.
    """

    def __init__(self, path: Path, append: bool = False) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO = open(path, "ab" if append else "wb")  # noqa: SIM115 - close()
        if self._file.tell() == 0:
            self._file.write(MAGIC)
        self._pack, self._write, self._clock = RECORD.pack, self._file.write, time.time

    def write(self, frame: bytes) -> None:
        self._write(self._pack(self._clock(), len(frame)))
        self._write(frame)

    def write_at(self, sent: float, frame: bytes) -> None:
        """Write a frame another process sent at ``sent`` (``run``: the client writes
        what producers on nodes stream to it)."""
        self._write(self._pack(sent, len(frame)))
        self._write(frame)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_recording(path: Path) -> Iterator[tuple[float, int, bytes]]:
    """Each block of a recording: (time sent, sequence number, packed payload).

    A record cut short at the end (the producer was killed) ends the recording. Blocks
    numbered no higher than one already read (a restarted producer sending from its
    snapshot on) are skipped, so each sequence number comes once, in order.
    """
    path = Path(path)
    try:
        file = path.open("rb")
    except OSError as error:
        raise ConfigError(f"cannot read the recording {path}: {error.strerror}") from None
    with file:
        if file.read(len(MAGIC)) != MAGIC:
            raise ConfigError(f"{path} is not a FISSION recording (record one with "
                              "'python3 manage.py NET simulate --record PIPE')")
        last = -1
        while True:
            head = file.read(RECORD.size)
            if len(head) < RECORD.size:
                return
            sent, length = RECORD.unpack(head)
            frame = file.read(length)
            if len(frame) < length or length < HEADER_SIZE:
                return
            seq = HEADER.unpack_from(frame)[4]
            if seq > last:
                last = seq
                yield sent, seq, frame[HEADER_SIZE:]
