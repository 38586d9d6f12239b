"""``python3 manage.py NET run [--duration SECONDS] [--record PIPE,...]``:

The network on its nodes.
"""

from __future__ import annotations

from argparse import Namespace

from fission.cli.context import Context


def run(ctx: Context, args: Namespace) -> int:
    network = ctx.network_dir().name
    from fission.backends.run import run_network

    return int(run_network(ctx.project, network, duration=args.duration, record=args.record))
