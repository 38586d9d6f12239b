"""The command table and FISSION's two front doors.

``main()``        -> ``fission COMMAND ...``              (commands of scope PROJECT)
``admin_main()``  -> ``fission_admin.py NAME startproject``  (the original spelling)
``manage()``      -> ``python3 manage.py NET COMMAND ...``   (commands of scope NETWORK)

argparse is built from ``COMMANDS`` alone; a command's module
(``fission.cli.commands.<name>``, with ``run(ctx, args) -> int``) is imported only when that
command runs, so ``--help`` or ``simulate`` never pull in what other commands need.

Every front door returns an exit code instead of raising: a ``FissionError`` becomes one
``error: <message>`` line on stderr and exit 1, never a traceback; usage errors exit 2 as
argparse does. Anything else is a bug in FISSION and keeps its traceback.
"""

from __future__ import annotations

import argparse
import enum
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fission import __version__
from fission.cli.context import Context
from fission.errors import FissionError

__all__ = ["COMMANDS", "Command", "Scope", "admin_main", "main", "manage"]


class Scope(enum.Enum):
    PROJECT = "project"  # fission COMMAND ...: works where no project exists yet
    NETWORK = "network"  # python3 manage.py NET COMMAND ...: works on one network


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def _startproject_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="folder of the new project")


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds (got {text!r})") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds (got {text!r})")
    return value


def _pipe_ids(text: str) -> tuple[int, ...]:
    try:
        ids = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected pipe ids separated by commas, e.g. 101,102 (got {text!r})") from None
    if any(pipe < 0 for pipe in ids):
        raise argparse.ArgumentTypeError(f"pipe ids are not negative (got {text!r})")
    return ids


def _simulate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration",
        metavar="SECONDS",
        type=_positive_seconds,
        default=None,
        help="stop the network after SECONDS (default: run until every job has finished or Ctrl+C)",
    )
    parser.add_argument(
        "--record", metavar="PIPE[,PIPE...]", type=_pipe_ids, default=(),
        help="write every block of these pipes, with its sequence number and time, to "
             "NET/recordings/pipe-ID.rec (a ReplayJob plays one back)")


def _send_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job_id", metavar="JOB_ID", type=int, help="id of an InteractiveJob")
    parser.add_argument("text", metavar="TEXT", nargs="?", default=None,
                        help="one line to send (quote it for the shell); '-' or none: send "
                             "each line of stdin, in order, until it ends")


def _test_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = "manage.py NET test [PYTEST_ARGS ...]"
    parser.epilog = ("Every argument after 'test' goes to pytest as it is "
                     "(e.g. -k join -x --runslow).")


def _graphviz_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("png", "svg", "pdf"), default="png",
                        help="the picture's format (default png)")


def _shell_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plain", action="store_true",
                        help="the standard Python console even if IPython is installed")


def _top_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true",
                        help="show the figures once and exit, instead of refreshing them")
    parser.add_argument("--json", action="store_true",
                        help="with --once: print the snapshot as JSON, for scripts")


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    _simulate_arguments(parser)


def _node_arguments(parser: argparse.ArgumentParser) -> None:
    from fission.backends.dask_cluster import DEFAULT_PORT

    parser.add_argument("--client", metavar="CLIENT_IP", required=True,
                        help="address of the client whose runs this node serves (its CLIENT_IP)")
    parser.add_argument("--port", metavar="PORT", type=int, default=DEFAULT_PORT,
                        help=f"the client's SCHEDULER_PORT (default {DEFAULT_PORT})")
    parser.add_argument("--host", metavar="NODE_IP", required=True,
                        help="this node's address, as listed in the network's NODES")
    parser.add_argument("--cpus", metavar="N", type=int, default=None,
                        help="how many jobs this node takes (default: its CPU count)")
    trust = parser.add_mutually_exclusive_group(required=True)
    trust.add_argument("--credentials", metavar="FILE", type=Path,
                       help="this node's credentials, written on the client by "
                            "'fission credentials export NODE_IP FILE'")
    trust.add_argument("--insecure", action="store_true",
                       help="serve runs with SECURE = False: no authentication, no encryption")


def _credentials_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("init", help="make this project's credentials (the first run does too)")
    export = actions.add_parser("export", help="write the credentials of one node to FILE")
    export.add_argument("node_ip", metavar="NODE_IP", help="the node's address, as in NODES")
    export.add_argument("file", metavar="FILE", type=Path,
                        help="where to write them (copy it to the node, then delete it here)")


@dataclass(frozen=True)
class Command:
    name: str
    scope: Scope
    help: str
    arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments
    #: The module under fission.cli.commands that runs it, if not named after the command.
    implementation: str | None = None
    #: Its arguments are not parsed but handed on as they are, in ``args.rest`` (``test``
    #: passes them to pytest).
    passthrough: bool = False

    @property
    def module(self) -> str:
        return f"fission.cli.commands.{self.implementation or self.name}"


