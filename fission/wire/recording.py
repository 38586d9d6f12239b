"""Recordings of a pipe: every block a producer sent, with its sequence number and time.

A recording (``NET/recordings/pipe-<id>.rec``, written under ``--record``) is a magic
line followed by one record per block: ``struct '<dI'`` (unix time the block was sent,
length of the frame), then the frame as it went on the wire (the 16-byte header, whose
sequence number it keeps, and the pipe's packed payload). :class:`ReplayJob` reads it
back with :func:`read_recording`.
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


def recording_name(pipe_id: int) -> str:
    return f"pipe-{pipe_id}.rec"


class Recorder:
    """Appends the frames sent on one pipe to its recording (buffered; flushed at close)."""

    def __init__(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._file.write(MAGIC)
        self._pack, self._write, self._clock = RECORD.pack, self._file.write, time.time

    def write(self, frame: bytes) -> None:
        self._write(self._pack(self._clock(), len(frame)))
        self._write(frame)

    def close(self) -> None:
        self._file.close()


def read_recording(path: Path) -> Iterator[tuple[float, int, bytes]]:
    """Each block of a recording: (time sent, sequence number, packed payload).

    A record cut short at the end (the producer was killed) ends the recording.
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
        while True:
            head = file.read(RECORD.size)
            if len(head) < RECORD.size:
                return
            sent, length = RECORD.unpack(head)
            frame = file.read(length)
            if len(frame) < length or length < HEADER_SIZE:
                return
            yield sent, HEADER.unpack_from(frame)[4], frame[HEADER_SIZE:]
