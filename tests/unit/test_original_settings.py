"""Settings of the original FISSION in a config.py: PULSE_INTERVAL, NODES as CSV, XML_FILE,
modules in DEPENDENCIES."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from fission.config import load_settings
from fission.errors import ConfigError

JOBS_MODULE = """
from fission.core.jobs import PythonJob

class Src(PythonJob):
    def run(self):
        yield 1

class Sink(PythonJob):
    def run(self, value):
        pass
"""

HEAD = """
from fission.core.pipes import PicklePipe
from net.jobs import Src, Sink
JOBS = [Src(outputs=[PicklePipe(1)]), Sink(inputs=[PicklePipe(1)])]
"""


@pytest.fixture(autouse=True)
def restore_import_state():
    """load_settings puts projects on sys.path and imports NET.config: undo both."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def write_network(project: Path, config: str, name: str = "net") -> Path:
    folder = project / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "jobs.py").write_text(JOBS_MODULE)
    (folder / "config.py").write_text(HEAD + textwrap.dedent(config))
    return folder


# -- PULSE_INTERVAL ---------------------------------------------------------------------


def test_pulse_interval_is_accepted_with_a_notice_saying_what_fission_does(tmp_path):
    write_network(tmp_path, "PULSE_INTERVAL = 0.5\nNODE_TIMEOUT = 3\n")
    settings = load_settings(tmp_path, "net")
    assert len(settings.notices) == 1
    notice = settings.notices[0]
    assert "PULSE_INTERVAL = 0.5" in notice and "net/config.py" in notice
    assert "NODE_TIMEOUT (3 s)" in notice
    assert settings.node_timeout == 3.0


def test_no_pulse_interval_no_notice(tmp_path):
    write_network(tmp_path, "")
    assert load_settings(tmp_path, "net").notices == ()


@pytest.mark.parametrize("value", ["'fast'", "0", "-1", "True"])
def test_a_bad_pulse_interval_is_a_config_error(tmp_path, value):
    write_network(tmp_path, f"PULSE_INTERVAL = {value}\n")
    with pytest.raises(ConfigError, match=r"net/config.py: PULSE_INTERVAL must be a number"):
        load_settings(tmp_path, "net")
