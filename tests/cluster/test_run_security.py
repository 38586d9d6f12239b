"""Nobody outside the run gets in: every listening port of a `run`, on the client, the
agents and the job processes, against strangers; agents of another project, or with no
credentials; what the logs and the nodes' folders hold; and ``SECURE = False``."""

from __future__ import annotations

import re
import shutil
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from clusterhelp import (
    EXAMPLES,
    Agent,
    Cluster,
    check_products,
    csv_rows,
    free_port,
    make_project,
    wait_until,
)
from dashhelp import dashboard_of, get
from strangers import attack

from fission.security.credentials import export_node, folder, load_bundle, project_credentials
from fission.wire.recording import read_recording

V3 = "demo_network_v3"


def _listening(processes: list[psutil.Process]) -> dict[tuple[str, int], psutil.Process]:
    ports = {}
    for process in processes:
        try:
            for connection in process.net_connections(kind="inet"):
                if connection.status == psutil.CONN_LISTEN:
                    ports[(connection.laddr.ip, connection.laddr.port)] = process
        except psutil.Error:
            continue
    return ports


def _other_project(root: Path):
    other = root / "other-project"
    other.mkdir(parents=True)
    return export_node(other, "127.0.0.1", root / "other.json")


def _pem_body(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))[:40]


@pytest.mark.timeout(120)
def test_every_port_of_a_run_turns_strangers_away(cluster: Cluster, runs,
                                                  tmp_path: Path) -> None:
    project = make_project(tmp_path, cluster)
    run = runs(project, V3, "--record", "101")  # the client's recording sink listens too
    join = run.local / "6" / "join.csv"
    wait_until(lambda: len(csv_rows(join)) > 3, 30, "the first rows of join.csv")
    client = psutil.Process(run.popen.pid)
    agents = {agent.popen.pid: agent for agent in cluster.agents}
    jobs = [p for pid in [client.pid, *agents] for p in psutil.Process(pid).children(True)]
    ports = _listening([client, *(psutil.Process(pid) for pid in agents), *jobs])

    # Where each port's owner logs: the client's LOG_FILE, an agent's output, a job's job.log.
    def log_of(owner: psutil.Process) -> Path:
        if owner.pid == client.pid:
            return project / "FISSION.log"
        if owner.pid in agents:
            return agents[owner.pid].log_path
        return Path(owner.cwd()) / "job.log"

    client_ports = [port for port, owner in ports.items() if owner.pid == client.pid]
    # scheduler, control channel, output relay, file server, recording sink, dashboard
    assert len(client_ports) == 6
    # The dashboard speaks HTTP: a stranger without the run's token gets 401 on every path.
    base, token = dashboard_of(lambda: run.output)
    dashboard = ("127.0.0.1", int(base.rsplit(":", 1)[1].strip("/")))
    assert dashboard in client_ports
    for path in ("", "metrics", "snapshot", "stream", "static/dashboard.js", "x"):
        assert get(base + path)[0] == 401, path
        assert get(base + path, {"Authorization": "Bearer not-the-token"})[0] == 401, path
    assert get(base + "metrics", {"Authorization": f"Bearer {token}"})[0] == 200
    del ports[dashboard]  # the ZeroMQ and Dask strangers below are for the other ports
    logs = {port: log_of(owner) for port, owner in ports.items()}
    for pid in agents:  # its Dask worker, and no HTTP server beside it
        assert len([port for port, owner in ports.items() if owner.pid == pid]) == 1
    assert len(ports) >= 4 + 3 + 6  # and the pipe inputs of the jobs

    keys = project_credentials(project).curve
    other = _other_project(tmp_path)
    marker = tmp_path / "pwned"
    strangers = {port: f"127.0.0.{100 + index}" for index, port in enumerate(sorted(ports))}
    rows_before = len(csv_rows(join))
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = pool.map(
            lambda port: (port, attack(f"tcp://{port[0]}:{port[1]}", marker, project=keys,
                                       other=other, source=strangers[port], pipe_id=101)),
            sorted(ports))
        got_through = {port: through for port, through in results if through}
    assert not got_through

    wait_until(lambda: len(csv_rows(join)) > rows_before + 10, 20, "join.csv growing on")
    # A refusal is logged by the owner's socket monitor when it sees the handshake fail,
    # which may be after the stranger gave up: wait for each before the run stops.
    wait_until(lambda: all(f"refused a connection from {stranger} " in
                           logs[port].read_text(errors="replace")
                           for port, stranger in strangers.items()), 20, "every refusal logged")
    run.interrupt()
    assert run.wait(20) == 0, run.output
    assert not marker.exists(), "a stranger's pickle was loaded"
    recorded = [seq for _, seq, _ in read_recording(project / V3 / "recordings" / "pipe-101.rec")]
    assert recorded == list(range(len(recorded))) and recorded, "a stranger's block recorded"
    assert not run.events_of("node_down") and not run.events_of("failover_started")
    check_products(csv_rows(join))
    # Every job reported its figures: no block dummied, nothing a stranger sent counted.
    assert run.input_totals("dummies") == run.input_totals("garbage") == dict.fromkeys(
        run.placed(), 0), run.output
    for port, stranger in strangers.items():
        text = logs[port].read_text(errors="replace")
        assert text.count(f"refused a connection from {stranger} ") == 1, (port, logs[port])
    # And only strangers: the run's own connections raised no alarm anywhere. (A stranger
    # that hangs up before its address can be read is reported as "an unknown peer".)
    refused = re.findall(r"refused a connection from (an unknown peer|\S+) ", "".join(
        log.read_text(errors="replace") for log in set(logs.values())))
    assert set(refused) - {"an unknown peer"} == set(strangers.values()), refused

    # Nothing secret in the logs, events, info or anything shipped to or written by a node.
    credentials = project_credentials(project)
    secrets = {credentials.curve.secret.decode(), _pem_body(credentials.key),
               _pem_body((folder(project) / "authority.key").read_text())}
    bundles = [agent.home / "node-credentials.json" for agent in cluster.agents]
    secrets |= {_pem_body(load_bundle(bundle).key) for bundle in bundles}
    roots = [project, *(agent.home for agent in cluster.agents)]
    files = [p for root in roots for p in root.rglob("*") if p.is_file()
             and not p.is_relative_to(folder(project)) and p not in bundles]
    assert any(p.name == "events.jsonl" for p in files)
    assert any(p.name == "job.log" and p.is_relative_to(cluster.root) for p in files)
    for path in files:
        text = path.read_text(errors="replace")
        assert not any(secret in text for secret in secrets), path


