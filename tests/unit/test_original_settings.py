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


# -- USER -------------------------------------------------------------------------------


def test_user_is_named_in_the_line_saying_what_fission_does_instead(tmp_path):
    write_network(tmp_path, 'USER = "alice"\n')
    notice = load_settings(tmp_path, "net").user_notice()
    assert "USER = 'alice'" in notice and "`fission node`" in notice


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


# -- NODES as a CSV file -----------------------------------------------------------------

NODES_CSV = """\
name, ip, groups
# the microphones
mic-node, 192.168.4.2, HAS_MIC, ALL
plain,    192.168.4.3

rest,     192.168.4.*
"""


def test_nodes_from_a_csv_file_in_the_project(tmp_path):
    (tmp_path / "nodes.csv").write_text(NODES_CSV)
    write_network(tmp_path, "NODES = 'nodes.csv'\n")
    nodes = load_settings(tmp_path, "net").nodes
    assert [(type(n).__name__, n.name, n.ip, n.groups()) for n in nodes] == [
        ("BaseNode", "mic-node", "192.168.4.2", ("HAS_MIC", "ALL")),
        ("BaseNode", "plain", "192.168.4.3", ("ALL",)),
        ("MultiNode", "rest", "192.168.4.*", ("ALL",)),
    ]


def test_csv_files_and_nodes_mix_in_one_list_and_paths_may_be_in_the_network(tmp_path):
    folder = write_network(tmp_path, """
        from fission.core.nodes import BaseNode
        NODES = [BaseNode("192.168.4.9"), "more.csv"]
    """)
    (folder / "more.csv").write_text("extra,192.168.4.10,GPU\n")
    nodes = load_settings(tmp_path, "net").nodes
    assert [(n.ip, n.groups()) for n in nodes] == [("192.168.4.9", ("ALL",)),
                                                   ("192.168.4.10", ("GPU",))]


def test_a_missing_csv_file_names_where_it_was_looked_for(tmp_path):
    write_network(tmp_path, "NODES = 'nodes.csv'\n")
    with pytest.raises(ConfigError, match=r"net/config.py: NODES 'nodes.csv' does not exist "
                                          r"\(looked for .*net/nodes.csv or .*/nodes.csv\)"):
        load_settings(tmp_path, "net")


@pytest.mark.parametrize(("text", "fault"), [
    ("only-a-name\n", r"row 1: a row is 'name, ip\[, group, \.\.\.\]'"),
    ("a, 192.168.4.2\nb, not-an-ip\n", r"row 2: BaseNode: 'not-an-ip' is not an IP address"),
    ("# nothing\n", r"lists no node"),
])
def test_a_bad_csv_file_names_the_file_and_row(tmp_path, text, fault):
    (tmp_path / "nodes.csv").write_text(text)
    write_network(tmp_path, "NODES = 'nodes.csv'\n")
    with pytest.raises(ConfigError, match=r"net/config.py: NODES: .*nodes.csv.*" + fault):
        load_settings(tmp_path, "net")


# -- XML_FILE ----------------------------------------------------------------------------

XML = """<?xml version="1.0" ?>
<network>
  <node pi_id="192.168.4.2">
    <algorithm path="programs" executable="python3 make.py">
      <parameter param="-n 5"></parameter>
      <parameter param=""></parameter>
      <parameter param="--fast"/>
      <output target_pi_id="192.168.4.2" pipe_id="7" block_size="4" block_count="2"></output>
    </algorithm>
  </node>
  <node pi_id="192.168.4.3">
    <algorithm path="programs" executable="./take">
      <input source_pi_id="192.168.4.2" pipe_id="7" block_size="4" block_count="2"/>
      <output pipe_id="8"/>
    </algorithm>
  </node>
</network>
"""


def test_reading_an_xml_network(tmp_path):
    from fission.core.xml_network import XMLPipe, read_xml_network

    (tmp_path / "net.xml").write_text(XML)
    make, take = read_xml_network(tmp_path / "net.xml")
    assert (make.node, make.path, make.executable, make.parameters) == (
        "192.168.4.2", "programs", "python3 make.py", "-n 5 --fast")
    assert make.inputs == () and make.outputs == (XMLPipe(7, 4, 2),)
    assert take.node == "192.168.4.3"
    assert take.inputs == (XMLPipe(7, 4, 2),) and take.outputs == (XMLPipe(8, 1, 1),)


