"""Reading a network's ``config.py`` into frozen, validated :class:`Settings`.

The config is plain Python, so importing it runs the user's job and pipe
definitions; every mistake found on the way becomes a :class:`ConfigError` that
names the network and the key or object at fault.

:data:`SETTINGS` is the one table of the names FISSION reads from a config and the
value each has when the config does not set it. A config may define any other
name (users keep their own constants there), except one that is so close to a
setting that it is most likely a typo of it: that is refused, since an ignored
``DEBUG_WINDWO = True`` is a silent surprise.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from rapidfuzz.distance import OSA

from fission.core.base import reset
from fission.core.dependencies import sort_out
from fission.core.executable import ExecutableJob
from fission.core.jobs import BaseJob
from fission.core.network import Network
from fission.core.node_csv import read_nodes_csv
from fission.core.nodes import BaseNode
from fission.core.pipes import BasePipe
from fission.core.xml_network import XMLAlgorithm, build_jobs, read_xml_network
from fission.errors import ConfigError

_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")

#: Every setting a config.py may define, with its value when the config leaves it out.
#: JOBS has no default (a config must define it); REMOTE_ROOT's depends on the project
#: (see :func:`default_remote_root`). The last four only the original FISSION used:
#: XML_FILE must stay None, the others are accepted so that its configs load.
SETTINGS: dict[str, object] = {
    "JOBS": None,
    "NODES": (),
    "USER": "pi",
    "REMOTE_ROOT": None,
    "LOG_LEVEL": "INFO",
    "LOG_FILE": "FISSION.log",
    "CLIENT_IP": "127.0.0.1",
    "DEBUG_WINDOW": False,
    "PRE_COPY": False,
    "SCHEDULER_PORT": 8786,
    "NODE_WAIT": 30.0,
    "NODE_TIMEOUT": 1.5,
    "NODE_STEADY": 10.0,
    "SECURE": True,
    "DASHBOARD": "127.0.0.1:8787",
    "XML_FILE": None,
    "XML_ARGS": None,
    "PULSE_INTERVAL": None,
    "HEAD_SIZE": None,
}

#: A name this many edits (insert, delete, replace, swap two neighbours) from a setting,
#: or fewer, is taken for a typo of it; names of :data:`_SHORT` letters or fewer allow one
#: edit only, or a user's ``NODE`` or ``JOB1`` would be taken for NODES or JOBS.
_TYPO_EDITS = 2
_SHORT = 5


@dataclass(frozen=True)
class Settings:
    """Everything a backend needs from one network's config.py."""

    project: Path
    name: str
    network: Network
    nodes: tuple[BaseNode, ...]
    user: str
    remote_root: str
    log_level: str
    log_file: Path | None
    client_ip: str
    debug_window: bool
    pre_copy: bool
    scheduler_port: int
    node_wait: float
    node_timeout: float
    node_steady: float
    secure: bool
    #: Lines a backend prints once at start: settings of the original FISSION that are
    #: accepted but work differently here (see :func:`_original_settings`).
    notices: tuple[str, ...] = ()
    #: Project packages named by modules in a job's DEPENDENCIES, shipped with the code.
    code_packages: frozenset[str] = frozenset()
    #: Where the dashboard listens (host, port; port 0: any free one), None: no dashboard.
    dashboard: tuple[str, int] | None = None

    @property
    def directory(self) -> Path:
        return self.project / self.name

    def user_notice(self) -> str:
        """The line ``run`` prints at start about USER.

        The original FISSION logged in to each node as USER (ssh, scp) to start its
        jobs. FISSION logs in nowhere: the ``fission node`` agent a node's owner started
        runs the jobs, as its own user. So USER is not used to reach a node, and saying
        so once beats a setting that silently does nothing.
        """
        return (f"FISSION: note: USER = {self.user!r} is not used to log in to the nodes: "
                "each node's jobs run as the user who started `fission node` there (USER "
                "only serves config.py itself, e.g. to build REMOTE_ROOT)")


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
    _check_names(where, module)

    def key(name: str, kind: type | tuple[type, ...]) -> object:
        value = getattr(module, name, SETTINGS[name])
        if not isinstance(value, kind):
            kinds = (kind,) if isinstance(kind, type) else kind
            names = " or ".join(k.__name__ for k in kinds)
            raise ConfigError(f"{where}: {name} must be a {names}, got {value!r}")
        return value

    level = str(key("LOG_LEVEL", str)).upper()
    if level not in _LOG_LEVELS:
        raise ConfigError(
            f"{where}: LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {level!r}"
        )
    log_file = _log_file(where, project, key("LOG_FILE", (str, Path, type(None))))
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
        user=str(key("USER", str)),
        remote_root=str(key("REMOTE_ROOT", (str, type(None))) or default_remote_root(project)),
        log_level=level,
        log_file=log_file,
        client_ip=str(key("CLIENT_IP", str)),
        debug_window=bool(key("DEBUG_WINDOW", bool)),
        pre_copy=bool(key("PRE_COPY", bool)),
        scheduler_port=_port(where, key("SCHEDULER_PORT", int)),
        node_wait=_seconds(where, "NODE_WAIT", key("NODE_WAIT", (int, float))),
        node_timeout=_seconds(where, "NODE_TIMEOUT", key("NODE_TIMEOUT", (int, float))),
        node_steady=_seconds(where, "NODE_STEADY", key("NODE_STEADY", (int, float)), zero=True),
        secure=bool(key("SECURE", bool)),
        notices=_original_settings(where, module),
        code_packages=code_packages,
        dashboard=_dashboard(where, key("DASHBOARD", (str, type(None)))),
    )


