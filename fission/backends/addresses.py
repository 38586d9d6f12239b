"""Checks that an address given by the user belongs to this machine, before using it.

Binding to an address the machine does not have fails deep inside ZeroMQ or Dask
with an error that names neither the setting nor the fix; checking first lets the
error say which key or option is wrong.
"""

from __future__ import annotations

import socket


def can_listen_on(host: str) -> str | None:
    """None if this machine can listen on ``host``; else why not, in words."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family) as probe:
            probe.bind((host, 0))
    except (OSError, ValueError) as error:
        return getattr(error, "strerror", None) or str(error)
    return None
