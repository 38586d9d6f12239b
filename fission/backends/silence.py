"""Pure: how long each node has been silent, counting only time the client could hear it.

The scheduler that reads the nodes' heartbeats runs on one event loop in the client and
shares the client's CPU with everything else there. While that loop is held up, heartbeats
that have arrived wait unread, and the time since each node's last heartbeat *was read*
grows for every node alike. Measured with 20 and 50 agents of a 2-core machine
(benchmarks/scale.py), that was the whole of the false failovers at start-up: when 50
nodes joined and 40 job processes started at once, the client's loop read heartbeats up to
7 s late while every agent sent them on time (no agent's own loop was held up for
more than 0.7 s), and the nodes were declared dead for the client's slowness.

:class:`SilenceClock` is read on a fixed tick (the Membership plugin's check, every
:data:`~fission.backends.dask_cluster.CHECK_INTERVAL` seconds, on that same loop). The
time a tick comes late by is time the loop could not have read a heartbeat either: it is
*deaf* time. A node's silence is the time since its last heartbeat was read less the deaf
time since then, so ``NODE_TIMEOUT`` is counted in time the client was listening. A node
that really went quiet is still removed ``NODE_TIMEOUT`` after its last heartbeat, plus
however long the client itself was stalled meanwhile; nothing else is added.
"""

from __future__ import annotations

from collections.abc import Mapping


class SilenceClock:
    """Each node's silence in listening time; ``tick``: the seconds between two readings."""

    def __init__(self, tick: float) -> None:
        self._tick = tick
        self._last: float | None = None
        #: Deaf seconds so far: the sum of every reading's lateness.
        self.deaf = 0.0
        self._heard: dict[str, tuple[float, float]] = {}  # node -> (read at, deaf then)

    def read(self, now: float, heard: Mapping[str, float]) -> dict[str, float]:
        """Advance to ``now``; ``heard`` maps each node up to the time its latest
        heartbeat was read. Returns each of those nodes' silence, in seconds.

        A heartbeat first seen at this reading was read at some time since the last
        one; if this reading is late, the stall may have come before or after it. It is
        given the benefit of the doubt: as much of the stall as fits after it is not
        counted against it, which can delay a removal by one stall at most.
        """
        lateness = 0.0 if self._last is None else max(0.0, now - self._last - self._tick)
        self.deaf += lateness
        self._last = now
        known: dict[str, tuple[float, float]] = {}
        silences: dict[str, float] = {}
        for node, read_at in heard.items():
            seen = self._heard.get(node)
            if seen is None or seen[0] != read_at:
                seen = (read_at, self.deaf - min(lateness, max(0.0, now - read_at)))
            known[node] = seen
            silences[node] = max(0.0, now - read_at - (self.deaf - seen[1]))
        self._heard = known
        return silences
