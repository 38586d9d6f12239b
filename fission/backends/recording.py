"""``--record PIPE,...``: which file records each pipe, checked before any job starts.

The producer of a recorded pipe writes it (see ``wire/recording.py``), so recording
costs the pipes that are not recorded nothing. Each recorded pipe's file in
``NET/recordings/`` is written anew by each run; other recordings there stay.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from fission.config import Settings
from fission.errors import ConfigError
from fission.wire.recording import recording_name

FOLDER = "recordings"


def recordings(settings: Settings, pipes: Iterable[int]) -> dict[int, Path]:
    """Pipe id -> its recording in ``NET/recordings/``; ConfigError for an unknown pipe.

    The last run's recording of each chosen pipe is removed: a restarted producer
    appends to what its first copy wrote in this run."""
    known = settings.network.pipes
    chosen = dict.fromkeys(pipes)
    unknown = [pipe for pipe in chosen if pipe not in known]
    if unknown:
        raise ConfigError(
            f"--record: {', '.join(map(str, unknown))} is not a pipe of {settings.name} "
            f"(its pipes: {', '.join(map(str, sorted(known)))}); name pipes by their ids in "
            f"{settings.name}/config.py")
    paths = {pipe: settings.directory / FOLDER / recording_name(pipe) for pipe in chosen}
    for path in paths.values():
        path.unlink(missing_ok=True)
    return paths
