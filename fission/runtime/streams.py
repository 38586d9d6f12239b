"""A job's stdout and stderr: real text streams that also copy each line to job.log.

What a job prints goes to its process's stdout/stderr pipes, which the backend
relays to the console, and to the job's log. User code (and the libraries it
calls) expects ``sys.stdout`` to be a real text stream: ``.buffer`` for bytes,
``.encoding``, ``.fileno()``, ``.isatty()``, ``reconfigure()``. So the copying is
done one layer down, below a standard :class:`io.TextIOWrapper` and
:class:`io.BufferedWriter`: a raw stream that writes the bytes to the original
file descriptor and hands every complete line to a logger. Whatever is written,
text or bytes, reaches both. Only writes to the descriptor itself
(``os.write(sys.stdout.fileno(), ...)``, a child process's output) bypass the log.
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import sys


class _LoggingRaw(io.RawIOBase):
    """A raw, write-only stream: the bytes go to ``fd``, each complete line to ``logger``."""

    def __init__(self, fd: int, logger: logging.Logger, encoding: str) -> None:
        super().__init__()
        self._fd = fd
        self._logger = logger
        self._encoding = encoding
        self._partial = b""

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        written = os.write(self._fd, data)
        lines = (self._partial + bytes(memoryview(data)[:written])).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self._log(line)
        return written

    def log_partial(self) -> None:
        """Log the last line even though it never got its newline (the process ends)."""
        if self._partial:
            self._log(self._partial)
            self._partial = b""

    def close(self) -> None:
        """Log what is left; the descriptor stays open (it belongs to the process)."""
        self.log_partial()
        super().close()

    def _log(self, line: bytes) -> None:
        self._logger.info("%s", line.decode(self._encoding, errors="replace"))


def tee_std_streams(handler: logging.Handler) -> None:
    """Replace sys.stdout and sys.stderr by streams that also log to ``handler``.

    The new streams keep the originals' encoding and error handling and flush at
    each newline, so the console relay sees a line as soon as it is printed.
    """
    raws = []
    for name in ("stdout", "stderr"):
        original = getattr(sys, name)
        original.flush()
        logger = logging.getLogger(f"fission.{name}")
        logger.propagate = False
        logger.addHandler(handler)
        raw = _LoggingRaw(original.fileno(), logger, original.encoding)
        raws.append(raw)
        stream = io.TextIOWrapper(io.BufferedWriter(raw), encoding=original.encoding,
                                  errors=original.errors, line_buffering=True)
        setattr(sys, name, stream)
    atexit.register(_finish, raws)


def _finish(raws: list[_LoggingRaw]) -> None:
    """At exit: the text still buffered reaches the descriptor and, last line too, the log."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            continue  # the relay is gone or the stream was closed: nothing to flush into
    for raw in raws:
        raw.log_partial()
