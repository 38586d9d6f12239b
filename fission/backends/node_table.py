"""The table of nodes `run` shows: live while it waits for them, then with their jobs.

In a terminal the table redraws itself as nodes join and their heartbeats bring
fresh numbers (rich's ``Live``); anywhere else (a pipe, a log file, CI) only the final
table is printed, once, so the output stays readable as plain text.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table


@dataclass(frozen=True)
class NodeRow:
    ip: str
    cpus: int
    cpu_free: float
    memory_free: int
    jobs: tuple[int, ...] = ()


class NodeTable:
    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.console = Console(file=stream, highlight=False, soft_wrap=False)
        self._live: Live | None = None

    @contextlib.contextmanager
    def live(self) -> Iterator[None]:
        """Redraw the table on :meth:`update` while inside, if this is a terminal."""
        if not self.console.is_terminal:
            yield
            return
        with Live(console=self.console, refresh_per_second=4, transient=True) as live:
            self._live = live
            try:
                yield
            finally:
                self._live = None

    def update(self, rows: Sequence[NodeRow]) -> None:
        if self._live is not None:
            self._live.update(render(rows))

    def show(self, rows: Sequence[NodeRow]) -> None:
        self.console.print(render(rows))


def render(rows: Sequence[NodeRow]) -> Table:
    table = Table(title="FISSION nodes", title_justify="left", box=None, pad_edge=False)
    table.add_column("node")
    table.add_column("cpus", justify="right")
    table.add_column("cpu free", justify="right")
    table.add_column("memory free", justify="right")
    table.add_column("jobs")
    for row in sorted(rows, key=lambda row: tuple(int(p) for p in row.ip.split(".")
                                                   if p.isdigit())):
        table.add_row(row.ip, str(row.cpus), f"{row.cpu_free:.0f} %",
                      f"{row.memory_free / 2**20:,.0f} MB",
                      ", ".join(map(str, row.jobs)) or "-")
    return table
