"""Network: the validated, immutable graph of jobs and pipes a backend runs.

Building a :class:`Network` does no I/O. It numbers the jobs 1, 2, 3, ... in the
order of ``JOBS``, checks every pipe has exactly one producer and one consumer,
and checks each ``run`` can take the inputs it is given, so that every mistake in a
config is reported before any process starts.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass

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
        links[pipe_id] = PipeLink(pipe, source.id, destination.id)
    return links


def _check_class_attributes(job: BaseJob) -> None:
    """MAX_QUEUE, GROUPS and DEFAULT_NODE have the types the runtime and placement expect."""
    name = type(job).__name__
    limit = job.MAX_QUEUE
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ConfigError(f"{name}.MAX_QUEUE must be an int >= 0, 0 meaning no limit "
                          f"(got {limit!r})")
    groups = job.GROUPS
    if not isinstance(groups, str) and not (
        isinstance(groups, (list, tuple)) and all(isinstance(g, str) for g in groups)
    ):
        raise ConfigError(f"{name}.GROUPS must be a group name or a list of them, "
                          f"e.g. ['HAS_MIC', 'ALL'] (got {groups!r})")
    if job.DEFAULT_NODE is not None and not isinstance(job.DEFAULT_NODE, str):
        raise ConfigError(f"{name}.DEFAULT_NODE must be a node's IP address as a string "
                          f"(got {job.DEFAULT_NODE!r})")
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
