"""What the dashboard tests share: the address a run prints, and plain HTTP requests to it."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Callable

from childprocess import wait_until

DASHBOARD_LINE = re.compile(r"^dashboard: (https?://[^/\s]+/)\?token=(\S+)$", re.MULTILINE)


def dashboard_of(stderr: Callable[[], str], timeout: float = 20) -> tuple[str, str]:
    """The base URL and token a run printed at start (``stderr`` reads its output)."""
    match = wait_until(lambda: DASHBOARD_LINE.search(stderr()), timeout,
                       "the line 'dashboard: http://...?token=...'")
    return match.group(1), match.group(2)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    """Status, headers and body of one GET (an HTTP error status is returned, not raised)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read(64 * 1024)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
