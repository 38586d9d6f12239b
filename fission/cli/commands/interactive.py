"""``python3 manage.py NET interactive``: type lines to the InteractiveJobs of the running NET.

From another shell than the one running ``simulate`` or ``run``: the same prompt
(``@N text`` goes to job N, anything else to the first InteractiveJob), delivered
through the network's send endpoint like ``manage.py NET send``. Ctrl+C or Ctrl+D
leaves the prompt; the network goes on. Without a terminal, each line read from
stdin is sent; the exit status is 1 if any could not be delivered.
"""

from __future__ import annotations

import sys
import threading
from argparse import Namespace

from fission.cli.context import CommandError, Context
from fission.errors import FissionError, NotRunningError

#: Seconds between two looks at whether the network still runs.
RUNNING_CHECK = 0.5


def run(ctx: Context, args: Namespace) -> int:
    folder = ctx.network_dir()
    name = folder.name
    from fission.backends.console import Prompt, is_running, parse_line, send_line
    from fission.config import load_settings

    consoles = [job for job in load_settings(ctx.project, name).network.jobs if job.CONSOLE]
    if not consoles:
        raise CommandError(f"network {name!r} has no InteractiveJob to type to")
    if not is_running(folder):
        raise NotRunningError(f"network {name!r} is not running (start it in another shell "
                              f"with 'python3 manage.py {name} simulate' or 'run')")
    others = ", ".join(str(job.id) for job in consoles[1:])
    print(f"typing to {consoles[0].name}" + (f" (@N text: job N of {others})" if others else "")
          + "; Ctrl+D leaves, the network goes on", file=ctx.stdout)
    if sys.stdin.isatty():
        left = threading.Event()
        prompt = Prompt(ctx.project, name, consoles, on_exit=left.set)
        prompt.start()
        try:
            while not left.wait(RUNNING_CHECK):
                if not is_running(folder):
                    print(f"network {name!r} has stopped", file=ctx.stdout)
                    break
        finally:
            prompt.close()
        return 0
    failed = False
    for line in sys.stdin:
        job_id, text = parse_line(line.rstrip("\n"), consoles[0].id)
        try:
            send_line(ctx.project, name, job_id, text)
        except FissionError as error:
            print(f"error: {error}", file=ctx.stderr)
            failed = True
    return 1 if failed else 0
