"""Nodes: the machines a network may run on, and what placement knows of them.

``simulate`` runs every job on this machine and reads none of this; the
distributed ``run`` places jobs on the nodes listed in ``NODES``.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from fission.errors import ConfigError


class BaseNode:
    """One machine, by IP address. ``cpus`` is its capacity in jobs (0: its CPU count).

    ``GROUPS`` names the groups of jobs it serves; ``"ALL"`` is every ordinary job.
    ``name`` is a display name (the first column of a CSV file of nodes); it defaults to
    the address.
    """

    GROUPS: ClassVar[str | Sequence[str]] = ("ALL",)

    def __init__(self, ip: str, cpus: int = 0, name: str = "") -> None:
        if not isinstance(ip, str) or not ip:
            raise ConfigError(f"{type(self).__name__}: ip must be a non-empty string, got {ip!r}")
        if isinstance(cpus, bool) or not isinstance(cpus, int) or cpus < 0:
            raise ConfigError(
                f"{type(self).__name__}({ip!r}): cpus must be an int >= 0, got {cpus!r}"
            )
        self._check_ip(ip)
        self.ip = ip
        self.cpus = cpus
        self.name = str(name) or ip

    def _check_ip(self, ip: str) -> None:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ConfigError(f"{type(self).__name__}: {ip!r} is not an IP address") from None

    def groups(self) -> tuple[str, ...]:
        groups = self.GROUPS
        return (groups,) if isinstance(groups, str) else tuple(groups)

    def matches(self, ip: str) -> bool:
        """Whether the machine at ``ip`` is this node."""
        return ip == self.ip

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.ip!r})"


class MultiNode(BaseNode):
    """Every machine whose address matches a shell pattern, e.g. ``"192.168.4.*"``."""

    def _check_ip(self, ip: str) -> None:
        if not all(ch.isdigit() or ch in ".:*?[]-abcdefABCDEF" for ch in ip):
            raise ConfigError(f"MultiNode: {ip!r} is not an address pattern such as '192.168.4.*'")

    def matches(self, ip: str) -> bool:
        return fnmatch.fnmatchcase(ip, self.ip)


class LocalNode(BaseNode):
    """The client itself; it serves the ``LOCAL`` group."""

    GROUPS: ClassVar[str | Sequence[str]] = ("LOCAL",)

    def __init__(self, ip: str = "127.0.0.1", cpus: int = 0, name: str = "") -> None:
        super().__init__(ip, cpus, name)


@dataclass(frozen=True)
class NodeInfo:
    """What a job's ``preference(nodes)`` sees of one eligible node.

    ``cpu``, ``memory`` and ``disk`` are free percentages or bytes as the distributed
    backend measures them; ``swap`` is the used swap percentage; ``TQ`` is the link
    quality (0-255, 255 without batman-adv).
    """

    node: BaseNode
    ip: str
    cpu: float = 100.0
    memory: int = 0
    disk: int = 0
    swap: float = 0.0
    TQ: int = 255  # noqa: N815 - the name users know from the original
