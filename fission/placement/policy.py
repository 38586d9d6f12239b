"""The placement rules: which node up runs a job, and in what order jobs are placed.

The rules are the ones the tutorial promises, applied in this order:

1. a job whose ``GROUPS`` contain ``"LOCAL"`` runs on the client, full or not (the
   client is where the console and the result files are; it has nowhere else to go);
2. its ``DEFAULT_NODE``, if that node is up and has a free slot;
3. each of its ``GROUPS`` in order: among the nodes serving that group with a free
   slot, the one the job's ``preference(nodes)`` returns, else the best :func:`score`;
4. otherwise :class:`~fission.errors.AllocationError`, saying what was tried and which
   nodes are up, so the user can start a node, add capacity or relax the job's hints.

Only the client serves ``LOCAL`` and it serves nothing else: rules 2 and 3 never
pick the node marked ``local``, so ordinary jobs never crowd the machine the user
sits at. Every choice is deterministic (ties go to the smaller address), so the same
nodes and jobs always give the same placement, in tests and in logs.
"""

from __future__ import annotations

from collections.abc import Sequence

from fission.core.jobs import BaseJob
from fission.core.nodes import NodeInfo
from fission.errors import AllocationError
from fission.placement.view import NodeView

LOCAL = "LOCAL"

#: Weights of :func:`score`; they add up to 100, so a score is between 0 and 100.
SLOTS_WEIGHT, CPU_WEIGHT, TQ_WEIGHT, SWAP_WEIGHT = 40.0, 30.0, 20.0, 10.0


def score(node: NodeView) -> float:
    """How good ``node`` is for one more job, from 0 to 100; higher is better.

    ``40 * free_slots / cpus + 30 * cpu / 100 + 20 * TQ / 255 + 10 * (100 - swap) / 100``

    Free slots weigh most, so jobs spread over the nodes rather than piling onto the
    first; then free CPU (a loaded machine runs a new job slowly), link quality (a job
    behind a poor link slows every pipe it has), and last used swap (a swapping
    machine is about to slow down). Each fraction is clamped to [0, 1], and a node
    with ``cpus == 0`` counts as having no free slot. Callers break ties by address.
    """
    slots = node.free_slots / node.cpus if node.cpus > 0 else 0.0
    return (SLOTS_WEIGHT * _unit(slots)
            + CPU_WEIGHT * _unit(node.cpu / 100)
            + TQ_WEIGHT * _unit(node.TQ / 255)
            + SWAP_WEIGHT * _unit((100 - node.swap) / 100))


def choose(job: BaseJob, nodes: Sequence[NodeView]) -> NodeView:
    """The node that should run ``job`` now, by the rules in this module's docstring.

    Raises :class:`AllocationError` if no allowed node can take it, or if the job's
    ``preference`` raises or returns something other than one of the nodes (or None).
    """
    nodes = tuple(nodes)
    groups = job.groups()
    if LOCAL in groups:
        local = [node for node in nodes if node.local]
        if not local:
            raise AllocationError(
                f"{job.label} must run on the client (its GROUPS include LOCAL) but the "
                f"client is not among the nodes up ({_listing(nodes)})", job=job.id
            )
        return min(local, key=lambda node: node.address)
    if job.DEFAULT_NODE is not None:
        pinned = [node for node in nodes
                  if not node.local and not node.full and node.ip == job.DEFAULT_NODE]
        if pinned:
            return _best(pinned)
    for group in groups:
        eligible = [node for node in nodes
                    if not node.local and not node.full and group in node.node.groups()]
        if eligible:
            return _preferred(job, eligible)
    raise AllocationError(_nowhere(job, nodes), job=job.id)