@pytest.mark.timeout(90)
def test_agents_of_another_project_or_without_credentials_never_join(cluster: Cluster, runs,
                                                                    tmp_path: Path) -> None:
    other = tmp_path / "other-project"
    other.mkdir()
    foreign = Agent(tmp_path, "127.0.0.9", cluster.port, credentials=other)
    insecure = Agent(tmp_path, "127.0.0.10", cluster.port, credentials=None)
    try:
        wait_until(lambda: "waiting for a client" in foreign.log + insecure.log, 15,
                   "the two agents up")
        nodes = "[" + ", ".join(f'BaseNode("{agent.host}")' for agent in
                                [*cluster.agents, foreign, insecure]) + "]"
        project = make_project(tmp_path, cluster, nodes=nodes, extra="NODE_WAIT = 6")
        run = runs(project, V3)
        assert run.wait(30) == 1, run.output
        assert "127.0.0.9, 127.0.0.10 did not join" in run.output
        assert not run.events_of("job_started")  # nothing ran
        client_log = (project / "FISSION.log").read_text()
        assert "refused a connection from 127.0.0.9 to the cluster port" in client_log
        assert "refused a connection from 127.0.0.10 to the cluster port" in client_log
        assert "is not of this node's project" in foreign.log
        assert "joined the client" not in foreign.log + insecure.log
    finally:
        foreign.close()
        insecure.close()


@pytest.mark.timeout(90)
def test_secure_false_runs_with_an_insecure_agent_and_warns(runs, tmp_path: Path) -> None:
    cluster = Cluster(tmp_path / "nodes", count=1, cpus=6, secure=False)
    try:
        project = make_project(tmp_path, cluster, extra="SECURE = False")
        run = runs(project, V3, "--duration", "4")
        assert run.wait(30) == 0, run.output
        assert "warning: SECURE = False in demo_network_v3/config.py" in run.output
        check_products(csv_rows(run.local / "6" / "join.csv"))
        assert "SECURE = False runs only" in cluster.agents[0].log
    finally:
        cluster.close()


@pytest.mark.timeout(60)
def test_the_first_run_of_a_project_makes_its_credentials(runs, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(EXAMPLES, project, ignore=shutil.ignore_patterns(
        "simulation", "local", ".fission", "__pycache__", "FISSION.log", "credentials"))
    with (project / V3 / "config.py").open("a") as config:
        config.write(f'\nCLIENT_IP = "127.0.0.1"\nSCHEDULER_PORT = {free_port()}\n'
                     'NODES = [BaseNode("127.0.0.99")]\nNODE_WAIT = 1\n')
    run = runs(project, V3)
    assert run.wait(30) == 1, run.output  # no node of this brand-new project exists yet
    assert "made the credentials of project project" in run.output
    assert "fission credentials export NODE_IP FILE" in run.output
    assert load_bundle(folder(project) / "client.json").holder == "client"
    assert stat.S_IMODE(folder(project).stat().st_mode) == 0o700
