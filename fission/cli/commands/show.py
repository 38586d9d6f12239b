"""``python3 manage.py NET show``: the network's jobs, pipes and nodes, as tables.

Under a running or the last ``run`` (``NET/local/events.jsonl``) each job's row shows
the node it was last placed on.
"""

from __future__ import annotations

from argparse import Namespace

from fission.cli.context import Context


def run(ctx: Context, args: Namespace) -> int:
    folder = ctx.network_dir()
    from rich.console import Console
    from rich.table import Table

    from fission.config import load_settings
    from fission.events import placements

    settings = load_settings(ctx.project, folder.name)
    placed = placements(folder / "local" / "events.jsonl")
    network = settings.network
    console = Console(file=ctx.stdout)

    jobs = Table(title=f"{folder.name}: {len(network.jobs)} jobs")
    for column in ("id", "job", "inputs", "outputs", "groups", "node"):
        jobs.add_column(column)
    for job in network.jobs:
        jobs.add_row(str(job.id), type(job).__name__,
                     ", ".join(str(p.id) for p in job.inputs) or "-",
                     ", ".join(str(p.id) for p in job.outputs) or "-",
                     ", ".join(job.groups()) + (f" (default {job.DEFAULT_NODE})"
                                                if job.DEFAULT_NODE else ""),
                     placed.get(job.id, "-"))
    console.print(jobs)

    pipes = Table(title=f"{len(network.pipes)} pipes")
    for column in ("id", "pipe", "from", "to", "BLOCK_COUNT", "optional"):
        pipes.add_column(column)
    for pipe_id, link in network.pipes.items():
        pipes.add_row(str(pipe_id), type(link.pipe).__name__,
                      network.job(link.source).name, network.job(link.destination).name,
                      str(link.pipe.BLOCK_COUNT), "yes" if link.pipe.optional else "no")
    console.print(pipes)

    if settings.nodes:
        nodes = Table(title=f"{len(settings.nodes)} nodes (NODES)")
        for column in ("node", "kind", "groups", "cpus"):
            nodes.add_column(column)
        for node in settings.nodes:
            nodes.add_row(node.ip, type(node).__name__, ", ".join(node.groups()),
                          str(node.cpus or "all"))
        console.print(nodes)
    else:
        console.print("NODES is empty: this network runs with simulate only")
    return 0
