"""FISSION's command line.

Two front doors share one command table (``fission.cli.main.COMMANDS``):

* ``fission COMMAND ...`` for commands that make a project (``startproject``), also spelt
  ``fission_admin.py NAME startproject`` as in the original project;
* ``python3 manage.py NET COMMAND ...`` for commands on one network of a project.

Each command lives in ``fission.cli.commands.<name>`` and is imported only when it runs.
"""
