"""Unit tests: the model and the pure parts of the runtime, no processes, no sockets."""

from __future__ import annotations

import pytest

from fission.core.base import reset


@pytest.fixture(autouse=True)
def fresh_pipes():
    """Every test starts and ends with an empty pipe registry."""
    reset()
    yield
    reset()
