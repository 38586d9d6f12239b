"""The tool commands of manage.py: test, graphviz, show, shell and interactive."""

from __future__ import annotations

import textwrap

from simhelp import Project

CONFIG = """
    from fission.core.jobs import CSVSinkJob
    from fission.core.pipes import PicklePipe
    from netjobs import Add, CountSource, Double, Window5

    JOBS = [
        CountSource(n=10, outputs=[PicklePipe(11)]),
        CountSource(n=10, outputs=[PicklePipe(12)]),
        Add(inputs=[PicklePipe(11), PicklePipe(12)], outputs=[Window5(13)]),
        Double(inputs=[Window5(13)], outputs=[PicklePipe(14)]),
        CSVSinkJob("out.csv", inputs=[PicklePipe(14)]),
    ]
"""

TESTS = '''
    import pytest

    from fission.core.pipes import PicklePipe
    from netjobs import Add


    def test_config_is_loaded(fission_cfg):
        assert len(fission_cfg.JOBS) == 5


    def test_add_from_the_config(fission_cfg_jobs):
        add = fission_cfg_jobs(2)
        assert add(1, 2) == [3]
        assert add.cwd.name == "3"


    @pytest.fixture
    def fission_test_job():
        return Add(inputs=[PicklePipe(901), PicklePipe(902)], outputs=[PicklePipe(903)])


    def test_own_job(fission_test_emulator):
        assert fission_test_emulator(4, 5) == [9]


    @pytest.mark.slow
    def test_only_with_runslow():
        pass
'''


def _tests_project(project: Project, *extra: str) -> None:
    folder = project.network("tnet", CONFIG)
    (folder / "tests").mkdir()
    (folder / "tests" / "test_net.py").write_text(textwrap.dedent(TESTS) + "".join(extra))


def test_test_runs_the_networks_tests_with_the_fixtures(project, manage):
    _tests_project(project)
    result = manage(project.root, "tnet", "test", "-v", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed, 1 skipped" in result.stdout
    assert (project.root / ".emulate" / "3").is_dir()
    slow = manage(project.root, "tnet", "test", "--runslow", "-k", "slow", timeout=60)
    assert slow.returncode == 0 and "1 passed" in slow.stdout, slow.stdout + slow.stderr


def test_test_exit_status_of_a_failing_test(project, manage):
    _tests_project(project, "\n\ndef test_fails(fission_cfg_jobs):\n"
                            "    assert fission_cfg_jobs(3)([1, 2, 3, 4, 5]) == [0]\n")
    result = manage(project.root, "tnet", "test", timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 3 passed, 1 skipped" in result.stdout


def test_test_without_a_tests_folder_is_one_error(project, manage):
    project.network("tnet", CONFIG)
    result = manage(project.root, "tnet", "test")
    assert result.returncode == 1
    assert result.stderr.startswith("error: network 'tnet' has no tests folder")