def place_all(jobs: Sequence[BaseJob], nodes: Sequence[NodeView]) -> dict[int, str]:
    """Place every job, one slot each; return job id -> node address.

    Jobs with a ``DEFAULT_NODE`` go first, then the rest, each in id order: a pinned
    job should not find its node filled by unpinned jobs that could have run anywhere.
    ``nodes`` is not modified; the counts grow on copies as jobs are placed. Raises
    :class:`AllocationError` on the first job that cannot be placed (nothing is
    placed then, since nothing was started yet).
    """
    views: dict[str, NodeView] = {}
    for node in nodes:
        if node.address in views:
            raise ValueError(f"two nodes share the address {node.address!r}")
        views[node.address] = node
    placed: dict[int, str] = {}
    for job in sorted(jobs, key=lambda job: (job.DEFAULT_NODE is None, _job_id(job))):
        node = choose(job, tuple(views.values()))
        views[node.address] = node.with_job()
        placed[_job_id(job)] = node.address
    return dict(sorted(placed.items()))


def replace(jobs: Sequence[BaseJob], nodes: Sequence[NodeView]) -> dict[int, str]:
    """Place the jobs of a failed node on the nodes still up; return job id -> address.

    The rules are those of a first placement, applied to what is left: ``nodes``
    carry the jobs they already run, so the replacements take only the free slots, and
    a job pinned to the failed node falls back to its ``GROUPS``.
    """
    return place_all(jobs, nodes)


def _unit(fraction: float) -> float:
    return min(max(fraction, 0.0), 1.0)


def _best(nodes: Sequence[NodeView]) -> NodeView:
    """The highest score; the smaller address among equals, so placement is repeatable."""
    return min(nodes, key=lambda node: (-score(node), node.address))


def _preferred(job: BaseJob, eligible: list[NodeView]) -> NodeView:
    """The node the job's ``preference(nodes)`` picks among ``eligible``, else the best."""
    preference = getattr(job, "preference", None)
    if not callable(preference):
        return _best(eligible)
    infos = [node.info() for node in eligible]
    try:
        chosen = preference(infos)
    except Exception as exc:
        raise AllocationError(
            f"{job.label}.preference(nodes) raised {type(exc).__name__}: {exc}; "
            "fix it, or return None to let FISSION choose", job=job.id
        ) from exc
    if chosen is None:
        return _best(eligible)
    for info, node in zip(infos, eligible, strict=True):
        if chosen is info:
            return node
    if isinstance(chosen, NodeInfo):
        same_ip = [node for node in eligible if node.ip == chosen.ip]
        if same_ip:
            return _best(same_ip)
    offered = ", ".join(node.ip for node in eligible)
    raise AllocationError(
        f"{job.label}.preference(nodes) returned {chosen!r}, which is not one of the nodes it "
        f"was given ({offered}); return one of them, or None to let FISSION choose", job=job.id
    )


def _nowhere(job: BaseJob, nodes: tuple[NodeView, ...]) -> str:
    """Why no node can take ``job``, what is up, and what the user can change."""
    groups = job.groups()
    reasons = []
    if job.DEFAULT_NODE is not None:
        up = any(not node.local and node.ip == job.DEFAULT_NODE for node in nodes)
        reasons.append(f"its DEFAULT_NODE {job.DEFAULT_NODE} is {'full' if up else 'not up'}")
    if groups:
        reasons.append(f"no node up in its GROUPS ({', '.join(groups)}) has a free slot")
        fix = ("start a node in one of those groups, raise a node's cpus, or change "
               f"{type(job).__name__}.GROUPS")
    else:
        reasons.append("its GROUPS is empty, so no other node may run it")
        fix = (f"start {job.DEFAULT_NODE}, or give {type(job).__name__}.GROUPS a group "
               "to fall back on")
    return f"{job.label} cannot be placed: {' and '.join(reasons)} ({_listing(nodes)}); {fix}"


def _listing(nodes: tuple[NodeView, ...]) -> str:
    """``nodes up: 10.0.0.1 [ALL] 0 of 2 slots free, ...``, the client left out."""
    workers = [f"{node.ip} [{', '.join(node.node.groups())}] "
               f"{node.free_slots} of {node.cpus} slots free"
               for node in nodes if not node.local]
    return "nodes up: " + ("; ".join(workers) if workers else "none besides the client")


def _job_id(job: BaseJob) -> int:
    if job.id is None:
        raise ValueError(f"{job!r} has no id: number the jobs with Network.from_jobs first")
    return job.id
