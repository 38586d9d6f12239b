"""load_settings: a network's config.py becomes Settings, and every mistake a ConfigError."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

from fission.config import load_settings
from fission.errors import ConfigError

GOOD = """
from fission.core.jobs import PythonJob, CSVSinkJob
from fission.core.pipes import PicklePipe
from fission.core.nodes import BaseNode

from {net}.jobs import Src

LOG_LEVEL = "debug"
NODES = [BaseNode("192.168.4.2")]
JOBS = [
    Src(outputs=[PicklePipe(1)]),
    CSVSinkJob(path="{csv}", inputs=[PicklePipe(1)]),
]
"""

JOBS_MODULE = """
from fission.core.jobs import PythonJob

class Src(PythonJob):
    def run(self):
        yield 1
"""


@pytest.fixture(autouse=True)
def restore_import_state():
    """load_settings puts projects on sys.path and imports NET.config: undo both."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def write_network(project: Path, config: str, name: str = "net", **extra: str) -> Path:
    folder = project / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "jobs.py").write_text(JOBS_MODULE)
    (folder / "config.py").write_text(textwrap.dedent(config))
    for module, text in extra.items():
        (folder / f"{module}.py").write_text(textwrap.dedent(text))
    return folder


def test_a_good_config_loads(tmp_path):
    write_network(tmp_path, GOOD.format(net="net", csv="a.csv"))
    settings = load_settings(tmp_path, "net")
    assert settings.name == "net"
    assert settings.project == tmp_path.resolve()
    assert settings.directory == tmp_path.resolve() / "net"
    assert [job.id for job in settings.network.jobs] == [1, 2]
    assert settings.network.jobs[1].path == "a.csv"
    assert settings.log_level == "DEBUG"
    assert settings.log_file == tmp_path.resolve() / "FISSION.log"
    assert [node.ip for node in settings.nodes] == ["192.168.4.2"]
    assert settings.node_steady == 10.0


def test_loading_the_same_config_twice_works(tmp_path):
    write_network(tmp_path, GOOD.format(net="net", csv="a.csv"))
    first = load_settings(tmp_path, "net")
    second = load_settings(tmp_path, "net")
    assert second.network.jobs[1].path == "a.csv"
    assert second.network.jobs[0] is not first.network.jobs[0]


def test_each_project_gets_its_own_network(tmp_path):
    """Two projects with a network of the same name, loaded in turn in one process."""
    write_network(tmp_path / "a", GOOD.format(net="net", csv="a.csv"))
    write_network(tmp_path / "b", GOOD.format(net="net", csv="b.csv"))
    assert load_settings(tmp_path / "a", "net").network.jobs[1].path == "a.csv"
    assert load_settings(tmp_path / "b", "net").network.jobs[1].path == "b.csv"
    again = load_settings(tmp_path / "a", "net")
    assert again.project == (tmp_path / "a").resolve()
    assert again.network.jobs[1].path == "a.csv", "loaded the network of the other project"


BROKEN = {
    "syntax error": ("JOBS = [\n  1 +\n", [r"SyntaxError", r"line \d"]),
    "name error": ("from fission.core.pipes import PicklePipe\nJOBS = [Missing()]\n",
                   [r"NameError", "Missing", r"config\.py, line 2"]),
    "import error in a job module": ("from net.jobs import Nope\nJOBS = []\n",
                                     [r"ImportError", "Nope"]),
    "XML_FILE": (GOOD.format(net="net", csv="a.csv") + "XML_FILE = 'net.xml'\n", ["XML_FILE"]),
    "LOG_LEVEL": (GOOD.format(net="net", csv="a.csv") + "LOG_LEVEL = 'LOUD'\n",
                  ["LOG_LEVEL", "LOUD"]),
    "JOBS missing": ("USER = 'pi'\n", ["JOBS"]),
    "JOBS empty": ("JOBS = []\n", ["JOBS"]),
    "NODES entry": (GOOD.format(net="net", csv="a.csv") + "NODES = ['192.168.4.2']\n",
                    [r"NODES\[0\]"]),
    "USER type": (GOOD.format(net="net", csv="a.csv") + "USER = 7\n", ["USER"]),
    "NODE_STEADY": (GOOD.format(net="net", csv="a.csv") + "NODE_STEADY = -1\n",
                    ["NODE_STEADY", "0 or more", "-1"]),
    "pipe type clash": ("from fission.core.pipes import PicklePipe, JSONPipe\n"
                        "a = PicklePipe(5)\nb = JSONPipe(5)\nJOBS = []\n",
                        [r"pipe 5\b", "PicklePipe", "JSONPipe"]),
    "two sources": ("from fission.core.pipes import PicklePipe\nfrom net.jobs import Src\n"
                    "JOBS = [Src(outputs=[PicklePipe(4)]), Src(outputs=[PicklePipe(4)])]\n",
                    [r"pipe 4\b", "Src 1", "Src 2"]),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_config_is_a_config_error_naming_the_file(tmp_path, case):
    config, patterns = BROKEN[case]
    write_network(tmp_path, config)
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, "net")
    message = str(caught.value)
    assert "net/config.py" in message
    for pattern in patterns:
        assert re.search(pattern, message), (pattern, message)
    # The place named is the user's file, never Python's import machinery.
    assert "<frozen" not in message, message


def test_a_missing_network_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="nonet"):
        load_settings(tmp_path, "nonet")
    with pytest.raises(ConfigError, match="identifier"):
        load_settings(tmp_path, "not-a-name")


@pytest.mark.parametrize("dependency", ["credentials", "credentials/client.json", "."])
def test_dependencies_never_ship_the_credentials(tmp_path, dependency):
    (tmp_path / "credentials").mkdir()
    (tmp_path / "credentials" / "client.json").write_text("{}")
    write_network(tmp_path, GOOD.format(net="net", csv="a.csv")
                  + f"JOBS[0].DEPENDENCIES = [{dependency!r}]\n")
    with pytest.raises(ConfigError, match="holds the project's credentials"):
        load_settings(tmp_path, "net")


def test_secure_is_on_unless_turned_off(tmp_path):
    write_network(tmp_path / "a", GOOD.format(net="net", csv="a.csv"))
    write_network(tmp_path / "b", GOOD.format(net="net", csv="a.csv") + "SECURE = False\n")
    write_network(tmp_path / "c", GOOD.format(net="net", csv="a.csv") + "SECURE = 'no'\n")
    assert load_settings(tmp_path / "a", "net").secure is True
    assert load_settings(tmp_path / "b", "net").secure is False
    with pytest.raises(ConfigError, match="SECURE"):
        load_settings(tmp_path / "c", "net")
