"""``python3 manage.py NET send JOB_ID [TEXT | -]``: lines to an InteractiveJob of NET.

TEXT is one line. Without TEXT, or with ``-``, every line of stdin is sent as one line
of its own, in order, until stdin ends: a file or a pipe of any length, no limit of
the command line. A terminal as stdin is refused rather than waited on, since that is
most likely a forgotten TEXT.
"""

from __future__ import annotations

import sys
from argparse import Namespace
from collections.abc import Iterable, Iterator

from fission.cli.context import CommandError, Context

STDIN = "-"


def run(ctx: Context, args: Namespace) -> int:
    network = ctx.network_dir().name
    from fission.backends.console import send_line, send_lines

    # Prints nothing on success; NotRunningError (a FissionError) becomes exit 1.
    if args.text is not None and args.text != STDIN:
        send_line(ctx.project, network, args.job_id, args.text)
        return 0
    if args.text is None and sys.stdin.isatty():
        raise CommandError(f"send needs TEXT, or lines on stdin: python3 manage.py {network} "
                           f"send {args.job_id} TEXT, or ... send {args.job_id} - < FILE")
    send_lines(ctx.project, network, args.job_id, _lines(sys.stdin))
    return 0


def _lines(stream: Iterable[str]) -> Iterator[str]:
    """Each line of ``stream`` without its line ending (\\n or \\r\\n)."""
    for line in stream:
        yield line.removesuffix("\n").removesuffix("\r")
