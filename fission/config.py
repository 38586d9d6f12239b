"""Reading a network's ``config.py`` into frozen, validated :class:`Settings`.

The config is plain Python, so importing it runs the user's job and pipe
definitions; every mistake found on the way becomes a :class:`ConfigError` that
names the network and the key or object at fault.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from fission.core.base import reset
from fission.core.dependencies import sort_out
from fission.core.network import Network
from fission.core.node_csv import read_nodes_csv
from fission.core.nodes import BaseNode
from fission.core.xml_network import XMLAlgorithm, build_jobs, read_xml_network
from fission.errors import ConfigError

_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


@dataclass(frozen=True)
class Settings:
    """Everything a backend needs from one network's config.py."""

    project: Path
    name: str
    network: Network
    nodes: tuple[BaseNode, ...]
    user: str = "pi"
    remote_root: str = "/home/pi/fission/"
    log_level: str = "INFO"
    log_file: Path | None = None
    client_ip: str = "127.0.0.1"
    debug_window: bool = False
    pre_copy: bool = False
    scheduler_port: int = 8786
    node_wait: float = 30.0
    node_timeout: float = 1.5
    secure: bool = True
    #: Lines a backend prints once at start: settings of the original FISSION that are
    #: accepted but work differently here (see :func:`_original_settings`).
    notices: tuple[str, ...] = ()
    #: Project packages named by modules in a job's DEPENDENCIES, shipped with the code.
    code_packages: frozenset[str] = frozenset()

    @property
    def directory(self) -> Path:
        return self.project / self.name


def load_settings(project: Path, network: str) -> Settings:
    """Import ``<project>/<network>/config.py`` and check every key."""
    project = Path(project).resolve()
    if not network.isidentifier():
        raise ConfigError(f"network name {network!r} must be a Python identifier")
    folder = project / network
    if not (folder / "config.py").is_file():
        raise ConfigError(f"no network {network!r}: {folder / 'config.py'} does not exist")
    module = _import_config(project, network)
    where = f"{network}/config.py"

    def key(name: str, default: object, kind: type | tuple[type, ...]) -> object:
        value = getattr(module, name, default)
        if not isinstance(value, kind):
            kinds = (kind,) if isinstance(kind, type) else kind
            names = " or ".join(k.__name__ for k in kinds)
            raise ConfigError(f"{where}: {name} must be a {names}, got {value!r}")
        return value

    level = str(key("LOG_LEVEL", "INFO", str)).upper()
    if level not in _LOG_LEVELS:
        raise ConfigError(
            f"{where}: LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {level!r}"
        )
    log_file = key("LOG_FILE", "FISSION.log", (str, Path, type(None)))
    nodes = _nodes(where, project, folder, getattr(module, "NODES", []))
    xml_jobs, xml_nodes = _xml_part(where, project, folder, getattr(module, "XML_FILE", None))
    nodes += tuple(node for node in xml_nodes if not any(n.matches(node.ip) for n in nodes))
    if not hasattr(module, "JOBS") and not xml_jobs:
        raise ConfigError(f"{where} defines no JOBS list")
    jobs = getattr(module, "JOBS", [])
    try:
        net = Network.from_jobs(list(jobs) + xml_jobs if xml_jobs else jobs)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None
    code_packages = _check_dependencies(where, project, net)
    return Settings(
        project=project,
        name=network,
        network=net,
        nodes=nodes,
        user=str(key("USER", "pi", str)),
        remote_root=str(key("REMOTE_ROOT", "/home/pi/fission/", str)),
        log_level=level,
        log_file=None if log_file is None else project / log_file,
        client_ip=str(key("CLIENT_IP", "127.0.0.1", str)),
        debug_window=bool(key("DEBUG_WINDOW", False, bool)),
        pre_copy=bool(key("PRE_COPY", False, bool)),
        scheduler_port=_port(where, key("SCHEDULER_PORT", 8786, int)),
        node_wait=_seconds(where, "NODE_WAIT", key("NODE_WAIT", 30.0, (int, float))),
        node_timeout=_seconds(where, "NODE_TIMEOUT", key("NODE_TIMEOUT", 1.5, (int, float))),
        secure=bool(key("SECURE", True, bool)),
        notices=_original_settings(where, module),
        code_packages=code_packages,
    )


