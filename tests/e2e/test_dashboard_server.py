"""The dashboard server itself, in this process: the next free port, HTTPS off loopback."""

from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.request

import psutil
import pytest
from dashhelp import get

from fission.backends.monitor import Monitor
from fission.core.jobs import PythonJob
from fission.core.network import Network
from fission.core.pipes import PicklePipe
from fission.dashboard.server import Dashboard
from fission.security.credentials import project_credentials


class Src(PythonJob):
    def run(self):
        yield 1


class Sink(PythonJob):
    def run(self, value):
        return None


@pytest.fixture
def monitor() -> Monitor:
    network = Network.from_jobs([Src(outputs=[PicklePipe(3)]), Sink(inputs=[PicklePipe(3)])])
    return Monitor("net", network, "simulate")


def _outside_address() -> str:
    """An IPv4 address of this machine that is not loopback."""
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return address.address
    pytest.fail("this machine has no IPv4 address other than loopback to test HTTPS on")


@pytest.mark.timeout(30)
def test_a_taken_port_moves_the_dashboard_to_the_next_free_one(monitor, tmp_path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    dashboard = Dashboard(monitor, "127.0.0.1", port, project=tmp_path, private_dir=tmp_path)
    dashboard.start()
    try:
        assert dashboard.port > port
        assert dashboard.url.startswith("http://127.0.0.1:")
        status, _, body = get(dashboard.url + "snapshot",
                              {"Authorization": f"Bearer {dashboard.token}"})
        assert status == 200 and b'"network": "net"' in body
    finally:
        dashboard.close()
        taken.close()


@pytest.mark.timeout(30)
def test_an_address_off_loopback_is_served_over_https_with_the_projects_authority(
        monitor, tmp_path) -> None:
    host = _outside_address()
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    dashboard = Dashboard(monitor, host, 0, project=tmp_path, private_dir=private)
    dashboard.start()
    try:
        assert dashboard.url == f"https://{host}:{dashboard.port}/"
        trusted = ssl.create_default_context(cadata=project_credentials(tmp_path).authority)
        request = urllib.request.Request(dashboard.url + "metrics",
                                         headers={"Authorization": f"Bearer {dashboard.token}"})
        with urllib.request.urlopen(request, context=trusted, timeout=10) as response:
            assert b"fission_job_runs_total" in response.read()
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(dashboard.url, timeout=10)  # not the system's trust
        plain = dashboard.url.replace("https:", "http:")
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(plain + f"?token={dashboard.token}", timeout=10)
        assert (private / "dashboard.key").stat().st_mode & 0o077 == 0
    finally:
        dashboard.close()


@pytest.mark.timeout(30)
def test_an_address_of_another_machine_is_a_clear_error(monitor, tmp_path) -> None:
    from fission.errors import ConfigError

    with pytest.raises(ConfigError, match=r"DASHBOARD: cannot listen on 192\.0\.2\.1:8787 .*None"):
        Dashboard(monitor, "192.0.2.1", 8787, project=tmp_path, private_dir=tmp_path)


@pytest.mark.timeout(30)
def test_each_run_gets_a_fresh_token_and_the_last_runs_does_not_open_it(monitor, tmp_path) -> None:
    tokens = []
    for _ in range(2):
        dashboard = Dashboard(monitor, "127.0.0.1", 0, project=tmp_path, private_dir=tmp_path)
        dashboard.start()
        try:
            for token in tokens:  # the earlier run's token
                status = get(dashboard.url + "snapshot", {"Authorization": f"Bearer {token}"})[0]
                assert status == 401
            assert get(dashboard.url + "snapshot",
                       {"Authorization": f"Bearer {dashboard.token}"})[0] == 200
            tokens.append(dashboard.token)
        finally:
            dashboard.close()
    assert len(set(tokens)) == 2 and all(len(token) >= 32 for token in tokens)
