"""A network shaped like the original FISSION's source separation, under `run` with a node
killed halfway: a multi-channel source of numpy frames, a processing job per channel on
nodes of their own, a job combining the channels of each frame, and a CSV sink.

The node killed holds one channel's processing job and the combining job, so the combining
job is placed again together with one of its producers: its replacement gets blocks again
from a live producer and from a replaced one, and every row must still combine the two
channels of one frame, computed in full. The source is paced (50 frames a second); producers
keep what is in flight until it is acknowledged (fission/backends/acks.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from clusterhelp import csv_rows, make_project, network_package, settings_for, wait_until

FRAME = 256
NETWORK = '''
import time

import numpy as np

from fission.core.jobs import CSVSinkJob, PythonJob
from fission.core.pipes import ArrayPipe, PicklePipe

FRAME = {frame}


class Microphones(PythonJob):
    """Frame k of channel c: 1000 k + c / 4 + 0, 1, ..., FRAME - 1."""

    DEFAULT_NODE = "127.0.0.2"

    def run(self):
        ramp = np.arange(FRAME, dtype=np.float64)
        k = 0
        while True:
            yield ramp + 1000 * k, ramp + 1000 * k + 0.25
            k += 1
            time.sleep(0.02)


class Gain(PythonJob):
    """One channel's processing: the frame times the channel's gain."""

    def __init__(self, gain, **kwargs):
        super().__init__(**kwargs)
        self.gain = gain

    def run(self, frame):
        return frame * self.gain


class Gain0(Gain):
    DEFAULT_NODE = "127.0.0.3"


class Gain1(Gain):
    DEFAULT_NODE = "127.0.0.4"


class Combine(PythonJob):
    """The frame number each channel says it holds, and the sum of both channels."""

    DEFAULT_NODE = "127.0.0.3"

    def run(self, left, right):
        return (int(left[0] // 2000), int(round((right[0] / 3 - 0.25) / 1000)),
                float(left.sum() + right.sum()))


JOBS = [
    Microphones(outputs=[ArrayPipe(1, "float64", FRAME), ArrayPipe(2, "float64", FRAME)]),
    Gain0(2, inputs=[ArrayPipe(1, "float64", FRAME)], outputs=[ArrayPipe(3)]),
    Gain1(3, inputs=[ArrayPipe(2, "float64", FRAME)], outputs=[ArrayPipe(4)]),
    Combine(inputs=[ArrayPipe(3), ArrayPipe(4)],
            outputs=[PicklePipe(5), PicklePipe(6), PicklePipe(7)]),
    CSVSinkJob(path="frames.csv", inputs=[PicklePipe(5), PicklePipe(6), PicklePipe(7)]),
]
'''


def expected_total(k: int) -> float:
    ramp = FRAME * (FRAME - 1) / 2
    return 2 * (ramp + 1000 * k * FRAME) + 3 * (ramp + (1000 * k + 0.25) * FRAME)


@pytest.mark.timeout(120)
def test_a_channel_node_killed_halfway_keeps_frames_whole(own_cluster, runs,
                                                          tmp_path: Path) -> None:
    project = make_project(tmp_path, own_cluster)
    network_package(project, "separation",
                    settings_for(own_cluster) + NETWORK.format(frame=FRAME))
    run = runs(project, "separation")
    frames = run.local / "5" / "frames.csv"
    wait_until(lambda: len(csv_rows(frames)) >= 40, 60, f"40 frames\n{run.output}")
    assert run.placed()[2] == run.placed()[4] == "127.0.0.3"
    own_cluster.agent("127.0.0.3").kill()
    wait_until(lambda: len(run.events_of("failover_done")) >= 2, 30, f"failover\n{run.output}")
    moved = run.placed(incarnation=1)
    assert set(moved) == {2, 4} and "127.0.0.3" not in moved.values()
    count = len(csv_rows(frames))
    wait_until(lambda: len(csv_rows(frames)) >= count + 20, 30,
               f"frames after the failover\n{run.output}")
    run.interrupt()
    assert run.wait(15) == 0, run.output
    rows = [(int(left), int(right), float(total)) for left, right, total in csv_rows(frames)]
    # Each row combines both channels of one frame, computed in full.
    assert all(left == right and total == expected_total(left) for left, right, total in rows), [
        row for row in rows if row[0] != row[1] or row[2] != expected_total(row[0])]
    # Frames only move forward (a gap where more was lost than producers remember).
    numbers = [left for left, _, _ in rows]
    assert numbers == sorted(set(numbers)) and numbers[0] == 0
    assert "replaced by dummies" not in run.output
