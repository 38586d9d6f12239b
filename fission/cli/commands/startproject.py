"""``fission startproject NAME``: a new project folder with manage.py and shared/."""

from __future__ import annotations

from argparse import Namespace

from fission.cli import scaffold
from fission.cli.context import Context, check_project_name


def run(ctx: Context, args: Namespace) -> int:
    name = check_project_name(args.name)
    dest = scaffold.create(
        ctx.project / name,
        [("project", ".", {}), ("package", "shared", {"package": "shared"})],
    )
    print(f"created project {name} in {dest}", file=ctx.stdout)
    print(f"next: cd {name} && python3 manage.py NET startnetwork", file=ctx.stdout)
    return 0
