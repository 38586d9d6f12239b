"""``python3 manage.py NET startnetwork``: a new network package NET/ with its config.py."""

from __future__ import annotations

from argparse import Namespace

from fission.cli import scaffold
from fission.cli.context import Context, check_network_name
from fission.config import SETTINGS


def run(ctx: Context, args: Namespace) -> int:
    name = check_network_name(ctx.network or "")
    dest = scaffold.create(
        ctx.project / name,
        [("package", ".", {"package": name}),
         ("network", ".", {**_defaults(), "network": name,
                           "project": _in_f_string(ctx.project.name)})],
    )
    print(f"created network {name} in {dest}", file=ctx.stdout)
    print(
        f"next: add jobs to {name}/config.py, then: python3 manage.py {name} simulate",
        file=ctx.stdout,
    )
    return 0


def _defaults() -> dict[str, str]:
    """Each setting's default as Python source, for the template's ``$NAME`` placeholders:
    a new config.py shows the defaults config.SETTINGS holds, not a copy that could drift."""
    return {name: repr(value) for name, value in SETTINGS.items()}


def _in_f_string(text: str) -> str:
    """``text`` escaped to stand for itself inside the template's ``f"..."`` strings."""
    return (text.replace("\\", "\\\\").replace('"', '\\"')
            .replace("{", "{{").replace("}", "}}"))
