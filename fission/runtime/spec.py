"""JobSpec: everything a job process needs to know, in one picklable record."""

from __future__ import annotations

from dataclasses import dataclass, field

from fission.core.jobs import BaseJob

#: The pipe id carried by blocks of the console input of an InteractiveJob.
CONSOLE_PIPE_ID = 0


@dataclass(frozen=True)
class JobSpec:
    """How to run one job: the job itself and where its pipes live.

    ``inputs`` maps each input pipe id to the address this process binds;
    ``outputs`` maps each output pipe id to the address it connects to. The
    backend's ``control`` endpoint is connected to; ``console``, for a job with a
    console input, is bound.
    """

    job: BaseJob
    control: str
    inputs: dict[int, str] = field(default_factory=dict)
    outputs: dict[int, str] = field(default_factory=dict)
    console: str | None = None
    log_level: str = "DEBUG"
    incarnation: int = 0
