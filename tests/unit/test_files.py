"""Code shipping and log collection over ZeroMQ: real sockets on loopback, no cluster.

Both ends hold one project's CURVE keys, as the client and its nodes do.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import zmq

from fission.backends.files import (
    CHUNK,
    FileServer,
    FileSink,
    Manifest,
    code_paths,
    fetch,
    place_dependencies,
    push_files,
    user_packages,
)
from fission.security.curve import CurveKeys, Gatekeeper, dial

KEYS = CurveKeys.generate()


@pytest.fixture
def gate():
    context = zmq.Context()
    gate = Gatekeeper(context, KEYS, logging.getLogger("test.files"))
    yield gate
    gate.close()
    context.destroy(linger=0)


@pytest.fixture
def node():
    """The node's own context, as its agent owns one apart from the client's."""
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "shared" / "jobs").mkdir(parents=True)
    (root / "shared" / "jobs" / "jobs.py").write_text("X = 1\n")
    (root / "net" / "simulation" / "1").mkdir(parents=True)
    (root / "net" / "simulation" / "1" / "out.csv").write_text("results, not code\n")
    (root / "net" / "config.py").write_text("JOBS = []\n")
    (root / "net" / "job.log").write_text("a log\n")
    (root / "tools.py").write_text("Y = 2\n")
    (root / "big.bin").write_bytes(bytes(range(256)) * (CHUNK // 256 * 2 + 7))
    return root


@pytest.mark.timeout(30)
def test_code_paths_take_packages_and_modules_but_no_results(project: Path) -> None:
    paths = code_paths(project, ["shared", "net", "tools", "numpy"])
    assert sorted(paths) == ["net/config.py", "shared/jobs/jobs.py", "tools.py"]


def test_user_packages_follow_the_classes_of_the_project(project: Path) -> None:
    tools = type("Tool", (), {"__module__": "tools.sub"})
    library = type("Lib", (), {"__module__": "numpy.core"})
    assert user_packages(project, "net", [tools, library]) == {"shared", "net", "tools"}


@pytest.mark.timeout(30)
def test_fetch_keeps_the_execute_bit_of_a_program(gate, node, project: Path,
                                                  tmp_path: Path) -> None:
    program = project / "tools" / "filter"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    server = FileServer(gate, project, "127.0.0.1")
    server.start()
    try:
        manifest = Manifest.of(project, ["tools/filter", "tools.py"])
        server.publish(manifest)
        target = tmp_path / "node"
        assert fetch(node, server.address, manifest, target, KEYS) == 2
        assert (target / "tools/filter").stat().st_mode & 0o111 == 0o111
        assert (target / "tools.py").stat().st_mode & 0o111 == 0
    finally:
        server.close()


@pytest.mark.timeout(30)
def test_fetch_copies_what_is_published_and_skips_what_is_there(gate, node, project: Path,
                                                                tmp_path: Path) -> None:
    server = FileServer(gate, project, "127.0.0.1")
    server.start()
    try:
        manifest = Manifest.of(project, ["shared/jobs/jobs.py", "big.bin"])
        server.publish(manifest)
        target = tmp_path / "node"
        assert fetch(node, server.address, manifest, target, KEYS) == 2
        assert (target / "big.bin").read_bytes() == (project / "big.bin").read_bytes()
        assert (target / "shared/jobs/jobs.py").read_text() == "X = 1\n"
        assert fetch(node, server.address, manifest, target, KEYS) == 0  # same versions
        (project / "shared/jobs/jobs.py").write_text("X = 2\n")
        changed = Manifest.of(project, ["shared/jobs/jobs.py", "big.bin"])
        assert fetch(node, server.address, changed, target, KEYS) == 1
        assert (target / "shared/jobs/jobs.py").read_text() == "X = 2\n"
        with pytest.raises(FileNotFoundError, match="tools.py"):
            fetch(node, server.address, Manifest.of(project, ["tools.py"]), target, KEYS)
    finally:
        server.close()


@pytest.mark.timeout(30)
def test_logs_pushed_by_a_node_land_under_its_ip(gate, node, project: Path,
                                                 tmp_path: Path) -> None:
    sink = FileSink(gate, tmp_path / "collection", "127.0.0.1")
    sink.start()
    try:
        assert push_files(node, sink.address, "10.0.0.2", project, KEYS) == 1
    finally:
        sink.close()
    assert (tmp_path / "collection" / "10.0.0.2" / "net" / "job.log").read_text() == "a log\n"
    assert sink.received == 1


def test_dependencies_are_placed_by_their_own_names(project: Path, tmp_path: Path) -> None:
    (project / "data" / "models").mkdir(parents=True)
    (project / "data" / "models" / "a.bin").write_bytes(b"a")
    (project / "data" / "models" / "deep").mkdir()
    (project / "data" / "models" / "deep" / "b.bin").write_bytes(b"b")
    workdir = tmp_path / "job"
    place_dependencies(project, ["tools.py", "data/models"], workdir)
    assert (workdir / "tools.py").read_text() == "Y = 2\n"
    assert (workdir / "models" / "a.bin").read_bytes() == b"a"
    assert (workdir / "models" / "deep" / "b.bin").read_bytes() == b"b"
    place_dependencies(project, ["tools.py"], workdir)  # again: replaced, not an error


@pytest.mark.timeout(30)
def test_garbage_does_not_stop_the_file_server_or_sink(gate, node, project: Path,
                                                       tmp_path: Path) -> None:
    server = FileServer(gate, project, "127.0.0.1")
    sink = FileSink(gate, tmp_path / "collection", "127.0.0.1")
    server.start()
    sink.start()
    try:
        prankster = gate.context.socket(zmq.DEALER)
        dial(prankster, KEYS)
        prankster.connect(server.address)
        prankster.send_multipart([b"\xff\xfe", b"not a number", b"extra"])
        assert prankster.recv_multipart()[0] == b"bad request"
        pusher = gate.context.socket(zmq.PUSH)
        dial(pusher, KEYS)
        pusher.connect(sink.address)
        pusher.send(b"one frame only")
        pusher.send_multipart([b"10.0.0.2", b"../../escape.log", b"x", b"1"])
        manifest = Manifest.of(project, ["tools.py"])
        server.publish(manifest)
        assert fetch(node, server.address, manifest, tmp_path / "node", KEYS) == 1  # still serving
        assert push_files(node, sink.address, "10.0.0.2", project, KEYS) == 1  # still receiving
        prankster.close()
        pusher.close()
    finally:
        server.close()
        sink.close()
    assert (tmp_path / "collection" / "10.0.0.2" / "net" / "job.log").exists()
    assert not (tmp_path / "escape.log").exists()
