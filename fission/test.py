"""The pytest plugin of ``python3 manage.py NET test``: fixtures for a network's tests.

``python3 manage.py NET test [PYTEST ARGS]`` runs pytest on ``NET/tests/`` from the
project folder, with the network's config loaded and these fixtures available
(the original FISSION's names):

- ``fission_cfg``: the network's ``config`` module (``fission_cfg.JOBS``, ...);
- ``fission_cfg_jobs``: ``fission_cfg_jobs(index, path=".emulate")`` is a
  :class:`~fission.emulate.JobEmulator` of ``config.JOBS[index]``, killed after the test;
- ``fission_test_emulator``: an emulator of the job your own ``fission_test_job``
  fixture returns, with the pipe registry reset before and after;
- ``fission_reset``: clears the pipe registry before and after the test, so a test
  may create pipes with ids the config uses too.

Tests marked ``@pytest.mark.slow`` are skipped unless ``--runslow`` is given. A test
file needs no import for any of this::

    def test_join_adds(fission_cfg_jobs):
        join = fission_cfg_jobs(3)          # JOBS[3] of config.py
        assert join(1, 2, 3) == [6]

Outside ``manage.py``: ``pytest -p fission.test --fission-network PROJECT/NET NET/tests``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fission.core.base import reset
from fission.emulate import DEFAULT_ROOT, JobEmulator, emulate
from fission.errors import ConfigError

_network: dict[str, Any] = {}


def use_network(project: Path, network: str) -> ModuleType:
    """Load ``project/network/config.py`` for the fixtures; return the config module.

    Raises :class:`~fission.errors.ConfigError` for a broken config.
    """
    from fission.config import load_settings

    settings = load_settings(Path(project), network)
    module = sys.modules[f"{network}.config"]
    _network.update(settings=settings, module=module)
    return module


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fission")
    group.addoption("--runslow", action="store_true", default=False,
                    help="also run the tests marked @pytest.mark.slow")
    group.addoption("--fission-network", metavar="PROJECT/NET", default=None,
                    help="the network whose config the fission_cfg fixtures load")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a slow test, run only with --runslow")
    folder = config.getoption("--fission-network")
    if folder and not _network:
        path = Path(folder).resolve()
        try:
            use_network(path.parent, path.name)
        except ConfigError as error:
            raise pytest.UsageError(str(error)) from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="a slow test: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _loaded() -> dict[str, Any]:
    if not _network:
        pytest.fail("no network is loaded for the fission fixtures: run "
                    "'python3 manage.py NET test', or pytest with "
                    "'-p fission.test --fission-network PROJECT/NET'", pytrace=False)
    return _network


@pytest.fixture
def fission_cfg() -> ModuleType:
    """The network's config module."""
    return _loaded()["module"]


@pytest.fixture
def fission_cfg_jobs() -> Iterator[Callable[..., JobEmulator]]:
    """``fission_cfg_jobs(index, path=".emulate")``: an emulator of ``config.JOBS[index]``."""
    loaded = _loaded()
    made: list[JobEmulator] = []

    def job_emulator(index: int, path: str = DEFAULT_ROOT) -> JobEmulator:
        emulator = emulate(loaded["module"].JOBS[index], path=path,
                           project=loaded["settings"].project)
        made.append(emulator)
        return emulator

    yield job_emulator
    for emulator in made:
        emulator.kill()


@pytest.fixture
def fission_reset() -> Iterator[None]:
    """An empty pipe registry before and after the test."""
    reset()
    yield
    reset()


@pytest.fixture
def fission_test_emulator(fission_test_job: Any, fission_reset: None) -> Iterator[JobEmulator]:
    """An emulator of the job your ``fission_test_job`` fixture returns."""
    project = _network["settings"].project if _network else None
    emulator = emulate(fission_test_job, project=project)
    yield emulator
    emulator.kill()
