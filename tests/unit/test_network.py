"""Network.from_jobs: numbering, wiring and the checks that run before any process starts."""

from __future__ import annotations

import re

import pytest

from fission.core.jobs import CSVSinkJob, InteractiveJob, PythonJob
from fission.core.network import Network
from fission.core.pipes import OptionalPicklePipe, PicklePipe
from fission.errors import ConfigError


class Src(PythonJob):
    def run(self):
        yield 1


class One(PythonJob):
    def run(self, a):
        return a


class Two(PythonJob):
    def run(self, a, b):
        return a + b


class Many(PythonJob):
    def run(self, *args):
        return sum(args)


class OpMany(PythonJob):
    def run(self, op, *args):
        return op


class WithDefault(PythonJob):
    def run(self, a, b=0):
        return a + b


class GenWithInputs(PythonJob):
    def run(self, a):
        yield a


def sources(*pipe_ids: int) -> list[Src]:
    return [Src(outputs=[PicklePipe(i)]) for i in pipe_ids]


def test_jobs_are_numbered_in_list_order_and_pipes_linked():
    jobs = [*sources(1, 2), Two(inputs=[PicklePipe(1), PicklePipe(2)], outputs=[PicklePipe(3)]),
            CSVSinkJob(path="x.csv", inputs=[PicklePipe(3)])]
    network = Network.from_jobs(jobs)
    assert [job.id for job in network.jobs] == [1, 2, 3, 4]
    assert network.job(3) is jobs[2]
    assert {pid: (link.source, link.destination) for pid, link in network.pipes.items()} == {
        1: (1, 3), 2: (2, 3), 3: (3, 4)}
    assert network.pipes[1].pipe is PicklePipe(1)
    assert jobs[2].name == "Two 3"
    described = network.describe().splitlines()
    assert len(described) == 4
    assert described[2].startswith("3\t") and "Two" in described[2]


def test_a_pipe_with_two_sources_names_the_pipe_and_both_jobs():
    jobs = [*sources(5, 5), One(inputs=[PicklePipe(5)])]
    with pytest.raises(ConfigError, match=r"pipe 5\b.*two sources.*Src 1.*Src 2"):
        Network.from_jobs(jobs)


def test_a_pipe_with_two_destinations_names_the_pipe_and_both_jobs():
    jobs = [*sources(5), One(inputs=[PicklePipe(5)]), One(inputs=[PicklePipe(5)])]
    with pytest.raises(ConfigError, match=r"pipe 5\b.*two destinations.*One 2.*One 3"):
        Network.from_jobs(jobs)


def test_a_pipe_nobody_reads_names_the_pipe_and_its_producer():
    jobs = [Src(outputs=[PicklePipe(6), PicklePipe(7)]), One(inputs=[PicklePipe(6)])]
    with pytest.raises(ConfigError, match=r"pipe 7\b.*output of Src 1"):
        Network.from_jobs(jobs)


def test_a_pipe_nobody_writes_names_the_pipe_and_its_consumer():
    jobs = [*sources(1), Two(inputs=[PicklePipe(1), PicklePipe(8)])]
    with pytest.raises(ConfigError, match=r"pipe 8\b.*input of Two 2"):
        Network.from_jobs(jobs)


def test_a_pipe_from_a_job_to_itself_is_an_error():
    jobs = [One(inputs=[PicklePipe(9)], outputs=[PicklePipe(9)])]
    with pytest.raises(ConfigError, match=r"pipe 9\b.*One 1"):
        Network.from_jobs(jobs)


def test_run_with_fewer_parameters_than_inputs_names_the_job():
    jobs = [*sources(1, 2, 3), Two(inputs=[PicklePipe(1), PicklePipe(2), PicklePipe(3)])]
    with pytest.raises(ConfigError, match=r"Two 4\b.*takes 2.*3 input"):
        Network.from_jobs(jobs)


def test_run_with_more_parameters_than_inputs_names_the_job():
    jobs = [*sources(1), Two(inputs=[PicklePipe(1)])]
    with pytest.raises(ConfigError, match=r"Two 2\b"):
        Network.from_jobs(jobs)


@pytest.mark.parametrize("count", [1, 2, 5])
def test_var_positional_run_takes_any_number_of_inputs(count):
    ids = list(range(1, count + 1))
    network = Network.from_jobs([*sources(*ids), Many(inputs=[PicklePipe(i) for i in ids])])
    assert len(network.jobs) == count + 1


@pytest.mark.parametrize(("count", "ok"), [(0, False), (1, True), (3, True)])
def test_run_op_star_args_needs_at_least_one_input(count, ok):
    ids = list(range(1, count + 1))
    jobs = [*sources(*ids), OpMany(inputs=[PicklePipe(i) for i in ids])]
    if ok:
        Network.from_jobs(jobs)
    else:
        with pytest.raises(ConfigError, match=rf"OpMany {count + 1}\b.*at least 1"):
            Network.from_jobs(jobs)


@pytest.mark.parametrize(("count", "ok"), [(1, True), (2, True), (3, False)])
def test_parameters_with_defaults_are_optional(count, ok):
    ids = list(range(1, count + 1))
    jobs = [*sources(*ids), WithDefault(inputs=[PicklePipe(i) for i in ids])]
    if ok:
        Network.from_jobs(jobs)
    else:
        with pytest.raises(ConfigError, match=r"WithDefault 4\b.*1 to 2"):
            Network.from_jobs(jobs)


