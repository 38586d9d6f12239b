"""`simulate --record PIPE,...` writes every block of a pipe; a ReplayJob plays it back."""

from __future__ import annotations

import time

import pytest
from simhelp import read_csv

from fission.wire.recording import read_recording

RECORDED = """
from fission.core.pipes import PicklePipe
from fission.core.jobs import CSVSinkJob
from netjobs import CountSource

JOBS = [
    CountSource(n=30, start=100, sleep=0.02, outputs=[PicklePipe(7), PicklePipe(8)]),
    CSVSinkJob(path="seven.csv", inputs=[PicklePipe(7)]),
    CSVSinkJob(path="eight.csv", inputs=[PicklePipe(8)]),
]
"""

REPLAY = """
from fission.core.pipes import PicklePipe
from fission.core.jobs import CSVSinkJob, ReplayJob

JOBS = [
    ReplayJob(path="rec/recordings/pipe-7.rec", speed={speed}, outputs=[PicklePipe(3)]),
    CSVSinkJob(path="replayed.csv", inputs=[PicklePipe(3)]),
]
"""


@pytest.mark.timeout(90)
def test_a_recorded_pipe_plays_back_at_its_pace_or_as_fast_as_it_can(sim, project) -> None:
    project.network("rec", RECORDED)
    run = sim(project.root, "rec", "--record", "7")
    assert run.wait(30) == 0, run.output()
    records = list(read_recording(project.root / "rec" / "recordings" / "pipe-7.rec"))
    assert [seq for _, seq, _ in records] == list(range(30))
    times = [sent for sent, _, _ in records]
    assert times == sorted(times) and 0.4 < times[-1] - times[0] < 5
    assert not (project.root / "rec" / "recordings" / "pipe-8.rec").exists()

    for name, speed in (("paced", "1.0"), ("fast", "None")):
        project.network(name, REPLAY.format(speed=speed))
        started = time.monotonic()
        replay = sim(project.root, name)
        assert replay.wait(30) == 0, replay.output()
        rows = read_csv(replay.job_dir(2) / "replayed.csv")
        assert rows == [["pipe_3"]] + [[str(value)] for value in range(100, 130)]
        if speed == "1.0":
            assert time.monotonic() - started >= times[-1] - times[0]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("backend", ["simulate", "run"])
def test_record_names_an_unknown_pipe_or_a_folder_it_cannot_write(manage, project, backend) -> None:
    project.network("rec", RECORDED)
    result = manage(project.root, "rec", backend, "--record", "7,99")
    assert result.returncode == 1
    assert "--record: 99 is not a pipe of rec (its pipes: 7, 8)" in result.stderr
    assert "waiting for" not in result.stderr  # refused before anything started
    result = manage(project.root, "rec", backend, "--record", "seven")
    assert result.returncode == 2 and "pipe ids separated by commas" in result.stderr
    (project.root / "rec" / "recordings").write_text("in the way")
    result = manage(project.root, "rec", backend, "--record", "7")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: --record: cannot write the recordings in "
                                    f"{project.root / 'rec' / 'recordings'} (File exists")
    assert (project.root / "rec" / "recordings").read_text() == "in the way"


def test_a_replay_job_is_a_source_with_a_sensible_speed() -> None:
    from fission.core.jobs import ReplayJob
    from fission.core.pipes import PicklePipe
    from fission.errors import ConfigError

    with pytest.raises(ConfigError, match="is a source: give it outputs"):
        ReplayJob(path="a.rec")
    with pytest.raises(ConfigError, match="speed must be a number above 0 or None"):
        ReplayJob(path="a.rec", speed=0, outputs=[PicklePipe(41)])
    job = ReplayJob(path="net/recordings/pipe-7.rec", speed=None, outputs=[PicklePipe(42)])
    assert job.DEPENDENCIES == ("net/recordings/pipe-7.rec",)


@pytest.mark.timeout(60)
def test_a_file_that_is_not_a_recording_fails_its_replay_job_clearly(sim, project) -> None:
    (project.root / "notes.txt").write_text("not a recording\n")
    project.network("bad", REPLAY.format(speed="None").replace("rec/recordings/pipe-7.rec",
                                                               "notes.txt"))
    run = sim(project.root, "bad")
    assert run.wait(30) == 1
    assert "ReplayJob 1 failed" in run.stderr and "notes.txt is not a FISSION recording" in (
        run.stderr), run.output()
