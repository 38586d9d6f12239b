"""What the end-to-end and cluster tests share to start FISSION processes and wait on them.

Every child gets an environment in which this checkout's ``fission`` imports, installed
or not, and prints unbuffered; :func:`wait_until` polls for an outcome and fails the
test naming what never happened.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import fission

REPO = Path(fission.__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process, with ``extra`` variables set."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def wait_until(predicate: Callable[[], object], timeout: float, what: str,
               interval: float = 0.05) -> object:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