COMMANDS: tuple[Command, ...] = (
    Command(
        "startproject", Scope.PROJECT, "create a new project folder NAME", _startproject_arguments
    ),
    Command("startnetwork", Scope.NETWORK, "create the folder of a new network NET"),
    Command(
        "simulate",
        Scope.NETWORK,
        "run every job of NET as a process on this machine",
        _simulate_arguments,
    ),
    Command(
        "send",
        Scope.NETWORK,
        "send one line to an InteractiveJob of the running NET",
        _send_arguments,
    ),
    Command("top", Scope.NETWORK, "the live figures of the running NET, per job and per node",
            _top_arguments),
    Command("node", Scope.PROJECT, "serve the runs of a client as one of its nodes",
            _node_arguments),
    Command("credentials", Scope.PROJECT,
            "make this project's credentials, or export those of one node",
            _credentials_arguments),
    Command("run", Scope.NETWORK, "run NET on its nodes, with failover", _run_arguments),
    Command("collect", Scope.NETWORK, "copy the job logs of every node to NET/collection/"),
    Command("test", Scope.NETWORK, "run the tests in NET/tests/ with pytest and FISSION's "
            "fixtures", _test_arguments, passthrough=True),
    Command("graphviz", Scope.NETWORK, "draw NET (jobs, pipe ids, nodes under run) to "
            "NET/network.png with Graphviz", _graphviz_arguments),
    Command("show", Scope.NETWORK, "print the jobs, pipes and nodes of NET"),
    Command("shell", Scope.NETWORK, "a Python console with NET's config loaded",
            _shell_arguments),
    Command("interactive", Scope.NETWORK,
            "type lines to the InteractiveJobs of the running NET"),
)

_BY_NAME = {command.name: command for command in COMMANDS}


def build_parser(scope: Scope, prog: str) -> argparse.ArgumentParser:
    """The argparse parser of one front door: the commands of ``scope``."""
    if scope is Scope.PROJECT:
        parser = argparse.ArgumentParser(
            prog=prog, description="FISSION: dataflow networks of Python jobs."
        )
    else:
        parser = argparse.ArgumentParser(
            prog=prog,
            description="Run a FISSION command on the network NET of this project.",
        )
        parser.add_argument("network", metavar="NET", help="network (a folder of this project)")
    parser.add_argument("--version", action="version", version=f"FISSION {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        if command.scope is scope:
            command.arguments(
                sub.add_parser(command.name, help=command.help, description=command.help)
            )
    return parser


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace | int:
    try:
        return parser.parse_args(list(argv))
    except SystemExit as stop:  # --help, --version or a usage error; argparse has printed
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)


def _call(command: Command, ctx: Context, args: argparse.Namespace) -> int:
    try:
        module = importlib.import_module(command.module)
        return int(module.run(ctx, args))
    except FissionError as exc:
        print(f"error: {str(exc) or type(exc).__name__}", file=ctx.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _run(scope: Scope, prog: str, argv: Sequence[str], project: Path) -> int:
    argv, rest = _split_passthrough(scope, list(argv))
    args = _parse(build_parser(scope, prog), argv)
    if isinstance(args, int):
        return args
    args.rest = rest
    ctx = Context(project=project, network=getattr(args, "network", None))
    return _call(_BY_NAME[args.command], ctx, args)


def _split_passthrough(scope: Scope, argv: list[str]) -> tuple[list[str], list[str]]:
    """``argv`` cut after the name of a passthrough command, and what follows it.

    ``--help`` right after the command still reaches argparse.
    """
    position = 1 if scope is Scope.NETWORK else 0
    command = _BY_NAME.get(argv[position]) if len(argv) > position else None
    if command is None or not command.passthrough or command.scope is not scope:
        return argv, []
    rest = argv[position + 1:]
    if rest[:1] in (["-h"], ["--help"]):
        return argv, []
    return argv[:position + 1], rest


def main(argv: Sequence[str] | None = None, prog: str = "fission") -> int:
    """``fission COMMAND ...``; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    return _run(Scope.PROJECT, prog, argv, Path.cwd())


def admin_main(argv: Sequence[str] | None = None) -> int:
    """``fission_admin.py NAME startproject`` (also accepts ``startproject NAME``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 2 and argv[1] == "startproject" and not argv[0].startswith("-"):
        argv[0], argv[1] = argv[1], argv[0]
    return main(argv, prog="fission_admin.py")


def manage(project: Path, argv: Sequence[str]) -> int:
    """``python3 manage.py NET COMMAND ...`` for the project folder ``project``."""
    return _run(Scope.NETWORK, "manage.py", argv, Path(project).resolve())


if __name__ == "__main__":
    sys.exit(main())
