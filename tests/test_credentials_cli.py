"""``fission credentials init`` and ``fission credentials export NODE_IP FILE``, run as a
user runs them, in a project made by ``startproject``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from childprocess import child_env

from fission.security.credentials import load_bundle


@pytest.mark.timeout(60)
def test_the_credentials_command(tmp_path: Path) -> None:
    def fission(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "fission.cli.main", *args], cwd=cwd,
                              env=child_env(), capture_output=True, text=True, timeout=30)

    made = fission("startproject", "proj", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    project = tmp_path / "proj"
    first = fission("credentials", "init", cwd=project)
    assert first.returncode == 0 and "made" in first.stdout, first.stderr
    second = fission("credentials", "init", cwd=project)
    assert second.returncode == 0 and "already has" in second.stdout
    exported = fission("credentials", "export", "10.0.0.7", str(tmp_path / "n.json"), cwd=project)
    assert exported.returncode == 0, exported.stderr
    assert "--credentials" in exported.stdout
    assert load_bundle(tmp_path / "n.json").holder == "node 10.0.0.7"
    outside = fission("credentials", "init", cwd=tmp_path)
    assert outside.returncode == 1 and "not a FISSION project" in outside.stderr


@pytest.mark.timeout(60)
def test_a_node_with_unusable_credentials_says_why_and_exits(tmp_path: Path) -> None:
    bundle = tmp_path / "node.json"
    bundle.write_text("{}")
    bundle.chmod(0o644)
    for path, expected in ((tmp_path / "missing.json", "No such file"), (bundle, "chmod 600")):
        result = subprocess.run(
            [sys.executable, "-m", "fission.cli.main", "node", "--client", "127.0.0.1",
             "--host", "127.0.0.1", "--credentials", str(path)],
            env=child_env(), capture_output=True, text=True, timeout=30)
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith("error: ") and expected in result.stderr
        assert "Traceback" not in result.stderr


NETWORK_CONFIG = """
from fission.core.jobs import CSVSinkJob
from fission.core.nodes import BaseNode
from fission.core.pipes import PicklePipe
from {name}.source import Count
CLIENT_IP = "10.0.0.1"
{port}
NODES = [BaseNode("{node}")]
JOBS = [Count(outputs=[PicklePipe(1)]), CSVSinkJob(path="o.csv", inputs=[PicklePipe(1)])]
"""


def _network(project: Path, name: str, node: str, port: str) -> None:
    folder = project / name
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "source.py").write_text("from fission.core.jobs import PythonJob\n"
                                      "class Count(PythonJob):\n"
                                      "    def run(self):\n        yield 1\n")
    (folder / "config.py").write_text(NETWORK_CONFIG.format(name=name, node=node, port=port))


@pytest.mark.timeout(60)
def test_the_export_hint_has_the_client_and_port_of_the_networks_that_list_the_node(
        tmp_path: Path) -> None:
    def export(node: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "fission.cli.main", "credentials", "export", node,
             str(tmp_path / f"{node}.json")],
            cwd=project, env=child_env(), capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        return result.stdout

    subprocess.run([sys.executable, "-m", "fission.cli.main", "startproject", "proj"],
                   cwd=tmp_path, env=child_env(), check=True, timeout=30)
    project = tmp_path / "proj"
    _network(project, "far", "10.0.0.7", "SCHEDULER_PORT = 9123")
    _network(project, "near", "10.0.0.8", "")
    assert ("fission node --client 10.0.0.1 --port 9123 --host 10.0.0.7 --credentials FILE"
            in export("10.0.0.7"))
    near = export("10.0.0.8")
    assert "fission node --client 10.0.0.1 --host 10.0.0.8 --credentials FILE" in near
    # A node no network lists: every network's port is a choice.
    other = export("10.0.0.9")
    assert "--port PORT" in other and "9123 for far" in other and "8786 for near" in other
