"""``python3 manage.py NET collect``: every node's job logs into NET/collection/<ip>/."""

from __future__ import annotations

from argparse import Namespace

from fission.cli.context import Context


def run(ctx: Context, args: Namespace) -> int:
    network = ctx.network_dir().name
    from fission.backends.run import collect

    return int(collect(ctx.project, network))
