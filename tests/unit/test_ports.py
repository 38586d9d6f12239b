"""The socket-free parts of a job's ports: which incarnations an input admits, and what an
unreadable block does (counted, or the job fails when the user's own ``unpack`` raised)."""

from __future__ import annotations

import pytest

from fission.core.pipes import ArrayPipe, BytesPipe, PicklePipe
from fission.errors import JobError, WireError
from fission.runtime.ports import GARBAGE_LOG_LIMIT, Input, admit, builtin_decoder, garbage


def _port(user_pipe=None) -> Input:
    return Input(1, bytes, None, "Forward 2", user_pipe)


def test_a_newer_incarnation_is_admitted_and_an_older_one_fenced():
    port = _port()
    assert admit(port, 2) and port.incarnation == 2
    assert not admit(port, 1) and port.fenced == 1
    assert port.incarnation == 2


def test_garbage_of_a_builtin_pipe_is_counted_past_the_log_limit():
    port = _port()
    for _ in range(GARBAGE_LOG_LIMIT + 3):
        garbage(port, ValueError("not a pickle"))
    assert port.garbage == GARBAGE_LOG_LIMIT + 3


class _Strict(PicklePipe):
    def unpack(self, data):
        raise KeyError("mine")


def test_what_a_users_unpack_raises_fails_the_job_naming_the_pipe():
    port = _port(_Strict(7))
    with pytest.raises(JobError, match=r"Forward 2: unpack\(\) of its input pipe 7 \(_Strict\)"):
        garbage(port, KeyError("mine"))
    garbage(port, WireError("not a block of mine"))  # the user's way to drop a block
    assert port.garbage == 1


def test_builtin_decoders_are_fissions_own():
    assert builtin_decoder(PicklePipe(1)) and builtin_decoder(BytesPipe(2, 4))
    assert builtin_decoder(ArrayPipe(3)) and not builtin_decoder(_Strict(4))