@pytest.mark.parametrize(("text", "fault"), [
    ("<network><node pi_id='1.2.3.4'>", r"is not well-formed XML"),
    ("<network><node><algorithm path='p' executable='x'/></node></network>",
     r"<node> element 1 has no pi_id"),
    ("<network><node pi_id='1.2.3.4'><algorithm path='p'/></node></network>",
     r"<algorithm> of node 1.2.3.4 has no executable"),
    ("<network><node pi_id='1.2.3.4'><algorithm path='p' executable='x'>"
     "<input pipe_id='one'/></algorithm></node></network>",
     r"an <input> of the algorithm 'x' needs pipe_id=\"N\", a whole number, got 'one'"),
    ("<network/>", r"describes no algorithm"),
])
def test_a_bad_xml_file_is_one_config_error(tmp_path, text, fault):
    from fission.core.xml_network import read_xml_network

    (tmp_path / "net.xml").write_text(text)
    with pytest.raises(ConfigError, match=r"XML_FILE: .*net.xml.*" + fault):
        read_xml_network(tmp_path / "net.xml")


class _RecordingJob:
    """Stands in for DynamicMARVELOJob (another module's class) to check the mapping."""

    def __init__(self, dependencies, executable, parameters="", inputs=None, outputs=None):
        from fission.core.jobs import PythonJob

        class Program(PythonJob):
            def run(self, *values):
                return None

        self.job = Program(inputs=inputs, outputs=outputs)
        self.job.arguments = (dependencies, executable, parameters)

    def __new__(cls, *args, **kwargs):
        self = object.__new__(cls)
        self.__init__(*args, **kwargs)
        return self.job


def test_xml_jobs_follow_jobs_and_connect_through_bytes_pipes(tmp_path, monkeypatch):
    import fission.core.jobs

    monkeypatch.setattr(fission.core.jobs, "DynamicMARVELOJob", _RecordingJob, raising=False)
    folder = write_network(tmp_path, """
        from fission.core.nodes import BaseNode
        from fission.core.pipes import BytesPipe
        XML_FILE = "net.xml"
        NODES = [BaseNode("192.168.4.2")]
        JOBS += [Sink(inputs=[BytesPipe(8, 1)])]
    """)
    (folder / "net.xml").write_text(XML)
    (folder / "programs").mkdir()
    settings = load_settings(tmp_path, "net")
    jobs = settings.network.jobs
    assert [job.id for job in jobs] == [1, 2, 3, 4, 5]
    make, take = jobs[3], jobs[4]
    assert make.arguments == ("net/programs", "python3 make.py", "-n 5 --fast")
    assert (make.DEFAULT_NODE, take.DEFAULT_NODE) == ("192.168.4.2", "192.168.4.3")
    assert [(p.id, p.block_size, p.BLOCK_COUNT) for p in take.inputs] == [(7, 4, 2)]
    assert settings.network.pipes[8].source == 5 and settings.network.pipes[8].destination == 3
    assert [node.ip for node in settings.nodes] == ["192.168.4.2", "192.168.4.3"]


def test_an_xml_path_that_does_not_exist_names_the_algorithm(tmp_path, monkeypatch):
    import fission.core.jobs

    monkeypatch.setattr(fission.core.jobs, "DynamicMARVELOJob", _RecordingJob, raising=False)
    folder = write_network(tmp_path, "XML_FILE = 'net.xml'\n")
    (folder / "net.xml").write_text(XML)
    with pytest.raises(ConfigError, match=r"net/config.py: XML_FILE .*net.xml: the algorithm "
                                          r"'python3 make.py' of node 192.168.4.2: path "
                                          r"'programs' does not exist"):
        load_settings(tmp_path, "net")


def test_an_address_written_as_a_string_in_nodes_says_to_wrap_it(tmp_path):
    write_network(tmp_path, "NODES = ['192.168.4.2']\n")
    with pytest.raises(ConfigError, match=r"net/config.py: NODES\[0\] is the string "
                                          r"'192.168.4.2': write BaseNode\('192.168.4.2'\)"):
        load_settings(tmp_path, "net")
