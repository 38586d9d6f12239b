"""Moving files between the client and the nodes, straight over ZeroMQ.

Code and data files must not travel through the Dask scheduler: it holds every
upload in memory, and a job's data files can be large. So the client serves files
itself (:class:`FileServer`), and a node fetches what a :class:`Manifest` lists
(:func:`fetch`), in chunks, skipping files it already has in the same version. Logs
travel the other way for ``collect``: a node pushes them (:func:`push_files`) to a
:class:`FileSink` on the client. Both ends use the project's CURVE keys, like pipes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import zmq

from fission.security.curve import CurveKeys, Gatekeeper, dial

CHUNK = 1 << 20
#: Seconds a node waits for one chunk before it gives up on the client.
FETCH_TIMEOUT = 10.0
#: Folders of a network package that hold results, not code.
RESULT_FOLDERS = frozenset({"simulation", "local", "collection", ".fission", "__pycache__"})


@dataclass(frozen=True)
class Manifest:
    """Files to ship: relative path -> (size, sha256, executable).

    ``executable``: the file has an execute bit (a program of an executable job), which
    the node's copy gets too.
    """

    files: dict[str, tuple[int, str, bool]]

    @classmethod
    def of(cls, root: Path, paths: Iterable[str]) -> Manifest:
        return cls({path: _describe(root / path) for path in sorted(set(paths))})


def code_paths(project: Path, packages: Iterable[str]) -> list[str]:
    """The files of the given top-level packages or modules, relative to the project.

    A package is a folder (its result folders left out); a module is ``NAME.py``.
    Names that are neither in the project (an installed library) are skipped.
    """
    paths = []
    for package in sorted(set(packages)):
        top = project / package
        if (project / f"{package}.py").is_file():
            paths.append(f"{package}.py")
        for folder, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d not in RESULT_FOLDERS and not d.startswith("."))
            for name in files:
                if not name.endswith((".pyc", ".log")):
                    paths.append(str((Path(folder) / name).relative_to(project)))
    return paths


def user_packages(project: Path, network: str, classes: Iterable[type]) -> set[str]:
    """``shared``, the network, and every top-level package of the project that defines
    one of ``classes`` (or a base class of one): what a job process must import."""
    packages = {"shared", network}
    for cls in classes:
        for base in cls.__mro__:
            top = base.__module__.split(".")[0]
            if (project / top).is_dir() or (project / f"{top}.py").is_file():
                packages.add(top)
    return packages


def dependency_paths(project: Path, dependencies: Iterable[str]) -> list[str]:
    """Every file named by a job's DEPENDENCIES (a folder stands for its files)."""
    paths = []
    for dependency in dependencies:
        path = project / dependency
        if path.is_dir():
            paths += [str(p.relative_to(project)) for p in sorted(path.rglob("*")) if p.is_file()]
        else:
            paths.append(str(path.relative_to(project)))
    return paths


def place_dependencies(root: Path, dependencies: Iterable[str], workdir: Path) -> None:
    """Put each DEPENDENCIES entry found under ``root`` into ``workdir``, by its own name.

    A file ``data/model.bin`` becomes ``workdir/model.bin``; a folder ``data/models``
    becomes ``workdir/models/...``. Files are hard-linked where possible (no copy of
    large data), else copied.
    """
    for dependency in dependencies:
        source = root / dependency
        target = workdir / Path(dependency).name
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        for file in files:
            _link_or_copy(file, target / file.relative_to(source) if source.is_dir() else target)


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _describe(path: Path) -> tuple[int, str, bool]:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(CHUNK), b""):
            digest.update(chunk)
    status = path.stat()
    return status.st_size, digest.hexdigest(), bool(status.st_mode & stat.S_IXUSR)


class FileServer(threading.Thread):
    """Serves the files under ``root`` that were published, in chunks, to any node."""

    def __init__(self, gate: Gatekeeper, root: Path, host: str) -> None:
        super().__init__(name="fission-file-server", daemon=True)
        self.root = root
        self._published: set[str] = set()
        self._socket = gate.listen(zmq.ROUTER, host, "the file server")
        self.address = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._closing = threading.Event()

    def publish(self, manifest: Manifest) -> None:
        self._published.update(manifest.files)

    def run(self) -> None:
        socket = self._socket
        while not self._closing.is_set():
            if not socket.poll(200):
                continue
            peer, *request = socket.recv_multipart()
            try:
                path, offset = request
                reply = self._read(path.decode(), int(offset))
            except (ValueError, UnicodeDecodeError):
                reply = [b"bad request", b""]  # not a fetch: garbage on the socket
            socket.send_multipart([peer, *reply])
        socket.close()

    def _read(self, path: str, offset: int) -> list[bytes]:
        if path not in self._published:
            return [b"missing", b""]
        with (self.root / path).open("rb") as file:
            file.seek(offset)
            return [b"ok", file.read(CHUNK)]

    def close(self) -> None:
        self._closing.set()
        if self.is_alive():
            self.join(timeout=2)
        else:
            self._socket.close()


