"""``fission node --client CLIENT_IP --host NODE_IP [--port PORT] [--cpus N]``."""

from __future__ import annotations

from argparse import Namespace

from fission.cli.context import CommandError, Context


def run(ctx: Context, args: Namespace) -> int:
    if args.cpus is not None and args.cpus < 1:
        raise CommandError(f"--cpus must be at least 1 (got {args.cpus})")
    from fission.backends.agent import main

    return main(args.client, args.port, args.host, args.cpus)
