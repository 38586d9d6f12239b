"""``python3 manage.py NET collect``: results of a distributed run, not in this release."""

from __future__ import annotations

from argparse import Namespace

from fission.cli.context import Context


def run(ctx: Context, args: Namespace) -> int:
    print(
        "error: `collect` gathers the results of a distributed run, which is not part of this "
        f"release yet; `simulate` writes results to {ctx.network}/simulation/ directly",
        file=ctx.stderr,
    )
    return 2
