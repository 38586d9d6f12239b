"""`fission.manager`: the entry points the original FISSION's manage.py and scripts call."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from simhelp import child_env, read_csv

# A manage.py in the original's style: the config module by environment, then the manager.
OLD_MANAGE = """
    import os
    import sys

    if __name__ == "__main__":
        os.environ.setdefault("FISSION_CONFIG_MODULE", f"{sys.argv[1]}.config")
        from fission.manager import execute_from_command_line
        execute_from_command_line(sys.argv)
"""

# A script that imports the config itself and hands it to execute_simulation.
SCRIPT = """
    from importlib import import_module
    from fission.manager import execute_simulation

    config = import_module("net.config")
    execute_simulation(config, "net")
    print("script done")
"""

NETWORK = """
    from fission.core.jobs import CSVSinkJob
    from fission.core.pipes import PicklePipe
    from netjobs import CountSource
    JOBS = [
        CountSource(n=20, outputs=[PicklePipe(1)]),
        CSVSinkJob(path="out.csv", inputs=[PicklePipe(1)]),
    ]
"""


def _run(project, *args: str, timeout: float = 40) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=project.root, env=child_env(),
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)


@pytest.mark.timeout(60)
def test_the_originals_manage_py_simulates_a_network(project):
    (project.root / "manage.py").write_text(textwrap.dedent(OLD_MANAGE))
    project.network("net", NETWORK)
    done = _run(project, "manage.py", "net", "simulate")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = read_csv(project.root / "net" / "simulation" / "2" / "out.csv")
    assert rows[1:] == [[str(i)] for i in range(20)]


@pytest.mark.timeout(60)
def test_a_failing_command_exits_non_zero_with_one_error_line(project):
    (project.root / "manage.py").write_text(textwrap.dedent(OLD_MANAGE))
    project.network("net", "JOBS = []\n")
    done = _run(project, "manage.py", "net", "simulate")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error: net/config.py: JOBS is empty" in done.stderr
    assert "Traceback" not in done.stderr
    missing = _run(project, "manage.py", "nonet", "simulate")
    assert missing.returncode == 1 and "error: network 'nonet'" in missing.stderr


@pytest.mark.timeout(60)
def test_execute_simulation_runs_the_config_a_script_imported(project):
    (project.root / "demo.py").write_text(textwrap.dedent(SCRIPT))
    project.network("net", NETWORK)
    done = _run(project, "demo.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "script done" in done.stdout
    rows = read_csv(project.root / "net" / "simulation" / "2" / "out.csv")
    assert rows[1:] == [[str(i)] for i in range(20)]


@pytest.mark.timeout(60)
def test_execute_simulation_of_a_failing_network_exits_1(project):
    (project.root / "demo.py").write_text(textwrap.dedent(SCRIPT))
    project.network("net", """
        from fission.core.pipes import PicklePipe
        from netjobs import CountSource
        JOBS = [CountSource(n=3, outputs=[PicklePipe(1)])]
    """)
    done = _run(project, "demo.py")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error: net/config.py: pipe 1 is an output of CountSource 1" in done.stderr
    assert "script done" not in done.stdout


@pytest.mark.timeout(30)
def test_fission_admin_py_starts_a_project(tmp_path):
    (tmp_path / "fission_admin.py").write_text(
        "import sys\nfrom fission.manager import execute_from_command_line\n"
        "execute_from_command_line(sys.argv)\n")
    done = subprocess.run([sys.executable, "fission_admin.py", "proj", "startproject"],
                          cwd=tmp_path, env=child_env(), capture_output=True, text=True,
                          timeout=20, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "proj" / "manage.py").is_file()


@pytest.mark.timeout(30)
def test_importing_the_manager_imports_nothing_that_could_fail(tmp_path):
    """The original's manage.py reports any ImportError of this import as "Couldn't import
    FISSION", so it must import nothing but the standard library."""
    probe = ("import sys, fission.manager\n"
             "print(sorted(m for m in sys.modules if m.startswith('fission')))\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=child_env(),
                          capture_output=True, text=True, timeout=20, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['fission', 'fission.manager']"
