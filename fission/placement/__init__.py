"""Placement: which node runs which job, decided by pure code.

The distributed backend gathers what it knows of the nodes that are up into
:class:`NodeView` objects and asks this package where each job goes. Keeping the
rules free of sockets, Dask and clocks means every rule (``DEFAULT_NODE`` first, then
``GROUPS`` in order, a job's ``preference``, capacity) is tested without a cluster,
and the backend only carries the answer out.
"""

from fission.placement.policy import choose, place_all, replace, score
from fission.placement.view import NodeView

__all__ = ["NodeView", "choose", "place_all", "replace", "score"]
