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


# -- DEPENDENCIES with modules and single paths ------------------------------------------


def _with_dependencies(project: Path, dependencies: str, **files: str) -> None:
    folder = write_network(project, "")
    for name, text in files.items():
        target = project / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
    (folder / "deps.py").write_text(textwrap.dedent(f"""
        import json
        from fission.core.jobs import PythonJob
        import helpers.tools
        import net.jobs

        class Needs(PythonJob):
            DEPENDENCIES = {dependencies}
            def run(self, value):
                pass
    """))
    config = folder / "config.py"
    config.write_text(config.read_text().replace(
        "Sink(inputs=[PicklePipe(1)])",
        "__import__('net.deps').deps.Needs(inputs=[PicklePipe(1)])"))


HELPERS = {"helpers/__init__.py": "", "helpers/tools.py": "VALUE = 1\n", "data/model.txt": "m"}


def test_a_module_of_the_project_is_shipped_with_the_code(tmp_path):
    _with_dependencies(tmp_path, "[helpers.tools, 'data/model.txt']", **HELPERS)
    settings = load_settings(tmp_path, "net")
    assert settings.code_packages == frozenset({"helpers"})
    assert settings.network.jobs[1].DEPENDENCIES == ("data/model.txt",)


def test_a_class_stands_for_its_module(tmp_path):
    _with_dependencies(tmp_path, "[net.jobs.Src]", **HELPERS)
    settings = load_settings(tmp_path, "net")
    assert settings.code_packages == frozenset({"net"})
    assert settings.network.jobs[1].DEPENDENCIES == ()


def test_a_single_path_as_a_string_is_one_dependency(tmp_path):
    _with_dependencies(tmp_path, "'data'", **HELPERS)
    settings = load_settings(tmp_path, "net")
    assert settings.network.jobs[1].DEPENDENCIES == ("data",)
    assert settings.code_packages == frozenset()


def test_none_means_no_dependencies(tmp_path):
    _with_dependencies(tmp_path, "None", **HELPERS)
    assert load_settings(tmp_path, "net").network.jobs[1].DEPENDENCIES == ()


def test_a_module_from_outside_the_project_is_refused_clearly(tmp_path):
    _with_dependencies(tmp_path, "[json]", **HELPERS)
    with pytest.raises(ConfigError, match=(
            r"net/config.py: Needs 2: DEPENDENCIES lists the module json \(.*json.*\), which "
            r"is not part of the project .*install json on every node")):
        load_settings(tmp_path, "net")


def test_something_else_in_dependencies_is_refused(tmp_path):
    _with_dependencies(tmp_path, "[42]", **HELPERS)
    with pytest.raises(ConfigError, match=r"Needs 2: DEPENDENCIES lists 42, which is neither"):
        load_settings(tmp_path, "net")
