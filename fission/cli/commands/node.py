"""``fission node --client CLIENT_IP --host NODE_IP (--credentials FILE | --insecure)
[--port PORT] [--cpus N]``."""

from __future__ import annotations

from argparse import Namespace

from fission.cli.context import CommandError, Context


def run(ctx: Context, args: Namespace) -> int:
    if args.cpus is not None and args.cpus < 1:
        raise CommandError(f"--cpus must be at least 1 (got {args.cpus})")
    _check_local_address(args.host)
    credentials = None
    if args.credentials is not None:
        from fission.security.credentials import load_bundle

        credentials = load_bundle(args.credentials)
    from fission.backends.agent import main

    return main(args.client, args.port, args.host, args.cpus, credentials)


def _check_local_address(host: str) -> None:
    """Fail now, in words, if this machine cannot listen on ``host``."""
    from fission.backends.addresses import can_listen_on

    why = can_listen_on(host)
    if why is not None:
        raise CommandError(
            f"--host {host}: this machine cannot listen on that address ({why}); "
            "give one of its own addresses, the one listed for it in the network's NODES"
        )
