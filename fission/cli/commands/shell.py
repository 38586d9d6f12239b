"""``python3 manage.py NET shell [--plain]``: Python with the network's config loaded.

The console (IPython if installed, else the standard one) starts with every name of
``NET/config.py`` (``JOBS``, ``NODES``, ...) plus ``config`` (the module), ``settings``
(the checked :class:`~fission.config.Settings`), ``network`` (the
:class:`~fission.core.network.Network`: jobs numbered, pipes linked), ``PIPES``
(``{pipe id: pipe}``) and ``emulate`` (:func:`fission.emulate.emulate`), so a job of
the config can be tried at once: ``emulate(JOBS[3])(1, 2, 3)``.
"""

from __future__ import annotations

import code
import sys
from argparse import Namespace

from fission.cli.context import Context


def run(ctx: Context, args: Namespace) -> int:
    folder = ctx.network_dir()
    from fission.config import load_settings
    from fission.emulate import emulate

    settings = load_settings(ctx.project, folder.name)
    module = sys.modules[f"{folder.name}.config"]
    names = {name: value for name, value in vars(module).items() if not name.startswith("__")}
    names.update(config=module, settings=settings, network=settings.network, emulate=emulate,
                 PIPES={pipe_id: link.pipe for pipe_id, link in settings.network.pipes.items()})
    banner = (f"FISSION shell of {folder.name}: {len(settings.network.jobs)} jobs, "
              f"{len(settings.network.pipes)} pipes.\n"
              "Names: JOBS and the rest of config.py, config, settings, network, PIPES, emulate.")
    if not args.plain:
        try:
            import IPython
        except ImportError:
            pass
        else:
            print(banner, file=ctx.stdout)
            IPython.start_ipython(argv=[], user_ns=names)
            return 0
    code.interact(banner=banner, local=names, exitmsg="")
    return 0
