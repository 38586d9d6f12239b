"""``NODES`` from a CSV file: one node per row, as the original FISSION documented it.

Each row is ``name, ip[, group, group, ...]``::

    mic-node, 192.168.4.2, HAS_MIC, ALL
    plain,    192.168.4.3
    rest,     192.168.4.*

The name is for display; the address may be a pattern (a :class:`MultiNode`); the groups
the node serves follow, and without any it serves ``ALL``. Blank rows, rows starting with
``#`` and a first row ``name, ip, ...`` (a header) are skipped. (The original's loader
meant the same columns but failed on the groups of every row.)
"""

from __future__ import annotations

import csv
from pathlib import Path

from fission.core.nodes import BaseNode, MultiNode
from fission.errors import ConfigError

_PATTERN_CHARS = frozenset("*?[]")


def read_nodes_csv(path: Path) -> list[BaseNode]:
    """The nodes listed in the CSV file ``path``; ConfigError naming the file and row."""
    try:
        with Path(path).open(newline="") as handle:
            rows = list(csv.reader(handle, skipinitialspace=True))
    except OSError as error:
        raise ConfigError(f"NODES: cannot read {path}: {error.strerror or error}") from None
    except (csv.Error, UnicodeDecodeError) as error:
        raise ConfigError(f"NODES: {path} is not a CSV file of nodes ({error})") from None
    nodes: list[BaseNode] = []
    for number, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and len(cells) > 1 and cells[1].lower() == "ip":
            continue  # a header row
        if len(cells) < 2 or not cells[1]:
            raise ConfigError(
                f"NODES: {path}, row {number}: a row is 'name, ip[, group, ...]', got {row!r}"
            )
        name, ip, groups = cells[0], cells[1], [cell for cell in cells[2:] if cell]
        kind = MultiNode if _PATTERN_CHARS & set(ip) else BaseNode
        try:
            node = kind(ip, name=name)
        except ConfigError as error:
            raise ConfigError(f"NODES: {path}, row {number}: {error}") from None
        if groups:
            node.GROUPS = tuple(groups)
        nodes.append(node)
    if not nodes:
        raise ConfigError(f"NODES: {path} lists no node (rows are 'name, ip[, group, ...]')")
    return nodes
