"""``python3 manage.py NET simulate [--duration SECONDS] [--record PIPE,...]``:

Every job on this machine.
"""

from __future__ import annotations

from argparse import Namespace

from fission.cli.context import Context


def run(ctx: Context, args: Namespace) -> int:
    # A clear error for a bad name or a missing folder, before importing the backend.
    network = ctx.network_dir().name
    from fission.backends.simulate import simulate

    return int(simulate(ctx.project, network, duration=args.duration, record=args.record))
