"""The dashboard's web server, in a thread of the client process.

This module binds the socket and makes the token in the backend's thread, at once, so
the address can be printed right at start. Its thread waits for the first connection
and only then imports aiohttp and prometheus-client (a second or more of CPU on a small
machine: a run nobody watches never pays it, and it never competes with the jobs'
start) and serves, on its own asyncio loop (``app.py``):

- ``/``: the page (``static/index.html``, which draws with the vendored cytoscape.js);
- ``/static/...``: its files, all in the package (the machines may have no internet);
- ``/stream``: server-sent events, one snapshot of the monitor a second;
- ``/snapshot``: one snapshot as JSON (``top``);
- ``/metrics``: the Prometheus text format.

Every path wants the run's token: ``?token=...`` once (the answer sets it as a
cookie, so the page's own requests carry it), the cookie, or ``Authorization:
Bearer ...``. Anything else gets 401. The token is fresh each run and lives only in
this process and in ``run.json`` (readable by its owner only). On an address other
than loopback the server speaks HTTPS with a certificate from the project's
authority.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import secrets
import select
import socket
import ssl
import threading
from pathlib import Path

from fission.backends.monitor import Monitor
from fission.errors import ConfigError

#: Seconds between looks at :meth:`Dashboard.close` while no one has connected yet.
CLOSE_CHECK = 0.2
#: How many ports above the configured one are tried when it is taken.
PORTS_TRIED = 100


class Dashboard:
    """Serves one run's monitor until :meth:`close`."""

    def __init__(self, monitor: Monitor, host: str, port: int, *,
                 project: Path, private_dir: Path) -> None:
        """``private_dir`` (mode 0700, gone after the run) holds the HTTPS key, if any."""
        self.monitor = monitor
        self.token = secrets.token_urlsafe(24)
        self.socket = _bind(host, port)
        self.port = self.socket.getsockname()[1]
        self.tls = None if _is_loopback(host) else _tls_context(project, host, private_dir)
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://{_url_host(host)}:{self.port}/"
        self._lock = threading.Lock()
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._serve, name="fission-dashboard",
                                        daemon=True)

    @property
    def address(self) -> str:
        """What the user opens: the URL with the token."""
        return f"{self.url}?token={self.token}"

    def start(self) -> None:
        """Serve from now on; the first requests wait in the socket's backlog while the
        server starts."""
        self._thread.start()

    def attach(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
        """Called by the server thread once it runs: :meth:`close` sets ``stop``."""
        with self._lock:
            self._loop, self._stop = loop, stop
            if self._closing:
                stop.set()

    def close(self) -> None:
        with self._lock:
            self._closing = True
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread.is_alive():
            self._thread.join(5)
        self.socket.close()

    def _serve(self) -> None:
        while not select.select([self.socket], [], [], CLOSE_CHECK)[0]:
            if self._closing:
                return  # nobody came: the server was never needed
        from fission.dashboard.app import serve

        asyncio.run(serve(self))


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or the next free port above it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    ports = [0] if port == 0 else range(port, min(port + PORTS_TRIED, 65536))
    last: OSError | None = None
    for candidate in ports:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.bind((host, candidate))
        except OSError as error:
            sock.close()
            if error.errno != errno.EADDRINUSE:
                raise ConfigError(f"DASHBOARD: cannot listen on {host}:{candidate} "
                                  f"({error.strerror}); set DASHBOARD in the network's "
                                  "config.py to an address of this machine, or None") from None
            last = error
            continue
        sock.listen(128)
        sock.setblocking(False)
        return sock
    raise ConfigError(f"DASHBOARD: ports {port}-{port + PORTS_TRIED - 1} on {host} are all "
                      f"taken ({last}); choose another DASHBOARD port in config.py, or None")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _tls_context(project: Path, host: str, private_dir: Path) -> ssl.SSLContext:
    """HTTPS with a certificate for ``host`` signed by the project's authority (browsers
    trust it once the project's ``authority`` certificate is imported)."""
    from fission.security.credentials import server_certificate

    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(f"DASHBOARD: {host!r} is not an IP address; give one of this "
                          "machine's addresses, or 127.0.0.1") from None
    _, issued = server_certificate(project, host)
    certificate, key = private_dir / "dashboard.crt", private_dir / "dashboard.key"
    certificate.write_text(issued.certificate)
    key.touch(mode=0o600)
    key.write_text(issued.key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, key)
    return context
