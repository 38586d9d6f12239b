"""The console: typed lines for InteractiveJobs, from a prompt or another shell.

A running network owns one *send endpoint* (a ZeroMQ REP socket) and records its
address in ``NET/.fission/run.json``. ``python3 manage.py NET send JOB_ID TEXT`` and
the prompt at the bottom of the terminal are both clients of that endpoint, which
frames each line as a block and pushes it to the InteractiveJob's console input.
A job's console queue that is full answers ``busy``: the prompt reports it, while
``send`` reading lines from stdin waits and offers the line again, as a pipe's
producer waits for its consumer.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import zmq

from fission.core.jobs import BaseJob
from fission.errors import FissionError, NotRunningError
from fission.runtime.spec import CONSOLE_PIPE_ID
from fission.security.credentials import project_credentials
from fission.security.curve import Gatekeeper, dial
from fission.wire.frame import encode

if TYPE_CHECKING:
    from fission.config import Settings

#: How long ``send`` waits for the running network to answer.
REPLY_TIMEOUT_MS = 3000


def run_file(network_dir: Path) -> Path:
    return network_dir / ".fission" / "run.json"


class ConsoleServer:
    """The send endpoint of one running network (used from the backend's thread only)."""

    def __init__(self, gate: Gatekeeper, address: str, consoles: dict[int, str]) -> None:
        context = gate.context
        self.socket = context.socket(zmq.REP)
        self.socket.setsockopt(zmq.LINGER, 0)
        gate.serve(self.socket, "the send endpoint")
        self.socket.bind(address)
        self.address = address
        self._pushes: dict[int, zmq.Socket] = {}
        self._sent: dict[int, int] = {}
        for job_id, console in consoles.items():
            push = context.socket(zmq.PUSH)
            push.setsockopt(zmq.LINGER, 0)
            push.setsockopt(zmq.SNDHWM, 64)
            gate.dial(push)
            push.connect(console)
            self._pushes[job_id] = push
            self._sent[job_id] = 0

    def handle(self) -> None:
        """Answer one request waiting on :attr:`socket`."""
        frames = self.socket.recv_multipart()  # all of it: REP answers whole requests only
        try:
            if len(frames) != 1:
                raise ValueError(f"{len(frames)} frames, expected 1")
            request = json.loads(frames[0])
            reply = self._deliver(int(request["job"]), str(request["text"]))
        except (ValueError, KeyError, TypeError) as error:
            reply = {"error": f"malformed send request ({error})"}
        self.socket.send_json(reply)

    def _deliver(self, job_id: int, text: str) -> dict:
        push = self._pushes.get(job_id)
        if push is None:
            known = ", ".join(map(str, self._pushes)) or "none"
            return {"error": f"job {job_id} is not an InteractiveJob of this network "
                             f"(InteractiveJobs: {known})"}
        try:
            push.send(encode(CONSOLE_PIPE_ID, self._sent[job_id], text.encode()), zmq.NOBLOCK)
        except zmq.Again:
            return {"error": f"job {job_id} is not taking input right now (its queue is full)",
                    "busy": True}
        self._sent[job_id] += 1
        return {"ok": True}

    def close(self) -> None:
        for push in self._pushes.values():
            push.close()
        self.socket.close()


@contextlib.contextmanager
def claim_network(network_dir: Path, send_address: str, *, secure: bool) -> Iterator[None]:
    """Hold the network's run lock and publish its send endpoint while it runs.

    The lock (``flock``, released by the kernel even if the backend is killed) keeps a
    second backend from clearing the results of a network that is still running, and
    tells ``send`` whether the endpoint in ``run.json`` is live.
    """
    folder = network_dir / ".fission"
    folder.mkdir(exist_ok=True)
    lock = os.open(folder / "run.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FissionError(
                f"network {network_dir.name!r} is already running (see {folder / 'run.json'}); "
                "stop it before starting it again"
            ) from None
        record = run_file(network_dir)
        publish(network_dir, {"pid": os.getpid(), "send": send_address, "secure": secure})
        try:
            yield
        finally:
            record.unlink(missing_ok=True)
    finally:
        os.close(lock)


def publish(network_dir: Path, fields: dict) -> None:
    """Add ``fields`` to the running network's ``run.json`` (readable by its owner only:
    it may hold the dashboard's token)."""
    record = run_file(network_dir)
    try:
        info = json.loads(record.read_text())
    except (OSError, ValueError):
        info = {}
    partial = record.with_name(f".{record.name}.partial")
    partial.unlink(missing_ok=True)
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(json.dumps({**info, **fields}))
    os.replace(partial, record)


def running_info(project: Path, network: str) -> dict:
    """``run.json`` of the network running in ``project``; NotRunningError if none runs."""
    network_dir = Path(project) / network
    not_running = (f"network {network!r} is not running (start it with "
                   f"'python3 manage.py {network} simulate' or '... {network} run')")
    try:
        info = json.loads(run_file(network_dir).read_text())
    except (OSError, ValueError):
        raise NotRunningError(not_running) from None
    if not is_running(network_dir):
        raise NotRunningError(not_running)
    return info


def is_running(network_dir: Path) -> bool:
    """Whether a backend holds the network's run lock (it is running right now)."""
    try:
        lock = os.open(network_dir / ".fission" / "run.lock", os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(lock)
    return False


def send_line(project: Path, network: str, job_id: int, text: str) -> None:
    """Deliver ``text`` to InteractiveJob ``job_id`` of the network running in ``project``."""
    with _Sender(project, network) as sender:
        reply = sender.send(job_id, text)
    if "error" in reply:
        raise FissionError(reply["error"])


def send_lines(project: Path, network: str, job_id: int, lines: Iterable[str]) -> int:
    """Deliver each of ``lines``, in order, to InteractiveJob ``job_id``; how many were sent.

    A line the job has no room for yet is offered again until it is taken, so a long
    input goes through at the pace the job reads it. Any other refusal raises, saying
    how many lines had been delivered.
    """
    sent = 0
    with _Sender(project, network) as sender:
        for text in lines:
            reply = sender.send(job_id, text)
            while reply.get("busy"):
                time.sleep(0.05)
                reply = sender.send(job_id, text)
            if "error" in reply:
                raise FissionError(f"{reply['error']}; {sent} line(s) had been delivered")
            sent += 1
    return sent


class _Sender:
    """One connection to the send endpoint of the network running in ``project``."""

    def __init__(self, project: Path, network: str) -> None:
        info = running_info(project, network)
        if "send" not in info:
            raise NotRunningError(f"network {network!r} is running but takes no lines (its "
                                  "run has no send endpoint)")
        self.network = network
        self.context = zmq.Context()  # its own: closed with the connection, so nothing lingers
        self.socket = self.context.socket(zmq.REQ)
        self.socket.setsockopt(zmq.LINGER, 0)
        try:
            if info.get("secure", True):
                dial(self.socket, project_credentials(Path(project)).curve)
            self.socket.connect(info["send"])
        except BaseException:
            self.__exit__()
            raise

    def __enter__(self) -> _Sender:
        return self

    def __exit__(self, *_: object) -> None:
        self.socket.close()
        self.context.term()

    def send(self, job_id: int, text: str) -> dict:
        """One request and its reply."""
        self.socket.send_json({"job": job_id, "text": text})
        if not self.socket.poll(REPLY_TIMEOUT_MS):
            raise NotRunningError(f"network {self.network!r} did not answer within "
                                  f"{REPLY_TIMEOUT_MS / 1000:.0f} s; is it still running?")
        return self.socket.recv_json()


def parse_line(line: str, default: int) -> tuple[int, str]:
    """``(job id, text)`` of a typed line: ``@N text`` goes to job N, else to ``default``."""
    if line.startswith("@") and " " in line and line[1:line.index(" ")].isdigit():
        return int(line[1:line.index(" ")]), line[line.index(" ") + 1:]
    return default, line


class Prompt(threading.Thread):
    """A prompt on the bottom line of the terminal; job output scrolls above it.

    A line is sent to the first InteractiveJob, or to job N when written ``@N text``.
    Ctrl+C or Ctrl+D at the prompt calls ``on_exit`` (the backend stops the network).
    When the network stops for another reason, :meth:`close` ends the prompt, which
    gives the terminal back in the mode it was found in.
    """

    def __init__(self, project: Path, network: str, jobs: Iterable[BaseJob],
                 on_exit: Callable[[], None]) -> None:
        from prompt_toolkit import PromptSession

        super().__init__(name="fission-prompt", daemon=True)
        self._project, self._network = project, network
        self._default = next(iter(jobs)).id
        self._on_exit = on_exit
        self._session: PromptSession = PromptSession()
        self._closing = False

    def run(self) -> None:
        while not self._closing:
            try:
                line = self._session.prompt(f"{self._network} > ")
            except (EOFError, KeyboardInterrupt):
                if not self._closing:
                    self._on_exit()
                return
            job_id, text = parse_line(line, self._default)
            try:
                send_line(self._project, self._network, job_id, text)
            except FissionError as error:
                print(f"error: {error}")

    def close(self, timeout: float = 2.0) -> None:
        """End the prompt from another thread and wait for the terminal to be restored."""
        self._closing = True
        app = self._session.app
        if app.is_running and app.loop is not None:
            app.loop.call_soon_threadsafe(lambda: app.exit(exception=EOFError()))
        self.join(timeout)


def write_console(text: str) -> None:
    """Jobs' relayed output to this terminal, which may be gone."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except (OSError, ValueError):
        pass  # the console is gone (a closed pipe): keep draining so jobs never block on print


@contextlib.contextmanager
def prompt_if_terminal(settings: Settings, interactive: list[BaseJob],
                       stop: Callable[[], None]) -> Iterator[None]:
    """A prompt for InteractiveJobs when a person is at the terminal; else nothing."""
    if not interactive or not sys.stdin.isatty():
        yield
        return
    from prompt_toolkit.patch_stdout import patch_stdout

    with patch_stdout(raw=True):
        prompt = Prompt(settings.project, settings.name, interactive, stop)
        prompt.start()
        try:
            yield
        finally:
            prompt.close()
