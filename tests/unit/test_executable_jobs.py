"""Executable jobs are checked when the config builds them: what is wrong is named at once."""

from __future__ import annotations

import pytest

from fission.core.base import reset
from fission.core.jobs import DynamicExecutableJob, ExecutableJob, MARVELOJob
from fission.core.pipes import BasePipe, BytesPipe, OptionalPicklePipe, PicklePipe
from fission.errors import ConfigError


@pytest.fixture(autouse=True)
def _fresh_pipes():
    reset()
    yield
    reset()


class Shapeless(BasePipe):
    def pack(self, value):
        return bytes(value)

    def unpack(self, data):
        return data


def test_an_executable_job_needs_its_command(tmp_path) -> None:
    job = ExecutableJob(inputs=[PicklePipe(1)])
    job.id = 3
    with pytest.raises(ConfigError, match=r"net/config.py: ExecutableJob 3: EXECUTABLE must be"):
        job.check_files(tmp_path, "net/config.py")


def test_a_subclass_may_set_its_command_in_init(tmp_path) -> None:
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "run.sh").write_text("#!/bin/sh\n")

    class Late(ExecutableJob):
        def __init__(self, param, **kwargs):
            super().__init__(**kwargs)
            self.EXECUTABLE = "./run.sh"
            self.DEPENDENCIES = "tools/"
            self.PARAMETERS = param

    job = Late("-x", outputs=[PicklePipe(2)])
    job.id = 1
    with pytest.raises(ConfigError, match=r"run.sh is not executable; run 'chmod \+x"):
        job.check_files(tmp_path, "net/config.py")
    (tmp_path / "tools" / "run.sh").chmod(0o755)
    job.check_files(tmp_path, "net/config.py")
    assert tuple(job.DEPENDENCIES) == ("tools/",)


def test_a_pipe_without_a_layout_on_a_stream_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"pipe 2 \(Shapeless\) has no layout a program can "
                                          r"read.*BLOCK_SIZE"):
        DynamicExecutableJob("prog", "./filter", inputs=[BytesPipe(1, 4)], outputs=[Shapeless(2)])


def test_an_optional_pipe_cannot_feed_a_program() -> None:
    with pytest.raises(ConfigError, match=r"pipe 1 is optional"):
        DynamicExecutableJob("prog", "./filter", inputs=[OptionalPicklePipe(1)])


def test_the_original_spellings_are_accepted() -> None:
    class Filter(MARVELOJob):
        DEPENDENCIES = "programs/filter"
        EXECUTABLE = "python3 filter.py"
        PARAMETERS = "--gain 2"

    job = Filter(inputs=None, outputs=[PicklePipe(3)])
    assert job.inputs == []
    assert tuple(job.DEPENDENCIES) == ("programs/filter",)
    dynamic = DynamicExecutableJob("prog", "./filter", groups="HAS_MIC", input_flag="--in",
                                   outputs=[BytesPipe(4, 16)])
    assert dynamic.groups() == ("HAS_MIC",)
    assert dynamic.INPUT_FLAG == "--in"