def _check_dependencies(where: str, project: Path, network: Network) -> frozenset[str]:
    """Every DEPENDENCIES path names a file or folder inside the project; modules of the
    project are returned as the packages to ship with the code (see
    :mod:`fission.core.dependencies`). Each job's DEPENDENCIES becomes its tuple of paths."""
    packages: set[str] = set()
    for job in network.jobs:
        try:
            declared = sort_out(job.label, job.DEPENDENCIES, project)
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None
        packages |= declared.packages
        job.DEPENDENCIES = declared.paths
        for dependency in declared.paths:
            path = (project / dependency).resolve()
            if not path.is_relative_to(project) or not path.exists():
                raise ConfigError(
                    f"{where}: {job.label}: DEPENDENCIES names {dependency!r}, which is not a "
                    f"file or folder in {project}; the paths are relative to the project folder"
                )
            credentials = project / "credentials"
            if path.is_relative_to(credentials) or credentials.is_relative_to(path):
                raise ConfigError(
                    f"{where}: {job.label}: DEPENDENCIES names {dependency!r}, which holds the "
                    "project's credentials; they are never copied to nodes (each node has its "
                    "own, from 'fission credentials export')"
                )
    return frozenset(packages)


def _nodes(where: str, project: Path, folder: Path, value: object) -> tuple[BaseNode, ...]:
    """NODES: nodes, and paths of CSV files of nodes (see :mod:`fission.core.node_csv`),
    alone or in a list; a relative path is looked up in the network's folder, then in the
    project's."""
    entries = [value] if isinstance(value, (str, os.PathLike)) else value
    if not isinstance(entries, (list, tuple)):
        raise ConfigError(f"{where}: NODES must be a list of nodes or the path of a CSV file "
                          f"of nodes, got {value!r}")
    nodes: list[BaseNode] = []
    for index, entry in enumerate(entries):
        if isinstance(entry, BaseNode):
            nodes.append(entry)
        elif isinstance(entry, (str, os.PathLike)):
            if _looks_like_an_address(entry, folder, project):
                raise ConfigError(
                    f"{where}: NODES[{index}] is the string {entry!r}: write "
                    f"BaseNode({entry!r}) (or MultiNode for a pattern); a string in NODES "
                    "names a CSV file of nodes"
                )
            try:
                nodes += read_nodes_csv(_find("NODES", entry, folder, project))
            except ConfigError as error:
                raise ConfigError(f"{where}: {error}") from None
        else:
            raise ConfigError(f"{where}: NODES[{index}] must be a BaseNode or the path of a "
                              f"CSV file of nodes, got {entry!r}")
    return tuple(nodes)


def _xml_part(where: str, project: Path, folder: Path,
              value: object) -> tuple[list, tuple[BaseNode, ...]]:
    """XML_FILE: the jobs and nodes of a network described in MARVELO's XML (see
    :mod:`fission.core.xml_network`); its paths are looked up like those of NODES."""
    if value is None:
        return [], ()
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigError(f"{where}: XML_FILE must be the path of an XML file or None, "
                          f"got {value!r}")
    try:
        xml_file = _find("XML_FILE", value, folder, project)
        algorithms = read_xml_network(xml_file)

        def folder_of(algorithm: XMLAlgorithm) -> str:
            found = _find(f"XML_FILE {xml_file}: {algorithm.where}: path",
                          algorithm.path, folder, project)
            if not found.is_relative_to(project):
                raise ConfigError(f"XML_FILE {xml_file}: {algorithm.where}: path "
                                  f"{algorithm.path!r} is outside the project {project}")
            return str(found.relative_to(project))

        jobs = build_jobs(xml_file, algorithms, folder_of)
        ips = dict.fromkeys(algorithm.node for algorithm in algorithms)
        return jobs, tuple(BaseNode(ip) for ip in ips)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None


