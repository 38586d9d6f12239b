"""fission.loopback's Subnet, which the chaos benchmark cuts and makes lossy: a node in a
namespace is reachable, silent while cut or losing every packet, and reachable again."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest
from clusterhelp import wait_until

from fission.loopback import Subnet

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nft"),
    reason="needs root, iproute2 and nftables to build a network namespace",
)

PORT = 7411
_SERVE = f"""
import socket, sys
server = socket.socket()
server.bind((sys.argv[1], {PORT}))
server.listen()
while True:
    conn, _ = server.accept()
    conn.sendall(b"up")
    conn.close()
"""


def _reaches(host: str) -> bool:
    try:
        with socket.create_connection((host, PORT), timeout=0.5) as conn:
            return conn.recv(2) == b"up"
    except OSError:
        return False


@pytest.mark.timeout(60)
def test_a_namespaced_node_goes_silent_while_cut_or_lossy_and_comes_back() -> None:
    with Subnet(inside=2) as subnet:
        node, other = subnet.inside
        server = subprocess.Popen(["ip", "netns", "exec", subnet.namespaces[node],
                                   sys.executable, "-c", _SERVE, node])
        try:
            wait_until(lambda: _reaches(node), 15, f"the server on {node}")
            subnet.cut(node)
            assert not _reaches(node)
            subnet.heal(node)
            assert _reaches(node)
            subnet.lose(node, 99)
            assert not _reaches(node)
            subnet.heal(node)
            assert _reaches(node)
            # The other namespace reaches the node across the bridge.
            check = subprocess.run(
                ["ip", "netns", "exec", subnet.namespaces[other], sys.executable, "-c",
                 f"import socket; socket.create_connection(({node!r}, {PORT}), timeout=2)"],
                timeout=10)
            assert check.returncode == 0
        finally:
            server.kill()
            server.wait(5)
        names = list(subnet.namespaces.values())
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(name in listed for name in names), listed
