"""What a person sees: printed lines, the log files, and the prompt of an InteractiveJob."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest
from simhelp import child_env, group_members, read_csv, wait_until

PIPES = "from fission.core.pipes import PicklePipe\n"
SINK = "from fission.core.jobs import CSVSinkJob\n"
ECHO_NETWORK = """
    from netjobs import CountSource, Echo
    JOBS = [
        CountSource(n=3, outputs=[PicklePipe(1)]),
        Echo(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
        CSVSinkJob(path="out.csv", inputs=[PicklePipe(2)]),
    ]
"""


@pytest.mark.timeout(40)
def test_print_reaches_the_console_with_its_job_and_the_jobs_log(sim, project):
    project.network("net", PIPES, SINK, 'LOG_LEVEL = "INFO"\nLOG_FILE = "logs/run.log"\n',
                    ECHO_NETWORK)
    (project.root / "logs").mkdir()
    run = sim(project.root, "net")
    assert run.wait(30) == 0, run.output()
    assert [line for line in run.stdout.splitlines() if "echo" in line] == [
        "[Echo 2] echo 0", "[Echo 2] echo 1", "[Echo 2] echo 2"]
    job_log = (run.job_dir(2) / "job.log").read_text()
    assert all(f"echo {i}" in job_log for i in range(3)), job_log
    backend_log = (project.root / "logs" / "run.log").read_text()
    assert "INFO fission.simulate: started 3 job processes for net" in backend_log


@pytest.mark.timeout(40)
def test_log_level_filters_the_backend_log(sim, project):
    project.network("net", PIPES, SINK, 'LOG_LEVEL = "WARNING"\nLOG_FILE = "quiet.log"\n',
                    ECHO_NETWORK)
    run = sim(project.root, "net")
    assert run.wait(30) == 0, run.output()
    assert read_csv(run.job_dir(3) / "out.csv")[1:] == [["0"], ["1"], ["2"]]
    assert (project.root / "quiet.log").read_text() == ""


class _Terminal:
    """``manage.py NET simulate`` on a pseudo-terminal, as a person at a terminal runs it."""

    def __init__(self, project: Path, network: str, *args: str) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        env = child_env()
        env["TERM"] = "xterm"
        env["PROMPT_TOOLKIT_NO_CPR"] = "1"  # this terminal does not answer cursor queries
        self.popen = subprocess.Popen(
            [sys.executable, "manage.py", network, "simulate", *args], cwd=project, env=env,
            stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        )
        os.close(slave)
        self.screen = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            if not chunk:
                return
            self.screen += chunk

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(10)
        os.close(self.master)


@pytest.mark.timeout(60)
def test_the_prompt_sends_typed_lines_and_ctrl_c_stops(examples_project):
    terminal = _Terminal(examples_project, "demo_network_v4")
    join = examples_project / "demo_network_v4" / "simulation" / "7" / "join.csv"
    try:
        wait_until(lambda: b"demo_network_v4 >" in terminal.screen, 20, "the prompt")
        wait_until(lambda: join.exists() and len(read_csv(join)) >= 2, 20, "the first row")
        terminal.type("*\r")
        wait_until(lambda: any(row[-1] == "*" for row in read_csv(join)[1:]), 20,
                   "a row joined with the typed operator")
        assert b"[JoinJob 5]" in terminal.screen
        terminal.type("\x03")  # Ctrl+C at the prompt (the terminal is in raw mode)
        started = time.monotonic()
        assert terminal.popen.wait(10) == 0, terminal.screen.decode(errors="replace")
        assert time.monotonic() - started < 5
        wait_until(lambda: not group_members(terminal.popen.pid), 5, "every job to exit")
    finally:
        terminal.close()
    rows = read_csv(join)[1:]
    operators = [row[-1] for row in rows]
    assert operators[0] == "+" and operators[-1] == "*", rows
    # Once switched, it stays switched (OPTIONAL_STORE = True).
    assert operators[operators.index("*"):] == ["*"] * (len(operators) - operators.index("*"))


@pytest.mark.timeout(40)
def test_the_terminal_is_restored_when_the_network_stops_by_itself(examples_project):
    terminal = _Terminal(examples_project, "demo_network_v4", "--duration", "2")
    try:
        wait_until(lambda: b"demo_network_v4 >" in terminal.screen, 20, "the prompt")
        assert not termios.tcgetattr(terminal.master)[3] & termios.ICANON, "prompt in raw mode"
        assert terminal.popen.wait(20) == 0, terminal.screen.decode(errors="replace")
        local_modes = termios.tcgetattr(terminal.master)[3]
        assert local_modes & termios.ICANON and local_modes & termios.ECHO, \
            "simulate left the terminal in raw mode"
    finally:
        terminal.close()
