"""Memory sizes as users write them: ``"512M"``, ``"2G"``, ``"1.5GiB"`` or bytes.

Suffixes count in powers of 1024 (``M`` is a mebibyte), as ``free -h`` and
``ulimit`` show memory, with or without a trailing ``B``/``iB``, in any case.
"""

from __future__ import annotations

import re

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", re.IGNORECASE)


def parse_size(value: int | str) -> int:
    """The number of bytes ``value`` means; ValueError saying why it means none."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"expected a size such as '512M' or a number of bytes, got {value!r}")
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE.fullmatch(value)
        if match is None:
            raise ValueError(f"{value!r} is not a size such as '512M', '2G' or '800K'")
        size = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if size <= 0:
        raise ValueError(f"a size must be more than 0 (got {value!r})")
    return size


def format_size(size: int) -> str:
    """``536870912`` -> ``"512 MiB"``: a size in the largest unit that keeps it readable."""
    for unit in ("T", "G", "M", "K"):
        if size >= _UNITS[unit]:
            return f"{size / _UNITS[unit]:.4g} {unit}iB"
    return f"{size} bytes"
