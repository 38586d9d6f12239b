"""The job classes as the original FISSION's users wrote them: base orders, None pipes, names."""

from __future__ import annotations

import pickle

import pytest

from fission.core.jobs import CSVSinkJob, LocalJob, PythonJob
from fission.core.network import Network
from fission.core.pipes import PicklePipe
from fission.errors import ConfigError


class PythonFirst(PythonJob, LocalJob):
    def run(self, value):
        return value


class LocalFirst(LocalJob, PythonJob):
    def run(self, value):
        return value


class OnlyLocal(LocalJob):
    def run(self, value):
        return value


class Source(PythonJob):
    def __init__(self, inputs=None, outputs=None):
        super().__init__(inputs=inputs, outputs=outputs)

    def run(self):
        yield 1


class Named(PythonJob):
    """Sets ``self.name`` before calling ``super().__init__``, as the original's jobs did."""

    def __init__(self, name="", inputs=None, outputs=None):
        self.name = name
        super().__init__(inputs=inputs, outputs=outputs)

    def run(self, value):
        return value


@pytest.mark.parametrize("job_class", [PythonFirst, LocalFirst, OnlyLocal])
def test_local_job_works_in_either_base_order(job_class):
    job = job_class(inputs=[PicklePipe(1)])
    assert job.groups() == ("LOCAL",)
    assert isinstance(job, LocalJob)
    Network.from_jobs([Source(outputs=[PicklePipe(1)]), job])


def test_none_means_no_inputs_or_outputs():
    source = Source(inputs=None, outputs=[PicklePipe(1)])
    assert source.inputs == []
    sink = CSVSinkJob(path="x.csv", inputs=[PicklePipe(1)])
    assert Named(inputs=None, outputs=None).outputs == []
    Network.from_jobs([source, sink])


def test_a_single_pipe_instead_of_a_list_is_still_refused():
    with pytest.raises(ConfigError, match="inputs must be a list of pipes"):
        Named(inputs=PicklePipe(1))


def test_a_job_may_set_its_name_and_reports_keep_the_label():
    named = Named(name="microphone", inputs=[PicklePipe(1)])
    unnamed = Named(inputs=[PicklePipe(2)])
    Network.from_jobs([Source(outputs=[PicklePipe(1)]), Source(outputs=[PicklePipe(2)]),
                       named, unnamed])
    assert named.name == "microphone"
    assert named.label == "Named 3"
    assert repr(named) == "<Named 3>"
    assert unnamed.name == ""  # what it set, even empty
    assert unnamed.label == "Named 4"
    assert pickle.loads(pickle.dumps(named)).name == "microphone"


def test_name_defaults_to_the_label():
    job = Source(outputs=[PicklePipe(1)])
    assert job.name == "Source ?"
    Network.from_jobs([job, CSVSinkJob(path="x.csv", inputs=[PicklePipe(1)])])
    assert job.name == "Source 1"