def default_remote_root(project: Path) -> str:
    """Where nodes work when REMOTE_ROOT is not set: a folder of this project's own.

    Jobs work in REMOTE_ROOT/<network>/<job id>/, so one folder shared by every project
    would let two projects with a network of the same name overwrite each other's files
    on a node that serves both. "~" is the home of the user running ``fission node``.
    """
    return f"~/fission/{Path(project).name}/"


def _check_names(where: str, module: ModuleType) -> None:
    """Refuse a name that looks like a misspelt setting; allow every other one.

    A name is taken for a setting written wrongly if it differs from one only in case
    (``debug_window``), or if it is upper case and at most two edits from one
    (``DEBUG_WINDWO``, ``SECUR``; one edit for short names). Imported modules, classes
    and functions, and the user's nodes, jobs and pipes (``NODE1 = BaseNode(...)``), are
    the user's own whatever their names, and so is a lower-case name beside the setting
    it resembles (``jobs = [...]``, then ``JOBS = jobs``).
    """
    names = vars(module)
    for name, value in names.items():
        if name.startswith("_") or name in SETTINGS:
            continue
        if (inspect.ismodule(value) or inspect.isclass(value) or inspect.isroutine(value)
                or isinstance(value, (BaseNode, BaseJob, BasePipe))):
            continue
        if name.upper() in SETTINGS and name.upper() not in names:
            raise ConfigError(
                f"{where}: {name} is not a setting; FISSION reads {name.upper()} (settings are "
                "upper case). Rename it if it is meant as a setting, or give your own name a "
                "prefix such as MY_"
            )
        if name != name.upper():
            continue
        edits = 1 if len(name) <= _SHORT else _TYPO_EDITS
        near = [setting for setting, default in SETTINGS.items()
                if OSA.distance(name, setting, score_cutoff=edits) <= edits
                and _could_be(value, default)]
        if near:
            raise ConfigError(
                f"{where}: {name} is not a setting but resembles {' or '.join(near)}; correct "
                "the spelling, or rename your own constant so that it is not mistaken for a "
                "setting (e.g. with a prefix such as MY_)"
            )


def _could_be(value: object, default: object) -> bool:
    """Whether ``value`` has a kind the setting whose default is ``default`` could hold.

    ``USERS = ["alice"]`` is no typo of USER (a string), nor ``TIMEOUT_S = "x"`` of a
    number; a setting without a default (JOBS) could be anything.
    """
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, (str, Path))
    return isinstance(value, (list, tuple, str, Path))


def _log_file(where: str, project: Path, value: object) -> Path | None:
    """LOG_FILE as a path, its folder checked now rather than by a traceback at start."""
    if value is None:
        return None
    path = project / value
    if path.is_dir():
        raise ConfigError(f"{where}: LOG_FILE = {str(value)!r} is the folder {path}; "
                          "name a file in it, e.g. 'FISSION.log'")
    if not path.parent.is_dir():
        raise ConfigError(f"{where}: LOG_FILE = {str(value)!r}: the folder {path.parent} does "
                          "not exist; create it, or choose a LOG_FILE in an existing folder")
    return path


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
        if isinstance(job, ExecutableJob):
            job.check_files(project, where)
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
        timeout = getattr(module, "NODE_TIMEOUT", SETTINGS["NODE_TIMEOUT"])
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


def _dashboard(where: str, value: str | None) -> tuple[str, int] | None:
    """``"HOST:PORT"`` as a pair (port 0: any free port); None turns the dashboard off."""
    if value is None:
        return None
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{where}: DASHBOARD must be \"HOST:PORT\" (e.g. \"127.0.0.1:8787\") "
                          f"or None to turn the dashboard off, got {value!r}")
    return host, int(port)


def _seconds(where: str, name: str, value: object, zero: bool = False) -> float:
    """A number of seconds above 0 (or, with ``zero``, 0 as well)."""
    if isinstance(value, bool) or not (float(value) >= 0 if zero else float(value) > 0):
        least = "0 or more" if zero else "above 0"
        raise ConfigError(f"{where}: {name} must be a number of seconds {least}, got {value!r}")
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
    """Send the client's log records (``simulate``, ``run``) to LOG_FILE at LOG_LEVEL."""
    root = logging.getLogger("fission")
    root.setLevel(settings.log_level)
    if settings.log_file is not None:
        try:
            handler = logging.FileHandler(settings.log_file)
        except OSError as error:
            raise ConfigError(f"{settings.name}/config.py: LOG_FILE {settings.log_file} cannot "
                              f"be opened: {error.strerror}; choose a file you may write") from None
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
