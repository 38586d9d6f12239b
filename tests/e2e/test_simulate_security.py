"""`simulate` is secured like `run`: strangers on its pipes, control channel and send
endpoint get nothing, and ``SECURE = False`` is loud about what it gives up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from simhelp import read_csv, wait_until
from strangers import attack, bomb_frames, try_zmq

from fission.security.credentials import export_node, folder, project_credentials

NETWORK = """
    from fission.core.pipes import PicklePipe
    from fission.core.jobs import CSVSinkJob
    from netjobs import CountSource
    JOBS = [
        CountSource(n=None, start=1, sleep=0.01, outputs=[PicklePipe(1)]),
        CSVSinkJob(path="out.csv", inputs=[PicklePipe(1)]),
    ]
"""


def _endpoints(project: Path) -> dict[str, str]:
    """The addresses of the running network's sockets, from its published send endpoint."""
    send = json.loads((project / "net" / ".fission" / "run.json").read_text())["send"]
    sockets = send.rsplit("/", 1)[0]
    return {"pipe 1": f"{sockets}/pipe-1", "the control channel": f"{sockets}/control",
            "the send endpoint": send}


def _other_project(tmp_path: Path):
    other = tmp_path / "other"
    other.mkdir()
    return export_node(other, "127.0.0.1", tmp_path / "other.json")


@pytest.mark.timeout(60)
def test_strangers_get_nothing_and_are_logged_once(sim, project, tmp_path: Path) -> None:
    project.network("net", NETWORK)
    run = sim(project.root, "net", "--duration", "8")
    out = run.job_dir(2) / "out.csv"
    wait_until(lambda: out.exists() and len(read_csv(out)) > 5, 15, "the sink's first rows")
    assert (folder(project.root) / "client.json").is_file()  # made by this first simulate
    marker = tmp_path / "pwned"
    keys = project_credentials(project.root).curve
    other = _other_project(tmp_path)
    for what, address in _endpoints(project.root).items():
        assert attack(address, marker, project=keys, other=other) == [], what
    rows_after_attack = len(read_csv(out))
    assert run.wait(30) == 0, run.output()  # ran its full --duration: no stranger stopped it
    assert not marker.exists(), "a stranger's pickle was loaded"
    rows = read_csv(out)
    assert len(rows) > rows_after_attack
    assert [int(row[0]) for row in rows[1:]] == list(range(1, len(rows)))  # none of theirs
    job_log = (run.job_dir(2) / "job.log").read_text()
    assert "{1: {'garbage': 0," in job_log, job_log  # the counters at the stop
    assert job_log.count("refused a connection") == 1, job_log
    assert "refused a connection from a process of this machine to pipe 1" in job_log
    backend_log = (project.root / "FISSION.log").read_text()  # the default LOG_FILE
    assert backend_log.count("refused a connection from a process of this machine") == 1, (
        backend_log)


@pytest.mark.timeout(60)
def test_without_security_a_stranger_runs_code_and_the_user_was_warned(sim, project,
                                                                       tmp_path: Path) -> None:
    """The other side of the coin, and proof that the test above can fail."""
    project.network("net", NETWORK, "SECURE = False")
    run = sim(project.root, "net", "--duration", "5")
    out = run.job_dir(2) / "out.csv"
    wait_until(lambda: out.exists() and len(read_csv(out)) > 5, 15, "the sink's first rows")
    marker = tmp_path / "pwned"
    try_zmq(_endpoints(project.root)["pipe 1"], bomb_frames(marker))
    run.wait(30)
    assert marker.exists()
    assert "warning: SECURE = False in net/config.py" in run.stderr
    assert not folder(project.root).exists()


@pytest.mark.timeout(60)
def test_nothing_secret_in_the_simulation_folder(sim, project) -> None:
    project.network("net", NETWORK)
    run = sim(project.root, "net", "--duration", "2")
    assert run.wait(30) == 0, run.output()
    credentials = project_credentials(project.root)
    secrets = [credentials.curve.secret.decode(), _pem_body(credentials.key),
               _pem_body((folder(project.root) / "authority.key").read_text())]
    files = [p for p in project.root.rglob("*") if p.is_file()
             and not p.is_relative_to(folder(project.root))]
    assert any(p.name == "info.txt" for p in files) and any(p.name == "job.log" for p in files)
    for path in files:
        text = path.read_text(errors="replace")
        assert not any(secret in text for secret in secrets), path


def _pem_body(pem: str) -> str:
    """The base64 of a PEM key, the part that is the secret."""
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))[:40]
