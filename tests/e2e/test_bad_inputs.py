"""Bad inputs met as a user meets them: a config mistake under `simulate`, and `send`
given more than a command line can hold (see docs/bad-inputs.md)."""

from __future__ import annotations

import csv
import os
import pty
import subprocess
import sys

import pytest
from simhelp import child_env, read_csv, wait_until

SENDER = """
    from fission.core.jobs import CSVSinkJob, InteractiveJob
    from fission.core.pipes import PicklePipe
    from netjobs import SlowCounter
    from net.narrow import Narrow
    JOBS = [
        InteractiveJob(outputs=[Narrow(1)]),
        SlowCounter(sleep=0.002, inputs=[Narrow(1)], outputs=[PicklePipe(2)]),
        CSVSinkJob(path="out.csv", inputs=[PicklePipe(2)]),
    ]
"""

#: A pipe that buffers one block: the InteractiveJob soon waits for the slow counter, so
#: its console queue fills and the send endpoint answers "busy".
NARROW = """
from fission.core.pipes import PicklePipe

class Narrow(PicklePipe):
    HWM = 1
    REPLAY_COUNT = 0
"""


def _send(project, *args: str, stdin) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", "net", "send", *args],
                          cwd=project.root, env=child_env(), stdin=stdin,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.timeout(120)
def test_send_reads_lines_from_stdin_at_the_jobs_pace(sim, project, tmp_path, monkeypatch):
    monkeypatch.setattr(csv, "field_size_limit", csv.field_size_limit)  # restored after
    csv.field_size_limit(1_000_000)  # out.csv holds the long line in one field
    project.network("net", SENDER)
    (project.root / "net" / "narrow.py").write_text(NARROW)
    run = sim(project.root, "net")
    long_line = "x" * 300_000  # more than the 128 KiB one argument may hold
    # More lines than the job's console buffers: the endpoint answers "busy" on the way.
    lines = [f"line {n}" for n in range(2500)] + [long_line, "", "last"]
    text = tmp_path / "lines.txt"
    text.write_text("\r\n".join(lines[:10]) + "\r\n" + "\n".join(lines[10:]) + "\n")
    wait_until(lambda: (project.root / "net" / ".fission" / "run.json").exists()
               or run.popen.poll() is not None, 20, "run.json")
    with text.open() as stdin:
        sent = _send(project, "1", "-", stdin=stdin)
    assert sent.returncode == 0, sent.stderr
    more = tmp_path / "more.txt"
    more.write_text("no TEXT\nand stdin not a terminal")
    with more.open() as stdin:
        again = _send(project, "1", stdin=stdin)
    assert again.returncode == 0, again.stderr
    lines += ["no TEXT", "and stdin not a terminal"]
    out = run.job_dir(3) / "out.csv"
    wait_until(lambda: out.exists() and len(read_csv(out)) > len(lines), 60, "every line")
    run.interrupt()
    assert run.wait(15) == 0, run.output()
    assert read_csv(out)[1:] == [[line] for line in lines]


@pytest.mark.timeout(60)
def test_send_without_text_from_a_terminal_says_what_to_give(sim, project):
    project.network("net", SENDER)
    (project.root / "net" / "narrow.py").write_text(NARROW)
    leader, follower = pty.openpty()
    try:
        result = _send(project, "1", stdin=follower)
    finally:
        os.close(leader)
        os.close(follower)
    assert result.returncode == 1
    assert result.stderr.startswith("error: send needs TEXT, or lines on stdin")
    assert "Traceback" not in result.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mistake, expected", [
    ("DEBUG_WINDWO = True", "DEBUG_WINDWO is not a setting but resembles DEBUG_WINDOW"),
    ("LOG_FILE = 'logs/run.log'", "the folder"),
    ("from netjobs import Double\n"
     "JOBS = [Double(inputs=[PicklePipe(2)], outputs=[PicklePipe(1)]),\n"
     "        Double(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)])]",
     "the network has no source"),
])
def test_a_config_mistake_is_one_error_line_and_nothing_starts(manage, project, mistake,
                                                               expected):
    project.network("net", """
        from fission.core.jobs import CSVSinkJob
        from fission.core.pipes import PicklePipe
        from netjobs import CountSource as Count
        JOBS = [Count(n=3, outputs=[PicklePipe(1)]), CSVSinkJob(path="o.csv",
                                                                inputs=[PicklePipe(1)])]
    """, mistake)
    result = manage(project.root, "net", "simulate", "--duration", "5")
    assert result.returncode == 1, result
    assert result.stderr.startswith("error: net/config.py: ") and expected in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert not (project.root / "net" / "simulation").exists()


@pytest.mark.timeout(60)
def test_run_refuses_a_network_whose_producer_would_wait_forever(manage, project):
    """Under ``run`` a producer keeps its blocks until they are acknowledged: through two
    windows of 200 and 100, a sink's first run needs 20000 blocks of the first pipe, more
    than it may keep (each pipe on its own keeps enough for its consumer's window)."""
    project.network("net", """
        from fission.core.jobs import CSVSinkJob
        from fission.core.pipes import PicklePipe
        from netjobs import CountSource as Count, Double

        class Wide(PicklePipe):
            BLOCK_COUNT = 200

        class Wider(PicklePipe):
            BLOCK_COUNT = 100

        JOBS = [Count(n=3, outputs=[Wide(1)]), Double(inputs=[Wide(1)], outputs=[Wider(2)]),
                CSVSinkJob(path="o.csv", inputs=[Wider(2)])]
    """)
    result = manage(project.root, "net", "run", "--duration", "5")
    assert result.returncode == 1, result
    assert result.stderr.startswith(
        "error: net/config.py: pipe 1 (Wide, CountSource 1 -> Double 2)")
    assert "20000 of them" in result.stderr and "RETAIN_BLOCKS of 16384" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert not (project.root / "net" / "local").exists()
