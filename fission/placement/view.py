"""NodeView: what placement knows of one node that is up, frozen at one moment.

The backend builds one view per worker from its own bookkeeping (address, load,
link quality) and the ``NODES`` entry the worker's IP matched. Placement never
mutates a view: taking a slot yields a new one (:meth:`NodeView.with_job`), so the
caller's list stays a faithful snapshot and a failed placement leaves nothing half done.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fission.core.nodes import BaseNode, NodeInfo


@dataclass(frozen=True)
class NodeView:
    """One node that is up, as placement sees it.

    ``address`` is the backend's handle for it (a Dask worker address; ``"local"`` for
    the client); ``node`` is the ``NODES`` entry its ``ip`` matched (a ``LocalNode``
    for the client); ``cpus`` is its capacity in jobs and ``jobs`` how many it runs now.
    ``cpu`` is the free CPU percentage, ``memory`` and ``disk`` free bytes, ``swap`` the
    used swap percentage and ``TQ`` the link quality (0-255, 255 without batman-adv).
    """

    address: str
    ip: str
    node: BaseNode
    cpus: int
    jobs: int = 0
    cpu: float = 100.0
    memory: int = 0
    disk: int = 0
    swap: float = 0.0
    TQ: int = 255  # noqa: N815 - the name users know from the original
    local: bool = False

    @property
    def free_slots(self) -> int:
        """How many more jobs fit: ``cpus - jobs``, never below 0."""
        return max(self.cpus - self.jobs, 0)

    @property
    def full(self) -> bool:
        return self.free_slots == 0

    def info(self) -> NodeInfo:
        """The view a job's ``preference(nodes)`` receives."""
        return NodeInfo(node=self.node, ip=self.ip, cpu=self.cpu, memory=self.memory,
                        disk=self.disk, swap=self.swap, TQ=self.TQ)

    def with_job(self) -> NodeView:
        """This node with one more job placed on it."""
        return replace(self, jobs=self.jobs + 1)
