"""Network: the validated graph of jobs and pipes a backend runs.

Building a :class:`Network` does no I/O. It numbers the jobs 1, 2, 3, ... in the
order of ``JOBS``, writing each number to the job's ``id`` (a job is an object of
the user's config, and it travels to its process with its id, which labels its
messages and its log: a job belongs to one network, so it is listed once), checks
every pipe has exactly one producer and one consumer, that the network can make
progress (it has a source, no job is cut off from every pipe, no cycle of required
pipes waits on itself), and checks each ``run`` can take the inputs it is given, so
that every mistake in a config is reported before any process starts.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from itertools import pairwise

from fission.core import durability
from fission.core.jobs import BaseJob
from fission.core.pipes import BasePipe
from fission.errors import ConfigError


@dataclass(frozen=True)
class PipeLink:
    """One pipe with the ids of the job that writes it and the job that reads it."""

    pipe: BasePipe
    source: int
    destination: int


@dataclass(frozen=True)
class Network:
    """The jobs, in the order of their ids, and every pipe with its two ends; the graph
    does not change once built (the jobs themselves are the user's objects)."""

    jobs: tuple[BaseJob, ...]
    pipes: dict[int, PipeLink]

    @classmethod
    def from_jobs(cls, jobs: Iterable[BaseJob]) -> Network:
        """Number, wire and check ``jobs``; raise :class:`ConfigError` on the first fault."""
        if isinstance(jobs, BaseJob) or not isinstance(jobs, Iterable):
            raise ConfigError(f"JOBS must be a list of jobs, got {jobs!r}")
        jobs = tuple(jobs)
        if not jobs:
            raise ConfigError("JOBS is empty: add at least one job to config.py")
        seen: set[int] = set()
        for index, job in enumerate(jobs):
            if not isinstance(job, BaseJob):
                raise ConfigError(f"JOBS[{index}] is not a job (got {job!r})")
            if id(job) in seen:
                raise ConfigError(f"JOBS[{index}] ({type(job).__name__}) is listed twice")
            seen.add(id(job))
            job.id = index + 1
        pipes = _link_pipes(jobs)
        for job in jobs:
            _check_class_attributes(job)
            _check_run_signature(job)
        _check_progress(jobs, pipes)
        return cls(jobs=jobs, pipes=pipes)

    def job(self, job_id: int) -> BaseJob:
        return self.jobs[job_id - 1]

    def describe(self) -> str:
        """One line per job: id, class and pipes (for ``info.txt``)."""
        lines = []
        for job in self.jobs:
            ins = ", ".join(repr(p) for p in job.inputs) or "-"
            outs = ", ".join(repr(p) for p in job.outputs) or "-"
            lines.append(f"{job.id}\t{type(job).__module__}.{type(job).__qualname__}"
                         f"\tinputs: {ins}\toutputs: {outs}")
        return "\n".join(lines) + "\n"


def _link_pipes(jobs: tuple[BaseJob, ...]) -> dict[int, PipeLink]:
    sources: dict[int, BaseJob] = {}
    destinations: dict[int, BaseJob] = {}
    by_id: dict[int, BasePipe] = {}
    for job in jobs:
        for ends, pipes, role in ((sources, job.outputs, "sources"),
                                  (destinations, job.inputs, "destinations")):
            for pipe in pipes:
                other = ends.get(pipe.id)
                if other is not None:
                    raise ConfigError(
                        f"pipe {pipe.id} has two {role}: {other.label} and {job.label}; "
                        "a pipe connects exactly one producing job to one consuming job"
                    )
                ends[pipe.id] = job
                by_id[pipe.id] = pipe
    links = {}
    for pipe_id, pipe in sorted(by_id.items()):
        source, destination = sources.get(pipe_id), destinations.get(pipe_id)
        if source is None:
            raise ConfigError(
                f"pipe {pipe_id} is an input of {destination.label} but no job has it as an output"
            )
        if destination is None:
            raise ConfigError(
                f"pipe {pipe_id} is an output of {source.label} but no job has it as an input"
            )
        if source is destination:
            raise ConfigError(f"pipe {pipe_id} connects {source.label} to itself")
        pipe.carries_heads = source.HEAD  # the consumer splits off the head field
        links[pipe_id] = PipeLink(pipe, source.id, destination.id)
    return links


def _check_progress(jobs: tuple[BaseJob, ...], pipes: dict[int, PipeLink]) -> None:
    """Refuse a network that could never make progress, before it hangs or spins.

    A job runs once per block on each *required* input; a job with none (a *source*: no
    inputs, only optional ones, or an InteractiveJob's console) runs on its own. A cycle
    of required pipes therefore waits on itself forever, and a network without a source
    never starts. A job with neither inputs nor outputs is connected to nothing and would
    call ``run`` in a busy loop. A cycle through an optional pipe is a feedback loop and
    fine: the optional pipe never holds up its consumer.
    """
    for job in jobs:
        if not job.inputs and not job.outputs and not job.CONSOLE:
            raise ConfigError(
                f"{job.label} has neither inputs nor outputs: it is connected to nothing and "
                "would call run() in a busy loop; connect it with a pipe or remove it from JOBS"
            )
    waits_for: dict[int, set[int]] = {job.id: set() for job in jobs}
    for link in pipes.values():
        if not link.pipe.optional:
            waits_for[link.destination].add(link.source)
    try:
        TopologicalSorter(waits_for).prepare()
    except CycleError as error:
        cycle = error.args[1]  # job ids in the direction blocks flow, the first one repeated
        names = [jobs[job_id - 1].name for job_id in cycle]
        ids = [min(pipe_id for pipe_id, link in pipes.items() if not link.pipe.optional
                   and (link.source, link.destination) == (a, b))
               for a, b in pairwise(cycle)]
        has_source = any(not waited_for for waited_for in waits_for.values())
        problem = "" if has_source else ("the network has no source (a job without required "
                                         "inputs), so no job can ever start: ")
        raise ConfigError(
            f"{problem}required pipes {', '.join(map(str, ids))} form a cycle "
            f"{' -> '.join(names)}: each of these jobs waits for a block from the one before "
            "it, so none can ever run; make one pipe of the cycle optional (e.g. "
            "OptionalPicklePipe) to feed values back, or remove the cycle"
        ) from None


def _check_class_attributes(job: BaseJob) -> None:
    """MAX_QUEUE, GROUPS and DEFAULT_NODE have the types the runtime and placement expect."""
    name = type(job).__name__
    limit = job.MAX_QUEUE
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ConfigError(f"{name}.MAX_QUEUE must be an int >= 0, 0 meaning no limit "
                          f"(got {limit!r})")
    if not isinstance(job.HEAD, bool):
        raise ConfigError(f"{name}.HEAD must be True or False (got {job.HEAD!r})")
    groups = job.GROUPS
    if not isinstance(groups, str) and not (
        isinstance(groups, (list, tuple)) and all(isinstance(g, str) for g in groups)
    ):
        raise ConfigError(f"{name}.GROUPS must be a group name or a list of them, "
                          f"e.g. ['HAS_MIC', 'ALL'] (got {groups!r})")
    if job.DEFAULT_NODE is not None and not isinstance(job.DEFAULT_NODE, str):
        raise ConfigError(f"{name}.DEFAULT_NODE must be a node's IP address as a string "
                          f"(got {job.DEFAULT_NODE!r})")
    job.memory_limit()  # a bad MAX_MEMORY is a ConfigError now, not when the job starts
    durability.check(job)
    if not job.groups() and job.DEFAULT_NODE is None:
        raise ConfigError(f"{name}.GROUPS is empty and it has no DEFAULT_NODE: "
                          "no node could ever run it")


def _check_run_signature(job: BaseJob) -> None:
    """Check ``run`` can be called with one positional argument per input."""
    given = len(job.inputs) + (1 if job.CONSOLE else 0)
    run = job.run
    where = f"{job.label}.run"
    if inspect.isgeneratorfunction(run) and given:
        raise ConfigError(
            f"{where} is a generator, which only a job without inputs may be; "
            f"it has {given} input(s): return one result per call instead"
        )
    try:
        signature = inspect.signature(run)
    except (TypeError, ValueError):
        return
    params = list(signature.parameters.values())
    positional = [p for p in params
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in params)
    if given < len(required) or (not variadic and given > len(positional)):
        expected = (f"at least {len(required)}" if variadic
                    else str(len(required)) if len(required) == len(positional)
                    else f"{len(required)} to {len(positional)}")
        raise ConfigError(
            f"{where} takes {expected} input argument(s) but the job has {given} input pipe(s) "
            f"({', '.join(repr(p) for p in job.inputs) or 'none'}); inputs are passed "
            "positionally in config order"
        )
