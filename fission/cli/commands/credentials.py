"""``fission credentials init`` and ``fission credentials export NODE_IP FILE``.

Both run in the project folder (where ``manage.py`` is): the credentials belong to
the project, and ``export`` signs a node's certificate with the project's authority.
``export`` ends with the command that starts the node, filled in from the configs of
the project's networks that list it, so that a SCHEDULER_PORT other than the default
is not lost between the client's config and the node's command line.
"""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from fission.cli.context import CommandError, Context, check_network_name
from fission.config import SETTINGS, Settings, load_settings
from fission.errors import FissionError


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
          f"(readable by its owner only), delete it here, and start the node with: "
          f"{node_command(ctx.project, args.node_ip)}", file=ctx.stdout)
    return 0


def node_command(project: Path, node_ip: str) -> str:
    """The ``fission node`` command line for ``node_ip``, as far as the configs tell.

    The networks whose NODES list the node say which client and port it serves (all
    networks if none lists it); a value they disagree on stays a placeholder, with the
    choices named. A network whose config does not load is left out: exporting
    credentials must not depend on every network being correct.
    """
    networks = _networks(project)
    serving = [s for s in networks if any(node.matches(node_ip) for node in s.nodes)]
    networks = serving or networks
    clients = {s.client_ip for s in networks}
    client = clients.pop() if len(clients) == 1 else "CLIENT_IP"
    ports = {s.scheduler_port for s in networks}
    command = f"fission node --client {client}"
    if len(ports) == 1:
        port = ports.pop()
        if port != SETTINGS["SCHEDULER_PORT"]:
            command += f" --port {port}"
    elif ports:
        choices = ", ".join(f"{s.scheduler_port} for {s.name}" for s in networks)
        command += f" --port PORT (the SCHEDULER_PORT of the network it serves: {choices})"
    return f"{command} --host {node_ip} --credentials FILE"


def _networks(project: Path) -> list[Settings]:
    found = []
    for config in sorted(project.glob("*/config.py")):
        try:
            found.append(load_settings(project, check_network_name(config.parent.name)))
        except FissionError:
            continue
    return found
