"""``python3 manage.py NET top [--once [--json]]``: the running NET's figures in the terminal.

It reads the dashboard of the backend running NET (its address and token are in
``NET/.fission/run.json``), so it shows what the web page shows: per job and per node.
"""

from __future__ import annotations

import json
from argparse import Namespace

from fission.cli.context import CommandError, Context


def run(ctx: Context, args: Namespace) -> int:
    from fission.cli.top import Top

    if args.json and not args.once:
        raise CommandError("top --json prints one snapshot: use it with --once")
    top = Top(ctx.project, ctx.network_dir().name)
    if args.once:
        snapshot = top.snapshot()
        if args.json:
            print(json.dumps(snapshot, indent=1))
        else:
            top.print(snapshot)
        return 0
    top.live()
    return 0
