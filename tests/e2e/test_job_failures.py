"""How `simulate` tells what went wrong in a job's own code (one job process each)."""

from __future__ import annotations

import pytest
from simhelp import wait_until

HEAD = """
    from fission.core.jobs import CSVSinkJob, PythonJob
    from fission.core.pipes import PicklePipe
"""


def _failed(run, timeout: float = 30) -> str:
    """The one ``error:`` line of a simulation that failed; checks nothing is left running."""
    assert run.wait(timeout) == 1, run.output()
    wait_until(lambda: not run.members(), 5, "every job process to exit after the failure")
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, run.output()
    return errors[0]


def _network(project, job_class: str) -> None:
    project.network("net", HEAD, job_class, """
        JOBS = [Broken(outputs=[PicklePipe(1)]), CSVSinkJob(path="out.csv", inputs=[PicklePipe(1)])]
    """)


@pytest.mark.timeout(40)
def test_the_first_failure_is_reported_and_a_teardown_failure_after_it(sim, project):
    _network(project, """
        class Broken(PythonJob):
            def run(self):
                raise RuntimeError("the real cause")

            def teardown(self):
                raise ValueError("teardown trouble")
    """)
    run = sim(project.root, "net")
    error = _failed(run)
    assert "Broken 1" in error and "RuntimeError: the real cause" in error, error
    assert error.index("the real cause") < error.index("then teardown() raised too: ValueError: "
                                                       "teardown trouble"), error
    out = [line for line in run.stdout.splitlines() if line.startswith("[Broken 1] ")]
    order = ["[Broken 1] RuntimeError: the real cause", "[Broken 1] Then teardown() raised too:",
             "[Broken 1] ValueError: teardown trouble"]
    assert all(line in out for line in order), run.output()
    assert [out.index(line) for line in order] == sorted(out.index(line) for line in order), out
    log = (run.job_dir(1) / "job.log").read_text()
    assert log.index("RuntimeError: the real cause") < log.index("ValueError: teardown trouble")


@pytest.mark.timeout(40)
def test_keyboard_interrupt_raised_by_the_job_is_its_own_exception(sim, project):
    _network(project, """
        class Broken(PythonJob):
            def run(self):
                raise KeyboardInterrupt
    """)
    run = sim(project.root, "net")
    error = _failed(run)
    assert "Broken 1 failed: KeyboardInterrupt (config.py, line" in error, error
    assert "signal" not in error, error
    out = [line for line in run.stdout.splitlines() if line.startswith("[Broken 1] ")]
    assert "[Broken 1] KeyboardInterrupt" in out, run.output()
    assert any("config.py" in line and "in run" in line for line in out), out
    assert not any("fission/" in line for line in out), out


@pytest.mark.timeout(40)
def test_an_exception_whose_str_raises_is_named_by_its_type(sim, project):
    _network(project, """
        class Unprintable(Exception):
            def __str__(self):
                raise ValueError("no words")

        class Broken(PythonJob):
            def run(self):
                raise Unprintable()
    """)
    run = sim(project.root, "net")
    error = _failed(run)
    assert "Broken 1 failed: Unprintable: (its message could not be shown" in error, error
    assert "[Broken 1] Traceback (most recent call last):" in run.stdout, run.output()


@pytest.mark.timeout(40)
def test_a_jobs_stdout_and_stderr_are_real_text_streams(sim, project):
    project.network("net", HEAD, """
        import os
        import sys

        class Talker(PythonJob):
            def run(self):
                sys.stdout.buffer.write(b"bytes on stdout\\n")
                sys.stderr.buffer.write(b"bytes on stderr\\n")
                assert not sys.stdout.isatty() and os.isatty(sys.stdout.fileno()) is False
                print(f"encoding {sys.stdout.encoding} {sys.stderr.encoding}")
                sys.stdout.write("no newline at the end")
                return None

        JOBS = [Talker(outputs=[PicklePipe(1)]), CSVSinkJob(path="out.csv", inputs=[PicklePipe(1)])]
    """)
    run = sim(project.root, "net")
    assert run.wait(30) == 0, run.output()
    out = run.stdout.splitlines()
    for line in ("bytes on stdout", "bytes on stderr", "encoding utf-8 utf-8",
                 "no newline at the end"):
        assert f"[Talker 1] {line}" in out, run.output()
        assert line in (run.job_dir(1) / "job.log").read_text(), line


