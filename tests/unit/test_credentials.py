"""A project's credentials: the files, their modes, and what the TLS and CURVE made of
them admit (real handshakes on loopback sockets)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from fission.errors import ConfigError
from fission.security.credentials import (
    Credentials,
    export_node,
    folder,
    init_project,
    load_bundle,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "manage.py").write_text("")
    return root


def test_init_makes_owner_only_files_once(project: Path) -> None:
    first, made = init_project(project)
    assert made
    assert _mode(folder(project)) == 0o700
    files = sorted(folder(project).iterdir())
    assert [f.name for f in files] == ["authority.key", "client.json"]
    assert all(_mode(f) == 0o600 for f in files)
    again, made_again = init_project(project)
    assert not made_again and again == first


def test_a_node_bundle_holds_its_own_certificate_and_no_authority_key(project: Path,
                                                                      tmp_path: Path) -> None:
    client, _ = init_project(project)
    bundle = tmp_path / "node.json"
    node = export_node(project, "10.0.0.7", bundle)
    assert _mode(bundle) == 0o600
    text = bundle.read_text()
    authority_key = (folder(project) / "authority.key").read_text()
    assert authority_key not in text and "authority.key" not in text
    assert load_bundle(bundle) == node
    assert node.curve == client.curve and node.authority == client.authority
    certificate = x509.load_pem_x509_certificate(node.certificate.encode())
    addresses = certificate.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)
    assert addresses == [ipaddress.ip_address("10.0.0.7")]
    authority = x509.load_pem_x509_certificate(client.authority.encode())
    certificate.verify_directly_issued_by(authority)


def test_secrets_stay_out_of_reprs(project: Path) -> None:
    client, _ = init_project(project)
    assert client.curve.secret.decode() not in repr(client)
    assert client.key not in repr(client)


@pytest.mark.parametrize("problem", ["readable by others", "not json", "wrong format"])
def test_a_bad_bundle_is_refused_in_words(project: Path, tmp_path: Path, problem: str) -> None:
    bundle = tmp_path / "node.json"
    export_node(project, "10.0.0.7", bundle)
    if problem == "readable by others":
        os.chmod(bundle, 0o644)
        expected = "chmod 600"
    elif problem == "not json":
        bundle.write_text("garbage")
        expected = "is not a FISSION credentials file"
    else:
        bundle.write_text(json.dumps({"format": "something else"}))
        expected = "is not a FISSION credentials file"
    with pytest.raises(ConfigError, match=expected):
        load_bundle(bundle)


def test_export_refuses_what_is_not_an_address(project: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an IP address"):
        export_node(project, "node-7", tmp_path / "node.json")
    assert not (tmp_path / "node.json").exists()


async def _handshake(server: Credentials, client: Credentials) -> str:
    """A TLS handshake with the contexts Dask uses; "ok" or the error the client saw."""
    listening = server.dask_security().get_listen_args("scheduler")["ssl_context"]
    connecting = client.dask_security().get_connection_args("worker")["ssl_context"]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello")
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=listening)
    port = listener.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=connecting)
        data = await reader.read()
        writer.close()
        return "ok" if data == b"hello" else "no data"
    except (ssl.SSLError, ConnectionError) as error:
        return type(error).__name__
    finally:
        listener.close()


def test_tls_admits_the_project_only(project: Path, tmp_path: Path) -> None:
    client, _ = init_project(project)
    node = export_node(project, "127.0.0.1", tmp_path / "node.json")
    other_project = tmp_path / "other"
    other_project.mkdir()
    stranger = export_node(other_project, "127.0.0.1", tmp_path / "stranger.json")
    assert asyncio.run(_handshake(client, node)) == "ok"
    assert asyncio.run(_handshake(node, client)) == "ok"
    assert asyncio.run(_handshake(client, stranger)) != "ok"
    assert asyncio.run(_handshake(stranger, node)) != "ok"
