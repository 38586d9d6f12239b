"""The original FISSION's entry points, so its own ``manage.py`` files and scripts run.

Projects made with the original FISSION carry a ``manage.py`` that sets
``FISSION_CONFIG_MODULE`` and calls ``execute_from_command_line(sys.argv)``, and scripts
that import a network's config themselves and call ``execute_simulation(config, NET)``.
Both end up in FISSION's one command table (:mod:`fission.cli.main`), so they behave
exactly as ``python3 manage.py NET COMMAND`` of a new project: same commands, same
one-line errors, same exit codes.

This module imports nothing heavy at import time: the original's ``manage.py`` turns any
``ImportError`` raised while importing it into "Couldn't import FISSION", which must only
ever mean that FISSION is not installed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

__all__ = ["execute_from_command_line", "execute_simulation"]


def execute_from_command_line(argv: Sequence[str] | None = None) -> None:
    """Run ``argv`` (``[script, NET, COMMAND, ...]``, as ``sys.argv``) as a FISSION command.

    The project is the folder of the script, as for a new project's ``manage.py``; a script
    named ``fission_admin.py`` takes ``NAME startproject``. Returns when the command
    succeeded and exits with its status otherwise (the original returned nothing either way,
    so a failed simulation looked like a successful one).
    """
    from fission.cli.main import admin_main, manage

    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]) if argv else Path("manage.py")
    if script.name == "fission_admin.py":
        code = admin_main(argv[1:])
    else:
        project = script.resolve().parent if script.is_file() else Path.cwd()
        code = manage(project, argv[1:])
    if code:
        raise SystemExit(code)


def execute_simulation(config: ModuleType, network_name: str, root: str = "") -> None:
    """Simulate the network whose config module the caller has imported.

    ``config`` must be the module ``NET.config`` of a project folder (``PROJECT/NET/
    config.py``); FISSION reads it again from there, as ``manage.py NET simulate`` does.
    ``root``, the simulation folder, may only be the usual ``PROJECT/NET/simulation``.
    """
    from fission.cli.main import manage
    from fission.errors import ConfigError

    where = getattr(config, "__file__", None)
    if where is None or Path(where).name != "config.py":
        raise ConfigError(
            f"execute_simulation needs the config module of a network (NET/config.py), "
            f"got {config!r}"
        )
    network_dir = Path(where).resolve().parent
    if network_dir.name != network_name:
        raise ConfigError(
            f"execute_simulation: {where} is the config of network {network_dir.name!r}, "
            f"not of {network_name!r}"
        )
    if root and Path(root).resolve() != network_dir / "simulation":
        raise ConfigError(
            f"execute_simulation: the simulation folder is always {network_dir / 'simulation'} "
            f"(got root={root!r}); move the results elsewhere after the run"
        )
    code = manage(network_dir.parent, [network_name, "simulate"])
    if code:
        raise SystemExit(code)
