"""The scaffolding commands, run as real processes: startproject, startnetwork, the CLI."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fission.config import SETTINGS

REPO = Path(__file__).resolve().parent.parent

CONFIG_KEYS = {
    "USER",
    "REMOTE_ROOT",
    "LOG_LEVEL",
    "LOG_FILE",
    "CLIENT_IP",
    "DEBUG_WINDOW",
    "JOBS",
    "NODES",
    "PRE_COPY",
    "XML_FILE",
}

PACKAGE_FILES = [
    "__init__.py",
    "jobs/__init__.py",
    "jobs/jobs.py",
    "pipes/__init__.py",
    "pipes/pipes.py",
    "nodes/__init__.py",
    "nodes/nodes.py",
    "source/README.md",
]


def _env() -> dict[str, str]:
    """The environment of a child: `fission` importable even without an install."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=50, check=False
    )


def fission(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "fission.cli.main", *args], cwd)


def manage(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "manage.py", *args], project)


def assigned_names(path: Path) -> set[str]:
    """Top-level names a Python file assigns, read without importing it."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def assert_clean_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    for word in words:
        assert word in result.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    result = fission(tmp_path, "startproject", "proj")
    assert result.returncode == 0, result.stderr
    return tmp_path / "proj"


@pytest.mark.timeout(60)
def test_startproject_creates_manage_py_gitignore_and_shared(project: Path) -> None:
    manage_py = project / "manage.py"
    assert manage_py.is_file()
    assert os.access(manage_py, os.X_OK)
    assert "manage(Path(__file__).resolve().parent, sys.argv[1:])" in manage_py.read_text()
    ignored = (project / ".gitignore").read_text().split()
    for entry in [
        "simulation/",
        "local/",
        ".fission/",
        "FISSION.log",
        "__pycache__/",
        "credentials/",
    ]:
        assert entry in ignored
    assert not (project / "__init__.py").exists()  # the project root is not a package
    for rel in PACKAGE_FILES:
        assert (project / "shared" / rel).is_file(), rel
    # Nothing is left behind by the write-then-rename.
    assert sorted(p.name for p in project.parent.iterdir()) == ["proj"]


@pytest.mark.timeout(60)
def test_startproject_refuses_existing_folder(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "keep.txt").write_text("mine")
    assert_clean_error(fission(tmp_path, "startproject", "proj"), "already exists")
    assert [p.name for p in (tmp_path / "proj").iterdir()] == ["keep.txt"]


@pytest.mark.timeout(60)
def test_fission_admin_spelling(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "fission_admin.py"
    if script.exists():
        args = [str(script), "proj", "startproject"]
    else:  # not installed: call the same entry point the script would
        code = "import sys; from fission.cli.main import admin_main; sys.exit(admin_main())"
        args = [sys.executable, "-c", code, "proj", "startproject"]
    result = run(args, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "proj" / "manage.py").is_file()
    assert (tmp_path / "proj" / "shared" / "jobs" / "jobs.py").is_file()


@pytest.mark.timeout(60)
def test_startnetwork_creates_package_and_config_with_every_key(project: Path) -> None:
    result = manage(project, "mynet", "startnetwork")
    assert result.returncode == 0, result.stderr
    net = project / "mynet"
    for rel in PACKAGE_FILES:
        assert (net / rel).is_file(), rel
    config = net / "config.py"
    assert CONFIG_KEYS <= assigned_names(config)
    text = config.read_text()
    assert "mynet" in text and "$" not in text
    assert ast.literal_eval(_value_of(config, "XML_FILE")) is None
    assert ast.literal_eval(_value_of(config, "JOBS")) == []
    # The defaults it shows are config.SETTINGS' own, written once.
    for name in ("USER", "SCHEDULER_PORT", "NODE_WAIT", "NODE_TIMEOUT", "DASHBOARD", "SECURE"):
        assert ast.literal_eval(_value_of(config, name)) == SETTINGS[name], name


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["proj", 'odd {"name"}'])
def test_a_new_network_works_in_a_remote_root_of_its_project(tmp_path: Path, name: str) -> None:
    assert fission(tmp_path, "startproject", name).returncode == 0
    result = manage(tmp_path / name, "mynet", "startnetwork")
    assert result.returncode == 0, result.stderr
    config = tmp_path / name / "mynet" / "config.py"
    namespace: dict[str, object] = {}
    exec("USER = 'pi'\n" + "REMOTE_ROOT = " + _value_of(config, "REMOTE_ROOT"), namespace)
    assert namespace["REMOTE_ROOT"] == f"/home/pi/fission/{name}/"


def _value_of(path: Path, name: str) -> str:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.unparse(node.value)
    raise AssertionError(f"{name} not in {path}")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["my-net", "1net", "class", "shared", "json"])
def test_bad_network_name_is_a_clean_error(project: Path, name: str) -> None:
    result = manage(project, name, "startnetwork")
    assert_clean_error(result, repr(name))
    assert not (project / name).exists() or name == "shared"


@pytest.mark.timeout(60)
def test_startnetwork_refuses_existing_folder(project: Path) -> None:
    assert manage(project, "mynet", "startnetwork").returncode == 0
    marker = project / "mynet" / "jobs" / "jobs.py"
    marker.write_text("# edited by the user\n")
    assert_clean_error(manage(project, "mynet", "startnetwork"), "already exists")
    assert marker.read_text() == "# edited by the user\n"


@pytest.mark.timeout(60)
def test_simulate_unknown_network_names_the_folder(project: Path) -> None:
    result = manage(project, "nonet", "simulate", "--duration", "1")
    assert_clean_error(result, str(project.resolve() / "nonet"))


@pytest.mark.timeout(60)
def test_usage_errors_exit_2(project: Path) -> None:
    assert manage(project).returncode == 2
    assert manage(project, "mynet", "nosuchcommand").returncode == 2
    assert manage(project, "mynet", "simulate", "--duration", "soon").returncode == 2
    assert manage(project, "mynet", "send", "x", "hello").returncode == 2
    assert fission(project).returncode == 2
    help_ = manage(project, "--help")
    assert help_.returncode == 0 and "simulate" in help_.stdout


@pytest.mark.timeout(60)
def test_cli_imports_nothing_heavy(tmp_path: Path) -> None:
    code = (
        "import sys, fission.cli.main\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in {'zmq', 'prompt_toolkit', "
        "'numpy'} or m.startswith(('fission.backends', 'fission.runtime', 'fission.core'))]\n"
        "assert not heavy, heavy\n"
    )
    result = run([sys.executable, "-c", code], tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.timeout(60)
def test_examples_manage_py_is_the_template(tmp_path: Path) -> None:
    assert fission(tmp_path, "startproject", "proj").returncode == 0
    made = (tmp_path / "proj" / "manage.py").read_text()
    assert (REPO / "examples" / "manage.py").read_text() == made


@pytest.mark.timeout(60)
def test_fresh_network_config_imports_with_project_root_on_sys_path(project: Path) -> None:
    assert manage(project, "mynet", "startnetwork").returncode == 0
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import mynet.config as config\n"
        "assert config.JOBS == [] and config.NODES == [] and config.XML_FILE is None\n"
        "import mynet.jobs.jobs, mynet.pipes.pipes, mynet.nodes.nodes\n"
        "import shared.jobs.jobs, shared.pipes.pipes, shared.nodes.nodes\n"
    )
    result = run([sys.executable, "-c", code, str(project)], project.parent)
    assert result.returncode == 0, result.stderr
