"""A project's credentials: what makes a machine one of the project's own.

They live in ``<project>/credentials/`` (mode 0700; the ``.gitignore`` that
``startproject`` writes keeps them out of version control):

``authority.key``
    the private key of the project's certificate authority. It signs node
    certificates and never leaves the client.
``client.json``
    the client's bundle.

A *bundle* is one JSON file, readable by its owner only: the authority's
certificate, the holder's certificate and key (TLS, for Dask), and the project's
CURVE key pair (ZeroMQ: pipes, control channels, file transfers). A node gets its
own with ``fission credentials export NODE_IP FILE``. Every holder shares the CURVE
pair, so any two of them can talk; a machine without it cannot even finish a
handshake. Files are checked like ssh checks its keys: a bundle others can read is
refused, because whoever reads it can run code on every node.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fission.errors import ConfigError
from fission.security.certificates import Issued, issue, new_authority
from fission.security.curve import CurveKeys

if TYPE_CHECKING:
    from distributed.security import Security

#: The folder of a project that holds its credentials.
FOLDER = "credentials"
_AUTHORITY_KEY = "authority.key"
_CLIENT = "client.json"
_FORMAT = "fission-credentials/1"


@dataclass(frozen=True)
class Credentials:
    """One holder's bundle: the client's or one node's."""

    project: str
    holder: str
    authority: str
    certificate: str
    key: str = field(repr=False)
    curve: CurveKeys

    def dask_security(self) -> Security:
        """Mutual TLS for every Dask connection: only holders of this project's
        certificates get in, and nothing travels in the clear."""
        from distributed.security import Security

        return Security(
            tls_ca_file=self.authority,
            tls_client_cert=self.certificate, tls_client_key=self.key,
            tls_scheduler_cert=self.certificate, tls_scheduler_key=self.key,
            tls_worker_cert=self.certificate, tls_worker_key=self.key,
            require_encryption=True,
        )

    def dumps(self) -> str:
        return json.dumps({
            "format": _FORMAT, "project": self.project, "holder": self.holder,
            "authority": self.authority, "certificate": self.certificate, "key": self.key,
            "curve_public": self.curve.public.decode(), "curve_secret": self.curve.secret.decode(),
        }, indent=1)


def folder(project: Path) -> Path:
    return Path(project) / FOLDER


def init_project(project: Path) -> tuple[Credentials, bool]:
    """The client's credentials of ``project``, made now if it has none; and whether
    they were made now."""
    project = Path(project).resolve()
    path = folder(project) / _CLIENT
    if path.exists():
        return load_bundle(path), False
    folder(project).mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder(project), 0o700)
    authority = new_authority(project.name)
    client = issue(authority, f"FISSION client of {project.name}")
    credentials = Credentials(project.name, "client", authority.certificate,
                              client.certificate, client.key, CurveKeys.generate())
    _write_private(folder(project) / _AUTHORITY_KEY, authority.key)
    _write_private(path, credentials.dumps())
    return credentials, True


def project_credentials(project: Path) -> Credentials:
    """The client's credentials of ``project``, made on first use."""
    return init_project(project)[0]


def export_node(project: Path, address: str, destination: Path) -> Credentials:
    """Write the bundle of the node at ``address`` to ``destination`` and return it."""
    import ipaddress

    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError(f"{address!r} is not an IP address: give the node's address, "
                          "as listed in the network's NODES") from None
    client, _ = init_project(project)
    authority_key = _read_private(folder(project) / _AUTHORITY_KEY)
    node = issue(Issued(client.authority, authority_key), f"FISSION node {address}", address)
    credentials = Credentials(client.project, f"node {address}", client.authority,
                              node.certificate, node.key, client.curve)
    _write_private(Path(destination), credentials.dumps())
    return credentials


def server_certificate(project: Path, address: str) -> tuple[Credentials, Issued]:
    """The client's credentials and a certificate for a server of the client at IP
    ``address`` (the dashboard's HTTPS), signed by the project's authority."""
    client, _ = init_project(project)
    authority_key = _read_private(folder(project) / _AUTHORITY_KEY)
    return client, issue(Issued(client.authority, authority_key),
                         f"FISSION dashboard {address}", address)


def load_bundle(path: Path) -> Credentials:
    """Read a bundle; ConfigError, in words, if it is missing, broken or readable by others."""
    text = _read_private(Path(path))
    try:
        data = json.loads(text)
        if data.get("format") != _FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {_FORMAT!r}")
        return Credentials(
            project=data["project"], holder=data["holder"], authority=data["authority"],
            certificate=data["certificate"], key=data["key"],
            curve=CurveKeys(data["curve_public"].encode(), data["curve_secret"].encode()),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ConfigError(f"{path} is not a FISSION credentials file ({error}); write a new "
                          "one with 'fission credentials export NODE_IP FILE' in the "
                          "client's project") from None


def _read_private(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"{path} can be read by other users (mode {stat.filemode(mode)}); whoever reads "
                f"it can run code on every node of the project. Fix it with: chmod 600 {path}")
        return path.read_text()
    except OSError as error:
        raise ConfigError(f"cannot read the credentials file {path}: {error.strerror}") from None


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by the owner only from the first byte on."""
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    os.replace(partial, path)


def for_run(project: Path, network: str, secure: bool, *,
            announce: bool = True) -> Credentials | None:
    """The client's credentials for a run of ``network``; None, with a warning, when its
    config says ``SECURE = False``. ``announce`` says so when they are made now (the
    nodes will need theirs)."""
    if not secure:
        print(f"FISSION: warning: SECURE = False in {network}/config.py: pipes, control "
              "channels and the cluster are neither authenticated nor encrypted, and anyone "
              "who can reach their ports can run code on these machines. Use it only to "
              "debug, on a network you trust.", file=sys.stderr)
        return None
    credentials, made = init_project(project)
    if made and announce:
        print(f"FISSION: made the credentials of project {credentials.project} in "
              f"{folder(project)}; give each node its own with 'fission credentials export "
              "NODE_IP FILE'", file=sys.stderr)
    return credentials
