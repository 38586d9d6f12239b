"""``XML_FILE``: a network, or part of one, described in MARVELO's XML, as the original read it.

The file lists nodes, on each node the programs (*algorithms*) it runs, and their pipes::

    <network>
      <node pi_id="192.168.4.2">
        <algorithm path="system" executable="python3 source.py">
          <parameter param="-n 5"/>
          <output pipe_id="1" block_size="4"/>
        </algorithm>
        <algorithm path="system" executable="python3 sink.py">
          <input pipe_id="1" block_size="4" block_count="2"/>
        </algorithm>
      </node>
    </network>

Each algorithm becomes a :class:`DynamicMARVELOJob` (a program that gets its pipes as
inherited file descriptors, ``-i FD`` / ``-o FD``) with the folder ``path`` as its
DEPENDENCIES, the parameters joined in order, and its node as ``DEFAULT_NODE``; each pipe a
``BytesPipe(pipe_id, block_size, block_count)`` (both 1 when left out, as in the
original). The jobs come after those of ``JOBS``, in file order, and a pipe id used in both
is one pipe, so the two parts of a network connect through ``BytesPipe``\\ s. Attributes
the original ignored (``source_pi_id``, ``target_pi_id``) are ignored here too.

Parsing uses the standard library's ElementTree: the file is part of the network's own
configuration, as trusted as its config.py.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fission.errors import ConfigError


@dataclass(frozen=True)
class XMLPipe:
    id: int
    block_size: int
    block_count: int


@dataclass(frozen=True)
class XMLAlgorithm:
    """One ``<algorithm>`` element: a program on a node."""

    node: str
    path: str
    executable: str
    parameters: str
    inputs: tuple[XMLPipe, ...]
    outputs: tuple[XMLPipe, ...]

    @property
    def where(self) -> str:
        return f"the algorithm {self.executable!r} of node {self.node}"


def read_xml_network(path: Path) -> list[XMLAlgorithm]:
    """Every algorithm of the XML file ``path``, in file order."""
    try:
        root = ElementTree.parse(path).getroot()
    except OSError as error:
        raise ConfigError(f"XML_FILE: cannot read {path}: {error.strerror or error}") from None
    except ElementTree.ParseError as error:
        raise ConfigError(f"XML_FILE: {path} is not well-formed XML: {error}") from None
    algorithms = []
    for node in root:
        ip = _attribute(path, node, "pi_id", f"<{node.tag}> element {len(algorithms) + 1}")
        for element in node:
            where = f"<{element.tag}> of node {ip}"
            executable = _attribute(path, element, "executable", where)
            folder = _attribute(path, element, "path", f"the algorithm {executable!r} of {ip}")
            inputs, outputs, parameters = [], [], []
            for atom in element:
                if atom.tag == "input":
                    inputs.append(_pipe(path, atom, executable))
                elif atom.tag == "output":
                    outputs.append(_pipe(path, atom, executable))
                elif atom.tag == "parameter":
                    value = (atom.get("param") or "").strip()
                    if value:
                        parameters.append(value)
            algorithms.append(XMLAlgorithm(ip, folder, executable, " ".join(parameters),
                                           tuple(inputs), tuple(outputs)))
    if not algorithms:
        raise ConfigError(f"XML_FILE: {path} describes no algorithm "
                          "(<network><node pi_id=...><algorithm .../></node></network>)")
    return algorithms


def _attribute(path: Path, element: ElementTree.Element, name: str, where: str) -> str:
    value = (element.get(name) or "").strip()
    if not value:
        raise ConfigError(f"XML_FILE: {path}: {where} has no {name}=\"...\" attribute")
    return value


def _pipe(path: Path, atom: ElementTree.Element, executable: str) -> XMLPipe:
    where = f"an <{atom.tag}> of the algorithm {executable!r}"
    numbers = {}
    for name, default in (("pipe_id", None), ("block_size", 1), ("block_count", 1)):
        text = (atom.get(name) or "").strip()
        if not text and default is not None:
            numbers[name] = default
            continue
        try:
            numbers[name] = int(text)
        except ValueError:
            raise ConfigError(f"XML_FILE: {path}: {where} needs {name}=\"N\", a whole number, "
                              f"got {text!r}") from None
    return XMLPipe(numbers["pipe_id"], numbers["block_size"], numbers["block_count"])


def build_jobs(xml_file: Path, algorithms: list[XMLAlgorithm],
               folder_of: Callable[[XMLAlgorithm], str]) -> list[object]:
    """The jobs of ``algorithms``; ``folder_of`` gives each one's DEPENDENCIES folder
    (relative to the project)."""
    from fission.core.executable import DynamicMARVELOJob as job_class
    from fission.core.pipes import BytesPipe

    jobs = []
    for algorithm in algorithms:
        try:
            inputs = [_bytes_pipe(BytesPipe, pipe) for pipe in algorithm.inputs]
            outputs = [_bytes_pipe(BytesPipe, pipe) for pipe in algorithm.outputs]
        except ConfigError as error:
            raise ConfigError(f"XML_FILE: {xml_file}: {algorithm.where}: {error}") from None
        job = job_class(folder_of(algorithm), algorithm.executable, algorithm.parameters,
                        inputs=inputs, outputs=outputs)
        job.DEFAULT_NODE = algorithm.node
        jobs.append(job)
    return jobs


def _bytes_pipe(cls: type, pipe: XMLPipe) -> object:
    """``BytesPipe(id, size)``, with the block count only when it is not 1: the pipe
    registry compares arguments as written, so ``BytesPipe(8, 1)`` in JOBS is the same
    pipe as an XML pipe 8 of block size 1."""
    if pipe.block_count == 1:
        return cls(pipe.id, pipe.block_size)
    return cls(pipe.id, pipe.block_size, pipe.block_count)
