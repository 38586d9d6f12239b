"""The dashboard of a simulation: its token on every path, /metrics, the stream, and `top`."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
import time
import urllib.request

import pytest
from dashhelp import dashboard_of, get
from prometheus_client.parser import text_string_to_metric_families
from simhelp import child_env, wait_until

V3 = "demo_network_v3"
PATHS = ["", "metrics", "snapshot", "stream", "static/cytoscape.min.js", "static/dashboard.js",
         "no/such/path"]


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _metrics(base: str, token: str) -> dict[tuple[str, tuple], float]:
    status, headers, body = get(base + "metrics", {"Authorization": f"Bearer {token}"})
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    return _samples(body.decode())


@pytest.mark.timeout(90)
def test_a_stranger_gets_401_from_every_path(sim, examples_project) -> None:
    run = sim(examples_project, V3)
    base, token = dashboard_of(lambda: run.stderr)
    for path in PATHS:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Cookie": "fission_token=x"},
                        {"Authorization": f"Basic {token}"}):
            status, _, body = get(base + path, headers)
            assert status == 401, (path, headers, status)
            assert token.encode() not in body
        status, _, _ = get(f"{base}{path}?token={token[:-1]}")
        assert status == 401, path
    # The token opens the page once; its cookie opens the rest.
    status, headers, page = get(f"{base}?token={token}")
    assert status == 200 and b"cytoscape.min.js" in page
    cookie = headers["Set-Cookie"].split(";")[0]
    assert cookie == f"fission_token={token}" and "HttpOnly" in headers["Set-Cookie"]
    for path in ("metrics", "snapshot", "static/cytoscape.min.js"):
        assert get(base + path, {"Cookie": cookie})[0] == 200, path
    assert get(base + "no/such/path", {"Cookie": cookie})[0] == 404
    run.interrupt()
    assert run.wait(20) == 0


@pytest.mark.timeout(90)
def test_metrics_have_the_series_of_every_job_and_pipe_and_they_grow(sim, examples_project,
                                                                     manage) -> None:
    run = sim(examples_project, V3)
    base, token = dashboard_of(lambda: run.stderr)
    join = (("job", "4"), ("name", "JoinJob"), ("node", "client"))
    wait_until(lambda: _metrics(base, token).get(("fission_job_runs_total", join), 0) >= 2,
               30, "JoinJob's first runs in /metrics")
    first = _metrics(base, token)
    for job_id, name in [(1, "SourceJob"), (2, "SourceJob"), (3, "SourceJob"), (4, "JoinJob"),
                         (5, "ReduceJob"), (6, "CSVSinkJob"), (7, "CSVSinkJob")]:
        labels = (("job", str(job_id)), ("name", name), ("node", "client"))
        assert ("fission_job_runs_total", labels) in first
        assert ("fission_job_state", (*labels, ("state", "running"))) in first
    for pipe in (101, 102, 103):  # the sources' pipes into JoinJob
        assert ("fission_pipe_blocks_received_total", (*join, ("pipe", str(pipe)))) in first
        assert ("fission_input_dummies_total", (*join, ("pipe", str(pipe)))) in first
        assert ("fission_input_waiting_blocks", (*join, ("pipe", str(pipe)))) in first
    source = (("job", "1"), ("name", "SourceJob"), ("node", "client"), ("pipe", "101"))
    assert first[("fission_pipe_blocks_sent_total", source)] >= 2
    assert first[("fission_failovers_total", ())] == 0
    wait_until(lambda: _metrics(base, token)[("fission_job_runs_total", join)]
               >= first[("fission_job_runs_total", join)] + 2, 10, "JoinJob's runs to grow")
    later = _metrics(base, token)
    assert later[("fission_pipe_blocks_sent_total", source)] > first[
        ("fission_pipe_blocks_sent_total", source)]

    # top --once --json: the same figures, for a network running in another shell.
    result = manage(examples_project, V3, "top", "--once", "--json")
    assert result.returncode == 0, result.stderr
    snapshot = json.loads(result.stdout)
    assert [job["name"] for job in snapshot["jobs"]] == [
        "SourceJob 1", "SourceJob 2", "SourceJob 3", "JoinJob 4", "ReduceJob 5", "CSVSinkJob 6",
        "CSVSinkJob 7"]
    assert snapshot["jobs"][3]["runs"] >= later[("fission_job_runs_total", join)]
    assert {event["event"] for event in snapshot["events"]} >= {"placed", "job_started"}
    assert any("->" in line for line in snapshot["jobs"][0]["lines"])
    table = manage(examples_project, V3, "top", "--once")
    assert table.returncode == 0 and "JoinJob 4" in table.stdout and "running" in table.stdout

    # The stream pushes a snapshot at once and then every second, with the figures of then.
    request = urllib.request.Request(f"{base}stream?token={token}")
    pushed: list[tuple[float, dict]] = []
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        while len(pushed) < 4:
            line = response.readline()
            if line.startswith(b"data: "):
                pushed.append((time.monotonic(), json.loads(line.removeprefix(b"data: "))))
    assert pushed[0][1]["network"] == V3
    gaps = [b[0] - a[0] for a, b in zip(pushed[1:-1], pushed[2:], strict=True)]
    assert all(0.5 < gap < 2.5 for gap in gaps), gaps  # every second (a busy machine: later)
    assert pushed[-1][1]["jobs"][3]["runs"] > pushed[0][1]["jobs"][3]["runs"]
    run.interrupt()
    assert run.wait(20) == 0


@pytest.mark.timeout(60)
def test_top_when_nothing_runs_or_without_a_dashboard(sim, manage, examples_project) -> None:
    result = manage(examples_project, V3, "top", "--once")
    assert result.returncode == 1
    assert result.stderr.startswith("error: network 'demo_network_v3' is not running")
    config = examples_project / V3 / "config.py"
    config.write_text(config.read_text() + "\nDASHBOARD = None\n")
    run = sim(examples_project, V3)
    wait_until(lambda: (run.job_dir(6) / "join.csv").exists(), 20, "join.csv")
    assert "dashboard:" not in run.stderr
    result = manage(examples_project, V3, "top")
    assert result.returncode == 1 and "runs without a dashboard (DASHBOARD = None" in result.stderr
    run.interrupt()
    assert run.wait(20) == 0


@pytest.mark.timeout(60)
def test_blocks_of_optional_inputs_are_counted_too(sim, project) -> None:
    project.network("net", """
        from fission.core.pipes import PicklePipe
        from fission.core.jobs import CSVSinkJob
        from netjobs import CountSource, OnceOptional
        JOBS = [
            CountSource(sleep=0.02, outputs=[PicklePipe(1)]),
            CountSource(n=3, start=100, outputs=[OnceOptional(2)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(1), OnceOptional(2)]),
        ]
    """)
    run = sim(project.root, "net")
    base, token = dashboard_of(lambda: run.stderr)

    def sink() -> dict:
        body = get(base + "snapshot", {"Authorization": f"Bearer {token}"})[2]
        return json.loads(body)["jobs"][2]

    wait_until(lambda: sink()["blocks_in"].get("2") == 3 and sink()["blocks_in"]["1"] > 5, 20,
               "the sink's blocks of both inputs in its figures")
    run.interrupt()
    assert run.wait(20) == 0



def _frames(terminal: int, into: list[bytes]) -> None:
    """Read what ``top`` draws on its terminal until it closes."""
    with contextlib.suppress(OSError):
        while chunk := os.read(terminal, 65536):
            into.append(chunk)


@pytest.mark.timeout(90)
def test_top_redraws_live_and_exits_when_the_network_ends(sim, examples_project) -> None:
    run = sim(examples_project, V3)
    dashboard_of(lambda: run.stderr)
    terminal, screen = pty.openpty()
    fcntl.ioctl(screen, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    top = subprocess.Popen([sys.executable, "manage.py", V3, "top"], cwd=examples_project,
                           env={**child_env(), "TERM": "xterm"}, stdout=screen,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    os.close(screen)
    drawn: list[bytes] = []
    reader = threading.Thread(target=_frames, args=(terminal, drawn), daemon=True)
    reader.start()

    def runs_drawn() -> list[int]:  # JoinJob's runs in each frame drawn so far
        text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", b"".join(drawn)).decode(errors="replace")
        return [int(row.split()[5]) for row in re.findall(r"^4 +JoinJob 4 .*$", text, re.M)]

    try:
        wait_until(lambda: len(set(runs_drawn())) >= 3, 40, "top to redraw JoinJob's runs")
        run.interrupt()
        assert run.wait(20) == 0
        assert top.wait(15) == 0, top.stderr.read()
        reader.join(5)
    finally:
        top.kill()
        top.wait()
        top.stderr.close()
        os.close(terminal)
    assert runs_drawn() == sorted(runs_drawn())
    assert f"FISSION: network {V3} is no longer running" in b"".join(drawn).decode()