def _looks_like_an_address(entry: str | os.PathLike, folder: Path, project: Path) -> bool:
    """Whether a string in NODES is a node's address written without BaseNode(...)."""
    text = os.fspath(entry)
    if (folder / text).exists() or (project / text).exists() or not text:
        return False
    return all(ch.isdigit() or ch in ".*?[]-:" for ch in text)


def _find(name: str, value: str | os.PathLike, folder: Path, project: Path) -> Path:
    """The file or folder ``value``: absolute, or in the network's folder or the project's."""
    path = Path(value).expanduser()
    candidates = [path] if path.is_absolute() else [folder / path, project / path]
    for candidate in candidates:
        if candidate.exists():
            return candidate.resolve()
    looked = " or ".join(str(candidate) for candidate in candidates)
    raise ConfigError(f"{name} {os.fspath(value)!r} does not exist (looked for {looked})")


def _original_settings(where: str, module: ModuleType) -> tuple[str, ...]:
    """Check the settings of the original FISSION that FISSION accepts without using them,
    and return the line each gets at start, saying what FISSION does instead."""
    notices = []
    pulse = getattr(module, "PULSE_INTERVAL", None)
    if pulse is not None:
        if isinstance(pulse, bool) or not isinstance(pulse, (int, float)) or not pulse > 0:
            raise ConfigError(
                f"{where}: PULSE_INTERVAL must be a number of seconds above 0, got {pulse!r}"
            )
        timeout = getattr(module, "NODE_TIMEOUT", 1.5)
        notices.append(
            f"FISSION: note: PULSE_INTERVAL = {pulse} in {where} is not used: nodes send a "
            f"heartbeat twice a second, and one silent for NODE_TIMEOUT ({timeout} s) is "
            "declared dead; set NODE_TIMEOUT to change how soon that happens"
        )
    return tuple(notices)


def _port(where: str, value: object) -> int:
    if isinstance(value, bool) or not 0 < int(value) < 65536:
        raise ConfigError(f"{where}: SCHEDULER_PORT must be a port number 1-65535, got {value!r}")
    return int(value)


def _seconds(where: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not float(value) > 0:
        raise ConfigError(f"{where}: {name} must be a number of seconds above 0, got {value!r}")
    return float(value)


def _import_config(project: Path, network: str) -> ModuleType:
    # This project's folders come first, and no module of another project's
    # network or shared package (loaded earlier in this process) may stand in.
    root = str(project)
    while root in sys.path:
        sys.path.remove(root)
    sys.path.insert(0, root)
    for package in (network, "shared"):
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]
    importlib.invalidate_caches()
    reset()
    try:
        return importlib.import_module(f"{network}.config")
    except ConfigError as error:
        raise ConfigError(f"{network}/config.py: {error}") from None
    except Exception as error:
        if isinstance(error, SyntaxError):
            where = f"{Path(error.filename or 'config.py').name}, line {error.lineno}"
            message = error.msg
        else:
            frame = traceback.extract_tb(error.__traceback__)[-1]
            where = f"{Path(frame.filename).name}, line {frame.lineno}"
            message = str(error)
        raise ConfigError(
            f"{network}/config.py could not be imported: {type(error).__name__}: {message} "
            f"({where})"
        ) from error


def configure_logging(settings: Settings) -> None:
    """Send the supervisor's log records to LOG_FILE at LOG_LEVEL."""
    root = logging.getLogger("fission")
    root.setLevel(settings.log_level)
    if settings.log_file is not None:
        handler = logging.FileHandler(settings.log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
