"""``python3 manage.py NET test [PYTEST ARGS]``: pytest on ``NET/tests/`` with FISSION's fixtures.

pytest runs in this process, from the project folder (so emulated jobs work in
``PROJECT/.emulate/``), with the network's config loaded by the plugin
:mod:`fission.test`; its exit status is the command's (1 when a test failed).
"""

from __future__ import annotations

import os
from argparse import Namespace

from fission.cli.context import CommandError, Context


def run(ctx: Context, args: Namespace) -> int:
    folder = ctx.network_dir()
    tests = folder / "tests"
    if not tests.is_dir():
        raise CommandError(
            f"network {folder.name!r} has no tests folder ({tests}); create it and put "
            "test_*.py files there, which pytest finds"
        )
    try:
        import pytest
    except ImportError:
        raise CommandError("'manage.py NET test' runs pytest, which is not installed: "
                           "pip install pytest") from None
    import fission.test

    fission.test.use_network(ctx.project, folder.name)
    os.chdir(ctx.project)
    return int(pytest.main([str(tests), *args.rest], plugins=[fission.test]))
