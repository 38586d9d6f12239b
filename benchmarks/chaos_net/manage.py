#!/usr/bin/env python3
"""The chaos benchmark's project: python3 manage.py chaos run [--duration S]."""

import sys
from pathlib import Path

from fission.cli.main import manage

if __name__ == "__main__":
    sys.exit(manage(Path(__file__).resolve().parent, sys.argv[1:]))
