"""The snapshots of a job's state that its backend keeps (see fission/runtime/state.py).

They are kept by the client, where a node's death cannot take them: a replacement
(a failover under ``run``, a restart under ``simulate`` and ``run``) is restored from
one of them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fission.backends.lifecycle import Message
    from fission.core.jobs import BaseJob
    from fission.core.network import Network


class Snapshots:
    """The snapshots of one job kept by its backend: the latest few, newest last.

    A replacement needs the latest one no later than what its consumers still need
    (what they had not received, the dead copy's outputs cannot give again), so a
    few older ones are kept too. When acknowledgements say how far back that is
    (:meth:`hold`), older ones are kept until a newer one is no later than it: a
    copy that ran ahead of consumers cut off from it must not have forgotten the
    snapshot they need (it would start again from run 0). :data:`LIMIT` bounds them.
    """

    KEPT = 4
    #: At most this many are kept, whatever acknowledgements hold.
    LIMIT = 1024

    def __init__(self) -> None:
        self._kept: list[tuple[int, bytes]] = []
        self._held = math.inf

    def add(self, seq: int, state: bytes) -> None:
        if self._kept and seq <= self._kept[-1][0]:
            return  # a late one of a copy that was replaced
        self._kept.append((seq, state))
        self._trim()

    def hold(self, seq: float) -> None:
        """A replacement may need the latest snapshot no later than run ``seq``."""
        self._held = seq
        self._trim()

    def _trim(self) -> None:
        kept = self._kept
        while len(kept) > self.LIMIT or (len(kept) > self.KEPT and kept[1][0] <= self._held):
            del kept[0]

    def restart_from(self, seq: int) -> None:
        """A replacement continues at ``seq``: later snapshots of the copy it replaced
        are dropped, so the replacement's own take their place."""
        self._kept = [kept for kept in self._kept if kept[0] <= seq]

    def oldest(self) -> int:
        """The run the oldest snapshot kept was taken before (0 if none): producers
        must keep their blocks from there on."""
        return self._kept[0][0] if self._kept else 0

    def seqs(self) -> list[int]:
        """The runs the kept snapshots were taken before, oldest first."""
        return [seq for seq, _ in self._kept]

    def latest(self, before: float = math.inf) -> tuple[int, bytes | None]:
        """The newest snapshot with ``seq <= before``; ``(0, None)`` (start afresh) if none."""
        for seq, state in reversed(self._kept):
            if seq <= before:
                return seq, state
        return 0, None


def keep_snapshot(snapshots: Snapshots, network: Network, job: BaseJob,
                  message: dict) -> list[Message]:
    """Keep the snapshot a ``snapshot`` report of ``job`` carries; the ``covered``
    messages that tell its producers which blocks no replacement can need any more."""
    if message.get("data") is None:
        return []
    snapshots.add(int(message["seq"]), message["data"])
    return [(network.pipes[pipe.id].source,
             {"op": "covered", "pipe": pipe.id, "seq": snapshots.oldest() * pipe.BLOCK_COUNT})
            for pipe in job.inputs]
