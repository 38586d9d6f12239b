"""What a job's ``DEPENDENCIES`` asks for: data files to place, and code to ship.

``DEPENDENCIES`` lists files or folders (paths relative to the project) that FISSION
places in the job's working directory. The original FISSION also took a single path as
a plain string, and Python modules (or classes), which it shipped to the node with the
job. Here a module of the project is shipped with the network's code (its top-level
package, so ``import some_network.jobs.my_module`` works on the node as on the client);
a module from outside the project (an installed library, the standard library) cannot
be shipped file by file and is refused: it must be installed on every node.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from fission.errors import ConfigError


@dataclass(frozen=True)
class Dependencies:
    """One job's DEPENDENCIES, sorted out."""

    #: Files or folders relative to the project, placed in the job's working directory.
    paths: tuple[str, ...]
    #: Top-level packages (or modules) of the project whose code the job needs.
    packages: frozenset[str]


def sort_out(job_label: str, declared: object, project: Path) -> Dependencies:
    """Split ``declared`` (a job's DEPENDENCIES) into paths and project packages.

    Raises :class:`ConfigError` naming the job for an entry that is neither a path nor a
    module or class of the project.
    """
    if declared is None:
        return Dependencies((), frozenset())
    entries: Iterable[object]
    if isinstance(declared, (str, os.PathLike, ModuleType)) or inspect.isclass(declared):
        entries = [declared]
    elif isinstance(declared, (list, tuple, set, frozenset)):
        entries = declared
    else:
        raise ConfigError(
            f"{job_label}: DEPENDENCIES must be a list of paths (relative to the project) or "
            f"modules of the project, got {declared!r}"
        )
    paths: list[str] = []
    packages: set[str] = set()
    for entry in entries:
        if isinstance(entry, (str, os.PathLike)):
            paths.append(os.fspath(entry))
        elif isinstance(entry, ModuleType) or inspect.isclass(entry):
            packages.add(_project_package(job_label, entry, project))
        else:
            raise ConfigError(
                f"{job_label}: DEPENDENCIES lists {entry!r}, which is neither a path (a str, "
                "relative to the project) nor a module or class of the project"
            )
    return Dependencies(tuple(paths), frozenset(packages))


def _project_package(job_label: str, entry: ModuleType | type, project: Path) -> str:
    module = inspect.getmodule(entry) if inspect.isclass(entry) else entry
    name = getattr(module, "__name__", repr(entry))
    where = getattr(module, "__file__", None)
    top = name.split(".")[0]
    inside = (where is not None and Path(where).resolve().is_relative_to(project)
              and ((project / top).is_dir() or (project / f"{top}.py").is_file()))
    if not inside:
        origin = f" ({where})" if where else " (built in)"
        raise ConfigError(
            f"{job_label}: DEPENDENCIES lists the module {name}{origin}, which is not part of "
            f"the project {project}. FISSION ships the project's own code only: install "
            f"{top} on every node (e.g. pip install it into the agent's venv) and remove it "
            "from DEPENDENCIES"
        )
    return top
