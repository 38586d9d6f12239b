"""One module per command, each with ``run(ctx: Context, args: Namespace) -> int``.

The table in ``fission.cli.main`` names them; a module is imported only when its command
runs, so keep imports of heavy modules inside ``run``.
"""
