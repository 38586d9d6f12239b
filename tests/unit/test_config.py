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


@pytest.mark.parametrize(("value", "expected"), [
    (None, ("127.0.0.1", 8787)), ("'10.0.0.1:9000'", ("10.0.0.1", 9000)),
    ("'127.0.0.1:0'", ("127.0.0.1", 0)), ("None", None)])
def test_dashboard_is_host_and_port_or_none(tmp_path, value, expected):
    extra = "" if value is None else f"DASHBOARD = {value}\n"
    write_network(tmp_path, GOOD.format(net="net", csv="a.csv") + extra)
    assert load_settings(tmp_path, "net").dashboard == expected


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
    "SCHEDULER_PORT range": (GOOD.format(net="net", csv="a.csv") + "SCHEDULER_PORT = 70000\n",
                             ["SCHEDULER_PORT", "70000"]),
    "DASHBOARD without a port": (GOOD.format(net="net", csv="a.csv") + "DASHBOARD = 'localhost'\n",
                                 ["DASHBOARD", "HOST:PORT", "None"]),
    "DASHBOARD port range": (GOOD.format(net="net", csv="a.csv") + "DASHBOARD = '1.2.3.4:99999'\n",
                             ["DASHBOARD", "99999"]),
    "NODE_TIMEOUT zero": (GOOD.format(net="net", csv="a.csv") + "NODE_TIMEOUT = 0\n",
                          ["NODE_TIMEOUT", "above 0"]),
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


GOOD_CONFIG = GOOD.format(net="net", csv="a.csv")


@pytest.mark.parametrize("line, name, setting", [
    ("DEBUG_WINDWO = True", "DEBUG_WINDWO", "DEBUG_WINDOW"),
    ("LOG_LEVLE = 'DEBUG'", "LOG_LEVLE", "LOG_LEVEL"),
    ("SECUR = False", "SECUR", "SECURE"),
    ("NODE_TIMOUT = 3", "NODE_TIMOUT", "NODE_TIMEOUT"),
    ("PULS_INTERVALL = 0.5", "PULS_INTERVALL", "PULSE_INTERVAL"),
])
def test_a_misspelt_setting_is_refused_naming_the_setting_it_resembles(tmp_path, line, name,
                                                                        setting):
    write_network(tmp_path, GOOD_CONFIG + line + "\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, "net")
    message = str(caught.value)
    assert f"net/config.py: {name} is not a setting" in message
    assert f"resembles {setting}" in message


@pytest.mark.parametrize("line, name, setting", [
    ("debug_window = True", "debug_window", "DEBUG_WINDOW"),
    ("Secure = False", "Secure", "SECURE"),
])
def test_a_setting_in_the_wrong_case_is_refused(tmp_path, line, name, setting):
    write_network(tmp_path, GOOD_CONFIG + line + "\n")
    with pytest.raises(ConfigError, match=f"{name} is not a setting; FISSION reads {setting}"):
        load_settings(tmp_path, "net")


def test_the_users_own_names_stay_allowed(tmp_path):
    write_network(tmp_path, GOOD_CONFIG + textwrap.dedent("""
        import os
        from fission.core.jobs import CSVSinkJob as SINK
        BLOCK_SIZE = 512
        SAMPLE_RATE = 16000
        MY_NODES = ["192.168.4.2"]
        helper = 3
        def Jobs():
            return []
    """))
    settings = load_settings(tmp_path, "net")
    assert len(settings.network.jobs) == 2


def test_nodes_jobs_and_short_names_of_the_user_are_not_taken_for_typos(tmp_path):
    write_network(tmp_path, GOOD_CONFIG + textwrap.dedent("""
        from fission.core.nodes import BaseNode
        NODE1 = BaseNode("192.168.4.2")
        NODE_A = BaseNode("192.168.4.3")
        NODES = [NODE1, NODE_A]
        USERS = ["alice"]
        jobs = list(JOBS)
        JOBS = jobs
    """))
    assert len(load_settings(tmp_path, "net").nodes) == 2


def test_the_settings_of_the_original_fission_are_known(tmp_path):
    write_network(tmp_path, GOOD_CONFIG + "PULSE_INTERVAL = 0.1\nHEAD_SIZE = 1\nXML_ARGS = {}\n"
                  "XML_FILE = None\nPRE_COPY = True\n")
    assert load_settings(tmp_path, "net").pre_copy is True


def test_defaults_come_from_the_one_table(tmp_path):
    from fission.config import SETTINGS

    write_network(tmp_path, GOOD_CONFIG)
    settings = load_settings(tmp_path, "net")
    assert settings.scheduler_port == SETTINGS["SCHEDULER_PORT"]
    assert settings.node_timeout == SETTINGS["NODE_TIMEOUT"]
    assert settings.node_wait == SETTINGS["NODE_WAIT"]
    assert settings.user == SETTINGS["USER"]


def test_the_default_remote_root_is_the_projects_own(tmp_path):
    write_network(tmp_path / "alpha", GOOD_CONFIG)
    write_network(tmp_path / "beta", GOOD_CONFIG)
    write_network(tmp_path / "gamma", GOOD_CONFIG + "REMOTE_ROOT = '/srv/fission/'\n")
    assert load_settings(tmp_path / "alpha", "net").remote_root == "~/fission/alpha/"
    assert load_settings(tmp_path / "beta", "net").remote_root == "~/fission/beta/"
    assert load_settings(tmp_path / "gamma", "net").remote_root == "/srv/fission/"


def test_a_log_file_in_a_missing_folder_is_one_clear_error(tmp_path):
    write_network(tmp_path, GOOD_CONFIG + "LOG_FILE = 'logs/run.log'\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, "net")
    message = str(caught.value)
    assert "net/config.py: LOG_FILE = 'logs/run.log'" in message
    assert f"{tmp_path.resolve() / 'logs'} does not exist" in message
    (tmp_path / "logs").mkdir()
    assert load_settings(tmp_path, "net").log_file == tmp_path.resolve() / "logs" / "run.log"


def test_a_log_file_that_is_a_folder_is_refused(tmp_path):
    (tmp_path / "logs").mkdir()
    write_network(tmp_path, GOOD_CONFIG + "LOG_FILE = 'logs'\n")
    with pytest.raises(ConfigError, match="LOG_FILE = 'logs' is the folder"):
        load_settings(tmp_path, "net")


def test_a_log_file_that_cannot_be_opened_is_a_config_error(tmp_path):
    from fission.config import configure_logging

    write_network(tmp_path, GOOD_CONFIG + "LOG_FILE = '/proc/fission.log'\n")
    settings = load_settings(tmp_path, "net")
    with pytest.raises(ConfigError, match=r"LOG_FILE /proc/fission.log cannot be opened"):
        configure_logging(settings)
