"""What each backend imports: the two share a base, and neither takes the other along.

``simulate`` must run where Dask is not wanted, so it never imports Dask; ``run`` gets what
it shares with ``simulate`` from ``backends.supervision`` and ``backends.console``, never
from ``simulate`` itself.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from childprocess import child_env


def _imported_by(module: str) -> set[str]:
    probe = (f"import sys, {module}\n"
             "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('distributed', 'dask') or m.startswith('fission.backends'))))")
    result = subprocess.run([sys.executable, "-c", probe], env=child_env(), capture_output=True,
                            text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


@pytest.mark.timeout(30)
def test_simulate_imports_the_shared_supervision_and_no_dask() -> None:
    imported = _imported_by("fission.backends.simulate")
    assert "fission.backends.supervision" in imported
    assert not {m for m in imported if m.split(".")[0] in ("distributed", "dask")}, imported
    assert "fission.backends.run" not in imported


@pytest.mark.timeout(30)
def test_run_shares_the_supervision_not_the_simulate_backend() -> None:
    imported = _imported_by("fission.backends.run")
    assert "fission.backends.supervision" in imported
    assert "fission.backends.simulate" not in imported, sorted(imported)
