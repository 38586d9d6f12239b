"""What every command receives: the context object, the command-line error, name checks."""

from __future__ import annotations

import keyword
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from fission.errors import FissionError

__all__ = ["CommandError", "Context", "check_network_name", "check_project_name"]

# Folder names inside a project that are not networks.
RESERVED_NETWORK_NAMES = frozenset({"shared", "fission", "simulation", "local", "credentials"})


class CommandError(FissionError, ValueError):
    """A command was called with arguments it cannot act on (bad name, missing folder)."""


@dataclass(frozen=True)
class Context:
    """Passed to every command's ``run(ctx, args)``; no command reads globals.

    ``project`` is the project folder for ``manage.py`` commands and the working directory
    for ``fission`` commands; ``network`` is the NET argument of ``manage.py`` (else None).
    """

    project: Path
    network: str | None = None
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)

    def network_dir(self) -> Path:
        """The folder of ``self.network``; CommandError if the name is bad or it is missing."""
        if self.network is None:
            raise CommandError("this command needs a network: python3 manage.py NET COMMAND")
        check_network_name(self.network)
        path = self.project / self.network
        if not path.is_dir():
            raise CommandError(
                f"network {self.network!r}: folder {path} does not exist "
                f"(create it with: python3 manage.py {self.network} startnetwork)"
            )
        return path


def check_network_name(name: str) -> str:
    """Return ``name`` if it can be a network: the importable package ``NAME.config``."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise CommandError(
            f"network name must be a valid Python identifier, such as my_net (got {name!r})"
        )
    if name in RESERVED_NETWORK_NAMES:
        raise CommandError(f"network name {name!r} is reserved; choose another name")
    if name in sys.stdlib_module_names:
        raise CommandError(
            f"network name {name!r} would hide the standard library module of that name; "
            "choose another name"
        )
    return name


def check_project_name(name: str) -> str:
    """Return ``name`` if it can be the folder of a new project (a plain folder name)."""
    bad = not name or name.startswith(("-", ".")) or any(c in name for c in "/\\\0")
    if bad:
        raise CommandError(
            f"project name must be a plain folder name such as myproject (got {name!r})"
        )
    return name
