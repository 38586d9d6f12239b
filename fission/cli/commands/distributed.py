"""`manage.py NET run` and `manage.py NET collect`: the distributed backend, not yet here."""

from __future__ import annotations

from argparse import Namespace

from fission.cli.context import Context

_WHAT = {
    "run": "runs the network on its nodes",
    "collect": "gathers the logs of a distributed run",
}


def run(ctx: Context, args: Namespace) -> int:
    print(
        f"error: `{args.command}` {_WHAT[args.command]}, which needs the distributed backend; it "
        "is not part of this release yet. `python3 manage.py "
        f"{ctx.network} simulate` runs the network on this machine, with results in "
        f"{ctx.network}/simulation/",
        file=ctx.stderr,
    )
    return 2