def test_a_generator_run_with_inputs_is_an_error():
    jobs = [*sources(1), GenWithInputs(inputs=[PicklePipe(1)])]
    with pytest.raises(ConfigError, match=r"GenWithInputs 2\b.*generator"):
        Network.from_jobs(jobs)


def test_the_console_of_an_interactive_job_counts_as_its_input():
    jobs = [InteractiveJob(outputs=[PicklePipe(1)]), One(inputs=[PicklePipe(1)])]
    assert Network.from_jobs(jobs).job(1).CONSOLE


@pytest.mark.parametrize("jobs", [[], None, Src(), [Src(), "job"]])
def test_jobs_must_be_a_non_empty_list_of_jobs(jobs):
    with pytest.raises(ConfigError, match="JOBS"):
        Network.from_jobs(jobs)


def test_the_same_job_object_twice_is_an_error():
    job = Src(outputs=[PicklePipe(1)])
    with pytest.raises(ConfigError, match="twice"):
        Network.from_jobs([job, job])


def test_job_pipe_lists_are_checked():
    with pytest.raises(ConfigError, match="inputs must be a list"):
        One(inputs=PicklePipe(1))
    with pytest.raises(ConfigError, match=r"outputs\[1\]"):
        One(outputs=[PicklePipe(1), 2])
    with pytest.raises(ConfigError, match="at least one input"):
        CSVSinkJob(path="x.csv", inputs=[])
    with pytest.raises(ConfigError, match="no outputs"):
        CSVSinkJob(path="x.csv", inputs=[PicklePipe(2)], outputs=[PicklePipe(3)])


@pytest.mark.parametrize(("attributes", "words"), [
    ({"MAX_QUEUE": -1}, ["MAX_QUEUE", "-1"]),
    ({"MAX_QUEUE": "10"}, ["MAX_QUEUE", "'10'"]),
    ({"GROUPS": 5}, ["GROUPS", "5"]),
    ({"GROUPS": ["HAS_MIC", 3]}, ["GROUPS"]),
    ({"DEFAULT_NODE": 4}, ["DEFAULT_NODE", "4"]),
    ({"GROUPS": []}, ["GROUPS", "DEFAULT_NODE"]),
])
def test_bad_class_attributes_are_config_errors_naming_them(attributes, words):
    job_class = type("Odd", (PythonJob,), {"run": lambda self: None, **attributes})
    with pytest.raises(ConfigError) as caught:
        Network.from_jobs([job_class()])
    for word in ["Odd", *words]:
        assert word in str(caught.value)


def test_groups_may_be_empty_with_a_default_node():
    job_class = type("Pinned", (PythonJob,), {
        "run": lambda self: None, "GROUPS": [], "DEFAULT_NODE": "192.168.4.4"})
    network = Network.from_jobs([job_class(outputs=[PicklePipe(1)]), One(inputs=[PicklePipe(1)])])
    assert network.jobs[0].groups() == ()


def test_a_cycle_of_required_pipes_is_refused_naming_its_jobs_and_pipes():
    jobs = [*sources(1), Two(inputs=[PicklePipe(1), PicklePipe(4)], outputs=[PicklePipe(2)]),
            One(inputs=[PicklePipe(2)], outputs=[PicklePipe(3)]),
            One(inputs=[PicklePipe(3)], outputs=[PicklePipe(4)])]
    with pytest.raises(ConfigError) as caught:
        Network.from_jobs(jobs)
    message = str(caught.value)
    assert "required pipes" in message and "form a cycle" in message
    assert re.search(r"\b2, 3, 4\b", message), message
    assert re.search(r"(Two 2|One 3|One 4)( -> (Two 2|One 3|One 4)){3}", message), message
    assert "optional" in message and "no source" not in message


def test_a_network_without_a_source_is_refused():
    jobs = [One(inputs=[PicklePipe(2)], outputs=[PicklePipe(1)]),
            One(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)])]
    with pytest.raises(ConfigError) as caught:
        Network.from_jobs(jobs)
    message = str(caught.value)
    assert "no source" in message
    assert "One 1 -> One 2 -> One 1" in message or "One 2 -> One 1 -> One 2" in message
    assert "pipes 1, 2" in message or "pipes 2, 1" in message


def test_a_feedback_loop_through_an_optional_pipe_is_allowed():
    jobs = [*sources(1), Two(inputs=[PicklePipe(1), OptionalPicklePipe(3)],
                             outputs=[PicklePipe(2)]),
            One(inputs=[PicklePipe(2)], outputs=[OptionalPicklePipe(3)])]
    assert len(Network.from_jobs(jobs).pipes) == 3


def test_jobs_feeding_each_other_through_optional_pipes_are_sources():
    jobs = [One(inputs=[OptionalPicklePipe(2)], outputs=[PicklePipe(1)]),
            One(inputs=[PicklePipe(1)], outputs=[OptionalPicklePipe(2)])]
    assert len(Network.from_jobs(jobs).jobs) == 2


def test_a_job_with_neither_inputs_nor_outputs_is_refused():
    jobs = [*sources(5), One(inputs=[PicklePipe(5)]), Src()]
    with pytest.raises(ConfigError, match=r"Src 3 has neither inputs nor outputs.*remove it"):
        Network.from_jobs(jobs)


def test_an_interactive_job_without_pipes_has_its_console_as_input():
    assert Network.from_jobs([InteractiveJob()]).job(1).CONSOLE