@pytest.mark.timeout(40)
def test_control_characters_a_job_prints_reach_the_console_escaped_and_job_log_raw(sim, project):
    project.network("net", HEAD, """
        class Loud(PythonJob):
            def run(self):
                print("title\\x1b]0;pwned\\x07 clear\\x1b[2J bell\\x07 tab\\tkept")
                return None

        JOBS = [Loud(outputs=[PicklePipe(1)]), CSVSinkJob(path="out.csv", inputs=[PicklePipe(1)])]
    """)
    run = sim(project.root, "net")
    assert run.wait(30) == 0, run.output()
    assert "\x1b" not in run.stdout and "\x07" not in run.stdout, run.output()
    assert ("[Loud 1] title\\x1b]0;pwned\\x07 clear\\x1b[2J bell\\x07 tab\tkept"
            in run.stdout.splitlines()), run.output()
    assert "title\x1b]0;pwned\x07 clear\x1b[2J" in (run.job_dir(1) / "job.log").read_text()


HOG = """
    import time
    from pathlib import Path

    class Hog(PythonJob):
        MAX_MEMORY = "64M"

        def run(self):
            hoard = []
            for _ in range(400):  # bounded: a test that fails must not take the machine down
                try:
                    hoard.append(bytearray(1 << 20))
                    time.sleep(0.002)
                except MemoryError:
                    if not SWALLOW:
                        raise
            return None

        def teardown(self):
            Path("torn-down").write_text("yes")
"""


@pytest.mark.timeout(40)
def test_a_job_over_its_max_memory_fails_naming_the_limit(sim, project):
    project.network("net", HEAD, "SWALLOW = False", HOG, """
        JOBS = [Hog(outputs=[PicklePipe(1)]), CSVSinkJob(path="out.csv", inputs=[PicklePipe(1)])]
    """)
    run = sim(project.root, "net")
    error = _failed(run)
    assert "Hog 1 failed: MemoryLimitError: Hog 1 uses" in error, error
    assert "more than its MAX_MEMORY = '64M' (64 MiB)" in error and "config.py, line" in error
    assert (run.job_dir(1) / "torn-down").read_text() == "yes"
    assert "MemoryLimitError" in (run.job_dir(1) / "job.log").read_text()


@pytest.mark.timeout(40)
def test_a_job_that_ignores_its_max_memory_is_ended(sim, project):
    project.network("net", HEAD, "SWALLOW = True", HOG, """
        JOBS = [Hog(outputs=[PicklePipe(1)]), CSVSinkJob(path="out.csv", inputs=[PicklePipe(1)])]
    """)
    run = sim(project.root, "net")
    error = _failed(run)
    assert "Hog 1 went over its MAX_MEMORY = '64M' and was ended (exit status 3)" in error, error
    assert "did not fail when told to" in (run.job_dir(1) / "job.log").read_text()
    assert "[Hog 1] ERROR: Hog 1 uses" in run.stdout, run.output()


@pytest.mark.timeout(40)
def test_an_exception_message_with_control_characters_is_one_harmless_error_line(sim, project):
    _network(project, """
        class Broken(PythonJob):
            def run(self):
                raise RuntimeError("two\\nlines\\x1b[2J")
    """)
    run = sim(project.root, "net")
    error = _failed(run)
    assert "Broken 1 failed: RuntimeError: two\\nlines\\x1b[2J (config.py, line" in error, error
    assert "\x1b" not in run.stderr + run.stdout, run.output()
