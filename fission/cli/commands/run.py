"""``python3 manage.py NET run``: the distributed backend, which this release does not have."""

from __future__ import annotations

from argparse import Namespace

from fission.cli.context import Context


def run(ctx: Context, args: Namespace) -> int:
    print(
        "error: `run` needs the distributed backend, which is not part of this release yet; "
        f"use `python3 manage.py {ctx.network} simulate` to run the network on this machine",
        file=ctx.stderr,
    )
    return 2
