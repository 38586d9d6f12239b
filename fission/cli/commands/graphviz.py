"""``python3 manage.py NET graphviz [--format png|svg|pdf]``: a picture of the network.

Writes ``NET/network.gv`` (Graphviz source: one box per job, named by class and id,
one arrow per pipe, labelled with its id) and renders it with Graphviz's ``dot`` to
``NET/network.<format>``. Under a running or the last ``run`` (``NET/local/events.jsonl``)
the jobs are grouped by the node each was last placed on. Without ``dot`` the source
is still written, and the message says how to install ``dot`` and render it.
"""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from fission.cli.context import CommandError, Context

FORMATS = ("png", "svg", "pdf")


def run(ctx: Context, args: Namespace) -> int:
    folder = ctx.network_dir()
    try:
        import graphviz
    except ImportError:
        raise CommandError("'graphviz' needs the Python package graphviz: "
                           "pip install graphviz") from None
    from fission.config import load_settings
    from fission.events import placements

    settings = load_settings(ctx.project, folder.name)
    nodes = placements(folder / "local" / "events.jsonl")
    graph = graphviz.Digraph(folder.name, graph_attr={"rankdir": "LR", "label": folder.name},
                             node_attr={"shape": "box", "style": "rounded,filled",
                                        "fillcolor": "lightblue"})
    by_node: dict[str | None, list] = {}
    for job in settings.network.jobs:
        by_node.setdefault(nodes.get(job.id), []).append(job)
    for node, jobs in by_node.items():
        target = graph if node is None else graphviz.Digraph(f"cluster_{node}")
        if node is not None:
            target.attr(label=f"node {node}", style="dashed")
        for job in jobs:
            target.node(f"job{job.id}", f"{type(job).__name__} {job.id}")
        if node is not None:
            graph.subgraph(target)
    for pipe_id, link in settings.network.pipes.items():
        graph.edge(f"job{link.source}", f"job{link.destination}", label=str(pipe_id),
                   tooltip=f"{type(link.pipe).__name__}({pipe_id})")
    source = folder / "network.gv"
    graph.save(source)
    picture = folder / f"network.{args.format}"
    try:
        graphviz.render("dot", args.format, source, outfile=picture)
    except graphviz.ExecutableNotFound:
        print(f"wrote {_shown(ctx, source)}, but no picture: Graphviz's 'dot' program is not "
              "installed (Debian, Ubuntu, Raspberry Pi OS: sudo apt install graphviz); then run "
              f"this again, or: dot -T{args.format} {_shown(ctx, source)} -o "
              f"{_shown(ctx, picture)}", file=ctx.stderr)
        return 1
    print(f"wrote {_shown(ctx, picture)} (source: {_shown(ctx, source)})", file=ctx.stdout)
    return 0


def _shown(ctx: Context, path: Path) -> str:
    return str(path.relative_to(ctx.project))