def fetch(context: zmq.Context, server: str, manifest: Manifest, destination: Path,
          keys: CurveKeys | None) -> int:
    """Make ``destination`` hold every file of ``manifest``; return how many were fetched.

    The socket is made in the caller's ``context`` (the node's, owned by its agent).

    A record of what was fetched (``.manifest.json``) lets later jobs skip files
    already there in the same version without reading them again.
    """
    record_path = destination / ".manifest.json"
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        record = {}
    wanted = {path: list(entry) for path, entry in manifest.files.items()
              if record.get(path) != list(entry) or not (destination / path).is_file()}
    if not wanted:
        return 0
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    dial(socket, keys)
    socket.connect(server)
    try:
        for path, entry in wanted.items():
            _fetch_one(socket, path, entry[0], destination / path, bool(entry[2]))
            record[path] = entry
    finally:
        socket.close()
    written = record_path.with_name(f".manifest.{os.getpid()}.{threading.get_ident()}")
    written.write_text(json.dumps(record))
    written.replace(record_path)
    return len(wanted)


def _fetch_one(socket: zmq.Socket, path: str, size: int, target: Path,
               executable: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Unique per writer: two agents on one machine may fetch into one folder.
    partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.part")
    with partial.open("wb") as file:
        offset = 0
        while offset < size or offset == 0:
            socket.send_multipart([path.encode(), str(offset).encode()])
            if not socket.poll(FETCH_TIMEOUT * 1000):
                raise ConnectionError(f"the client sent no part of {path} for {FETCH_TIMEOUT} s")
            status, chunk = socket.recv_multipart()
            if status != b"ok":
                raise FileNotFoundError(f"the client does not serve {path}")
            file.write(chunk)
            offset += len(chunk)
            if not chunk:
                break
    if executable:
        partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    partial.replace(target)


class FileSink(threading.Thread):
    """Receives files pushed by nodes and writes them under ``root/<node ip>/``."""

    def __init__(self, gate: Gatekeeper, root: Path, host: str) -> None:
        super().__init__(name="fission-file-sink", daemon=True)
        self.root = root
        self._socket = gate.listen(zmq.PULL, host, "the log collector")
        self.address = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._closing = threading.Event()
        self.received = 0

    def run(self) -> None:
        open_files: dict[tuple[bytes, bytes], object] = {}
        while not self._closing.is_set() or self._socket.poll(0):
            if not self._socket.poll(200):
                continue
            try:
                node, path, chunk, last = self._socket.recv_multipart()
                key = (node, path)
                target = self.root / node.decode() / path.decode()
            except (ValueError, UnicodeDecodeError):
                continue  # not a file part: garbage on the socket
            if key not in open_files:
                if not target.resolve().is_relative_to(self.root.resolve()):
                    continue  # a path that climbs out of the collection folder
                target.parent.mkdir(parents=True, exist_ok=True)
                open_files[key] = target.open("wb")
            open_files[key].write(chunk)
            if last == b"1":
                open_files.pop(key).close()
                self.received += 1
        for file in open_files.values():
            file.close()
        self._socket.close()

    def close(self) -> None:
        self._closing.set()
        if self.is_alive():
            self.join(timeout=5)
        else:
            self._socket.close()


def push_files(context: zmq.Context, sink: str, node: str, root: Path, keys: CurveKeys | None,
               pattern: str = "**/*.log") -> int:
    """Send every file under ``root`` matching ``pattern`` to a :class:`FileSink`."""
    socket = context.socket(zmq.PUSH)
    socket.setsockopt(zmq.LINGER, 30000)
    dial(socket, keys)
    socket.connect(sink)
    count = 0
    try:
        for path in sorted(root.glob(pattern)):
            if not path.is_file():
                continue
            name = str(path.relative_to(root)).encode()
            with path.open("rb") as file:
                chunk = file.read(CHUNK)
                while True:
                    following = file.read(CHUNK)
                    socket.send_multipart([node.encode(), name, chunk,
                                           b"0" if following else b"1"])
                    if not following:
                        break
                    chunk = following
            count += 1
    finally:
        socket.close()
    return count
