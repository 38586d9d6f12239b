"""``fission credentials init`` and ``fission credentials export NODE_IP FILE``.

Both run in the project folder (where ``manage.py`` is): the credentials belong to
the project, and ``export`` signs a node's certificate with the project's authority.
"""

from __future__ import annotations

from argparse import Namespace

from fission.cli.context import CommandError, Context


def run(ctx: Context, args: Namespace) -> int:
    from fission.security.credentials import export_node, folder, init_project

    if not (ctx.project / "manage.py").is_file():
        raise CommandError(f"{ctx.project} is not a FISSION project (it has no manage.py); "
                           "run 'fission credentials' in the project folder")
    if args.action == "init":
        credentials, made = init_project(ctx.project)
        state = "made" if made else "already has"
        print(f"project {credentials.project} {state} its credentials in "
              f"{folder(ctx.project)}", file=ctx.stdout)
        return 0
    export_node(ctx.project, args.node_ip, args.file)
    print(f"wrote the credentials of node {args.node_ip} to {args.file}. Copy it to the node "
          f"(readable by its owner only), delete it here, and start the node with: fission "
          f"node --client CLIENT_IP --host {args.node_ip} --credentials FILE", file=ctx.stdout)
    return 0
