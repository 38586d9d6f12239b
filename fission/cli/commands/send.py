"""``python3 manage.py NET send JOB_ID TEXT``: one line to an InteractiveJob of NET."""

from __future__ import annotations

from argparse import Namespace

from fission.cli.context import Context


def run(ctx: Context, args: Namespace) -> int:
    network = ctx.network_dir().name
    from fission.backends.console import send_line

    # Prints nothing on success; NotRunningError (a FissionError) becomes exit 1.
    send_line(ctx.project, network, args.job_id, args.text)
    return 0
