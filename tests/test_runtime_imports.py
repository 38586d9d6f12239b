"""What a job process imports: the runtime, and nothing a job does not need.

Every job is its own process, so each module the runtime pulls in costs memory once per
job (on a Raspberry Pi, per core): no backend, no Dask, no asyncio or ssl, no psutil (only
a job with a MAX_MEMORY needs it).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from childprocess import child_env


@pytest.mark.timeout(30)
def test_the_job_runtime_imports_no_backend_dask_or_asyncio() -> None:
    probe = ("import sys, fission.runtime.entry\n"
             "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('asyncio', 'ssl', 'distributed', 'dask', 'cryptography', 'psutil') "
             "or m.startswith('fission.backends'))))")
    result = subprocess.run([sys.executable, "-c", probe], env=child_env(), capture_output=True,
                            text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
