"""The signals that stop a backend: Ctrl+C, and what ``kill``, ``timeout`` and systemd send.

SIGINT (Ctrl+C), SIGTERM and SIGHUP all mean "stop the network": each takes the
path Ctrl+C always took (jobs stopped and torn down, the summary printed, the
temporary folders removed), so ``timeout 60 python3 manage.py NET simulate`` or
``systemctl stop`` leave nothing behind. A signal that was ignored when FISSION
started (``nohup`` ignores SIGHUP) stays ignored, SIGINT excepted.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType

#: The signals that stop a backend, as a terminal, ``kill``/``timeout`` and a closed terminal send.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

Handler = Callable[[int, FrameType | None], None]


def heeded_stop_signals() -> list[int]:
    """SIGINT, as always, and the stop signals this process was not started to ignore.

    ``nohup`` ignores SIGHUP on purpose; a shell's background job ignores SIGINT too,
    but Ctrl+C (and a test's SIGINT) always stopped FISSION, so SIGINT stays heeded.
    """
    return [signum for signum in STOP_SIGNALS if signum == signal.SIGINT
            or signal.getsignal(signum) is not signal.SIG_IGN]


def handle_stop_signals(handler: Handler) -> Callable[[], None]:
    """Call ``handler`` for each stop signal from now on; returns what undoes that.

    Main thread only. A backend installs it around its supervision and undoes it only
    once every job is stopped, so a second signal cannot cut the stopping short.
    """
    previous = {signum: signal.signal(signum, handler) for signum in heeded_stop_signals()}

    def restore() -> None:
        for signum, old in previous.items():
            signal.signal(signum, old)

    return restore


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """Make SIGTERM and SIGHUP raise KeyboardInterrupt, as Ctrl+C does, while the block runs.

    This covers the moments before and after a backend's client loop has its own
    handler (loading the config, removing temporary folders): the block unwinds
    as it would on Ctrl+C, ``with`` blocks clean up, and the CLI exits 130.
    """
    restore = handle_stop_signals(_interrupt)
    try:
        yield
    finally:
        restore()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def interruption(signum: int | None) -> str:
    """How a summary says what stopped the network: 'interrupted', 'interrupted by SIGTERM'."""
    if signum is None or signum == signal.SIGINT:
        return "interrupted"
    return f"interrupted by {signal.Signals(signum).name}"
