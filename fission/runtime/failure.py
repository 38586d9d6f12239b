"""How a job process tells that the user's code failed: a traceback and one line.

The traceback (printed on the job's stderr, so it reaches the console relay and
job.log) shows the user's frames only: FISSION's own, around them, are noise to
the person who wrote the job. The one line goes to the backend, which prints it in
its ``error:`` paragraph.

When ``run`` raises and ``teardown`` then raises too, Python propagates the
teardown's exception and keeps the first one only as its ``__context__``; told
naively, the real cause would vanish. The first failure is the one reported here,
and the later one follows it, labelled with the method it came from.

Nothing here may fail while reporting: an exception whose ``__str__`` raises is
named by its type, with a note that its message could not be shown.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

import fission

_FISSION_DIR = str(Path(fission.__file__).parent)


@dataclass(frozen=True)
class FailureReport:
    #: The user's traceback(s), ready for stderr.
    text: str
    #: One line: ``RuntimeError: boom (job.py, line 12)``, the later failure after it.
    summary: str


def report(error: BaseException,
           not_failures: tuple[type[BaseException], ...] = ()) -> FailureReport:
    """The report of ``error``, the exception that ended the job's code.

    An exception that ``error`` interrupted on its way out of FISSION's call of
    the user's code (``run`` raised, then ``teardown`` raised in the ``finally``)
    is the first failure and is reported first. Types in ``not_failures`` (a stop
    request) never count as a first failure.
    """
    first = _earlier_failure(error, not_failures)
    if first is None:
        return FailureReport(_traceback(error), _summary(error))
    label = f"{_user_function(error)}() raised too"
    return FailureReport(
        f"{_traceback(first)}\nThen {label}:\n{_traceback(error)}",
        f"{_summary(first)}; then {label}: {_summary(error)}",
    )


def message_of(error: BaseException) -> str:
    """``str(error)``, or a note saying it could not be shown."""
    try:
        return str(error)
    except Exception as failure:  # noqa: BLE001 - the report must never fail
        return f"(its message could not be shown: str() raised {type(failure).__name__})"


def headline(error: BaseException) -> str:
    """``RuntimeError: boom``, or just ``KeyboardInterrupt`` for an empty message."""
    message = message_of(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _summary(error: BaseException) -> str:
    user_tb = _user_traceback(error.__traceback__)
    where = traceback.extract_tb(user_tb)[-1] if user_tb is not None else None
    place = f" ({Path(where.filename).name}, line {where.lineno})" if where else ""
    return f"{headline(error)}{place}"


def _traceback(error: BaseException) -> str:
    if error.__cause__ is None:
        error.__suppress_context__ = True  # not "during handling of" our own internals
    user_tb = _user_traceback(error.__traceback__)
    return "".join(traceback.format_exception(type(error), error, user_tb))


def _is_fission(tb: TracebackType) -> bool:
    return tb.tb_frame.f_code.co_filename.startswith(_FISSION_DIR)


def _user_traceback(tb: TracebackType | None) -> TracebackType | None:
    """The traceback from the user's first frame to their last one.

    FISSION's frames before (the runner) and after (a signal handler raising
    MemoryLimitError, a FISSION call that checked its arguments) are left out.
    """
    while tb is not None and _is_fission(tb):
        tb = tb.tb_next
    entries = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    while entries and _is_fission(entries[-1]):
        entries.pop()
    trimmed = None
    for entry in reversed(entries):
        trimmed = TracebackType(trimmed, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return trimmed


def _user_function(error: BaseException) -> str:
    user_tb = _user_traceback(error.__traceback__)
    return user_tb.tb_frame.f_code.co_name if user_tb is not None else "the job"


def _earlier_failure(error: BaseException,
                     not_failures: tuple[type[BaseException], ...]) -> BaseException | None:
    """The exception ``error`` was raised while handling, if it left the user's code too.

    ``caller`` is FISSION's frame that called the user's code ``error`` came out of
    (the runner's ``run``, which calls ``teardown`` in a ``finally``). An exception
    in ``error``'s context passed through that same frame only if it came out of
    the user's code as well (``run``): one raised and handled inside ``teardown``
    never reaches it.
    """
    caller: FrameType | None = None
    tb = error.__traceback__
    while tb is not None and _is_fission(tb):
        caller, tb = tb.tb_frame, tb.tb_next
    if caller is None or tb is None:
        return None
    context = error.__context__
    while context is not None:
        if any(frame is caller for frame in _frames(context.__traceback__)):
            return None if isinstance(context, not_failures) else context
        context = context.__context__
    return None


def _frames(tb: TracebackType | None) -> list[FrameType]:
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    return frames
