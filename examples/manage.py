#!/usr/bin/env python3
"""Run FISSION commands on the networks of this project: python3 manage.py NET COMMAND ...

Examples: python3 manage.py mynet startnetwork
          python3 manage.py mynet simulate
          python3 manage.py --help
"""

import sys
from pathlib import Path

from fission.cli.main import manage

if __name__ == "__main__":
    sys.exit(manage(Path(__file__).resolve().parent, sys.argv[1:]))
