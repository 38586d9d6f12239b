"""``top``: a running network's figures, per job and per node, in the terminal.

The data come from the network's dashboard (``/snapshot``, with the run's token from
``run.json``), so ``top`` and the web page never disagree; rich draws the tables.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from fission.backends.console import running_info
from fission.config import SETTINGS
from fission.errors import NotRunningError

#: Seconds between two refreshes of the live view.
REFRESH = 1.0
#: Seconds a snapshot may take: the dashboard imports its libraries at its first request,
#: which takes seconds on a small or busy machine (a network that has stopped answers at
#: once: its run.json is gone, or its port refuses).
TIMEOUT = 30.0


class Top:
    def __init__(self, project: Path, network: str) -> None:
        self.project, self.network = Path(project), network
        info = running_info(self.project, network)
        if "dashboard" not in info:
            raise NotRunningError(
                f"network {network!r} runs without a dashboard (DASHBOARD = None in "
                f"{network}/config.py), and top reads its figures from it; set DASHBOARD "
                f"(default {SETTINGS['DASHBOARD']!r}) and start the network again")
        self._url = info["dashboard"] + "snapshot"
        self._token = info["token"]
        self._tls = None
        if self._url.startswith("https:"):
            from fission.security.credentials import project_credentials

            self._tls = ssl.create_default_context(
                cadata=project_credentials(self.project).authority)

    def snapshot(self) -> dict[str, Any]:
        """The dashboard's current snapshot; NotRunningError once the network has ended."""
        request = urllib.request.Request(self._url,
                                         headers={"Authorization": f"Bearer {self._token}"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT, context=self._tls) as response:
                return json.load(response)
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise NotRunningError(f"network {self.network!r} did not answer at {self._url} "
                                  f"({error}); has it stopped?") from None

    def print(self, snapshot: dict[str, Any]) -> None:
        _console().print(render(snapshot))

    def live(self) -> None:
        """Redraw every :data:`REFRESH` seconds until Ctrl+C or the network's end."""
        console = _console()
        try:
            with Live(render(self.snapshot()), console=console, auto_refresh=False) as live:
                while True:
                    time.sleep(REFRESH)
                    try:
                        live.update(render(self.snapshot()), refresh=True)
                    except NotRunningError:
                        break
        except KeyboardInterrupt:
            return
        console.print(f"FISSION: network {self.network} is no longer running")


def render(snapshot: dict[str, Any]) -> Group:
    jobs = Table(title=f"FISSION {snapshot['network']} ({snapshot['backend']}): jobs",
                 title_justify="left", box=None, pad_edge=False)
    for column in ("id", "job", "node", "state"):
        jobs.add_column(column)
    for column in ("runs", "runs/s", "blocks in", "blocks out", "waiting", "dummies",
                   "dropped", "garbage", "restarts", "CPU %", "RSS MB"):
        jobs.add_column(column, justify="right")
    backing = {pipe["to"] for pipe in snapshot["pipes"] if pipe["backing_up"]}
    for job in snapshot["jobs"]:
        waiting = str(sum(job["waiting"].values()))
        jobs.add_row(str(job["id"]), job["name"], job["node"], job["state"], str(job["runs"]),
                     f"{job['runs_per_s']:g}", str(sum(job["blocks_in"].values())),
                     str(max(job["blocks_out"].values(), default=0)),
                     f"[bold red]{waiting}[/]" if job["id"] in backing else waiting,
                     str(job["dummies"]), str(job["dropped"]), str(job["garbage"]),
                     str(job["restarts"]), f"{job['cpu_percent']:g}",
                     f"{job['rss'] / 2**20:.1f}")
    parts: list[Table] = [jobs]
    if snapshot["nodes"]:
        nodes = Table(title="nodes", title_justify="left", box=None, pad_edge=False)
        nodes.add_column("node")
        nodes.add_column("up")
        for column in ("cpus", "CPU free", "memory free", "disk free", "swap", "TQ", "heartbeat"):
            nodes.add_column(column, justify="right")
        nodes.add_column("jobs")
        for node in snapshot["nodes"]:
            nodes.add_row(node["ip"], "up" if node["up"] else "[red]down[/]",
                          str(node.get("cpus", "")), f"{node.get('cpu', 0):.0f} %",
                          f"{node.get('memory', 0) / 2**20:,.0f} MB",
                          f"{node.get('disk', 0) / 2**30:,.1f} GB",
                          f"{node.get('swap', 0):.0f} %", str(node.get("TQ", "")),
                          f"{node['age']:.1f} s ago",
                          ", ".join(map(str, node["jobs"])) or "-")
        parts.append(nodes)
    return Group(*parts)


def _console() -> Console:
    """The terminal, or 160 columns where output goes to a file (rich's default is 80)."""
    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=160)
