"""The exceptions FISSION raises, one per situation a user can act on.

Each subclasses the builtin it means (a broken config is a ``ValueError``), so callers
that do not know FISSION still catch them sensibly. Messages name the job, pipe or
file at fault and, where there is one, the fix. This module imports nothing from
``fission`` so that every other module may import it.
"""

from __future__ import annotations


class FissionError(Exception):
    """Base of every error FISSION raises on purpose."""


class ConfigError(FissionError, ValueError):
    """The network description (config.py, a job or a pipe definition) is invalid."""


class PipeTypeError(ConfigError, TypeError):
    """One pipe id was used with two different pipe classes or arguments."""


class JobError(FissionError, RuntimeError):
    """A job broke its contract with the runtime (for instance a wrong number of outputs)."""


class MemoryLimitError(FissionError, MemoryError):
    """A job's process went over the job's MAX_MEMORY."""


class WireError(FissionError, ValueError):
    """Bytes on a pipe are not a FISSION block (wrong version, truncated header)."""


class NotRunningError(FissionError, RuntimeError):
    """A command needs a running network and none answers."""


class ClusterError(FissionError, RuntimeError):
    """The cluster could not be set up: the scheduler cannot listen, a node never joined."""


class AllocationError(FissionError, RuntimeError):
    """No allowed node can take a job (its DEFAULT_NODE, GROUPS and the nodes up).

    ``job`` is the id of the job that could not be placed, for events and tools.
    """

    def __init__(self, message: str, job: int | None = None) -> None:
        super().__init__(message)
        self.job = job


class EmulatorError(FissionError, RuntimeError):
    """An emulated job (``fission.emulate``) cannot do what a test asked of it: no run
    is ready for ``get()``, ``put()`` got the wrong number of values, or it has finished."""
