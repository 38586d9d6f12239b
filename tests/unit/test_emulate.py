"""fission.emulate: one job or pipe, run by the runtime's rules, without a network."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from fission.core.head import FINISH_BIT, Head
from fission.core.jobs import InteractiveJob, PythonJob
from fission.core.pipes import BytesPipe, JSONPipe, OptionalPicklePipe, PicklePipe
from fission.emulate import NOTHING, JobEmulator, PipeEmulator, emulate
from fission.errors import ConfigError, EmulatorError, JobError


class Add(PythonJob):
    def run(self, a, b):
        return a + b


class SplitSum(PythonJob):
    """Two outputs: a tuple maps element-wise."""

    def run(self, a, b):
        return a + b, a - b


class Window(PythonJob):
    def run(self, blocks):
        return sum(blocks)


class Counter(PythonJob):
    """A generator source."""

    def __init__(self, stop, **kwargs):
        super().__init__(**kwargs)
        self.stop = stop

    def run(self):
        yield from range(1, self.stop + 1)


class CallSource(PythonJob):
    """A source whose run is called again and again until it returns None."""

    def setup(self):
        self.left = 3

    def run(self):
        if not self.left:
            return None
        self.left -= 1
        return self.left


class WithOperator(PythonJob):
    """An optional operator before two required inputs."""

    def run(self, op, a, b):
        return a * b if op == "*" else a + b


class Operator(OptionalPicklePipe):
    OPTIONAL_DEFAULT = "+"
    OPTIONAL_STORE = True


class Steered(PythonJob):
    """A source with an optional input: run() is called with it, again and again."""

    def run(self, factor):
        return 10 * factor


class FileSink(PythonJob):
    """Writes in its working directory; opens in setup and closes in teardown."""

    def setup(self):
        self.file = open("out.txt", "w")  # noqa: SIM115 - closed in teardown
        self.cwd = os.getcwd()

    def run(self, value):
        self.file.write(f"{value}\n")

    def teardown(self):
        self.file.close()
        self.closed = True


class Locked(PythonJob):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.lock = threading.Lock()

    def run(self, value):
        return value


class Bad(PythonJob):
    def run(self, value):
        return value, value, value


class Pipe5(PicklePipe):
    BLOCK_COUNT = 5


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_two_inputs_one_output_and_call_is_put_then_get():
    job = emulate(Add(inputs=[PicklePipe(1), PicklePipe(2)], outputs=[PicklePipe(3)]))
    assert isinstance(job, JobEmulator)
    assert job(1, 2) == [3]
    job.put(10, 5)
    job.put(1, 1)
    assert job.get() == [15]
    assert job.get() == [2]
    assert job.runs == 3
    with pytest.raises(EmulatorError, match="no run ready"):
        job.get()
    job.kill()


def test_tuple_maps_onto_outputs_and_a_value_goes_to_every_output():
    job = emulate(SplitSum(inputs=[PicklePipe(1), PicklePipe(2)],
                           outputs=[PicklePipe(3), PicklePipe(4)]))
    assert job(5, 3) == [8, 2]
    both = emulate(Add(inputs=[PicklePipe(5), PicklePipe(6)],
                       outputs=[PicklePipe(7), JSONPipe(8)]))
    assert both(2, 2) == [4, 4]


def test_wrong_tuple_length_is_the_runtimes_error():
    job = emulate(Bad(inputs=[PicklePipe(1)], outputs=[PicklePipe(2), PicklePipe(3)]))
    with pytest.raises(JobError, match="tuple of 3 values for its 2 outputs"):
        job(1)


def test_block_count_window_takes_a_tuple_or_single_blocks():
    job = emulate(Window(inputs=[Pipe5(1)], outputs=[PicklePipe(2)]))
    assert job((1, 2, 3, 4, 5)) == [15]
    for value in range(4):
        job.put(value)
    with pytest.raises(EmulatorError, match="holds 4 of the 5 block"):
        job.get()
    job.put(10)
    assert job.get() == [16]
    job.put((1, 1, 1))
    assert job.close() == []  # an incomplete last window is not run
    assert job.leftover == 3
    assert job.finished


def test_generator_source_runs_once_per_get_and_finishes():
    job = emulate(Counter(3, outputs=[PicklePipe(1), PicklePipe(2)]))
    assert [job(), job(), job()] == [[1, 1], [2, 2], [3, 3]]
    with pytest.raises(EmulatorError, match="finished after 3 run"):
        job.get()
    assert job.finished


def test_called_source_ends_on_none_and_setup_ran_in_the_copy():
    job = emulate(CallSource(outputs=[PicklePipe(1)]))
    assert [job.get(), job.get(), job.get()] == [[2], [1], [0]]
    with pytest.raises(EmulatorError, match="finished"):
        job.get()


def test_optional_input_default_store_and_nothing():
    job = emulate(WithOperator(inputs=[Operator(1), PicklePipe(2), PicklePipe(3)],
                               outputs=[PicklePipe(4)]))
    assert job(NOTHING, 2, 3) == [5]     # the default "+"
    assert job("*", 2, 3) == [6]
    assert job(NOTHING, 2, 3) == [6]     # OPTIONAL_STORE repeats "*"
    with pytest.raises(EmulatorError, match="has 3 input"):
        job.put(1, 2)


def test_source_with_an_optional_input_runs_once_per_get():
    job = emulate(Steered(inputs=[Operator(1)], outputs=[PicklePipe(2)]))
    job.put(3)                            # offered, not run: a source runs when asked
    assert job.runs == 0
    assert job.get() == [30]
    assert job() == [30]                  # OPTIONAL_STORE repeats the last value
    assert job(1) == [10]


def test_values_travel_through_their_pipes():
    job = emulate(Add(inputs=[JSONPipe(1), JSONPipe(2)], outputs=[JSONPipe(3)]))
    assert job((1, 2), [3]) == [[1, 2, 3]]          # a JSON tuple arrives as a list
    sized = emulate(Add(inputs=[BytesPipe(4, 2), BytesPipe(5, 2)], outputs=[BytesPipe(6, 4)]))
    assert sized(b"ab", b"cd") == [b"abcd"]
    with pytest.raises(JobError, match="blocks of 2 bytes"):
        sized.put(b"abc", b"cd")


def test_setup_teardown_and_working_directory(in_tmp: Path):
    sink = FileSink(inputs=[PicklePipe(1)])
    sink.id = 7
    with emulate(sink) as job:
        job.put("a")
        job.put("b")
        assert job(3) == []                  # a sink has no outputs
        assert job.job.cwd == str(in_tmp / ".emulate" / "7")
        assert os.getcwd() == str(in_tmp)    # only user code runs in the job's folder
    assert job.job.closed
    assert (in_tmp / ".emulate" / "7" / "out.txt").read_text() == "a\nb\n3\n"
    assert job.cwd == in_tmp / ".emulate" / "7"


def test_interactive_job_takes_the_console_line():
    job = emulate(InteractiveJob(outputs=[PicklePipe(1)]))
    assert job("hello") == ["hello"]


def test_a_job_that_cannot_be_pickled_is_refused_clearly():
    with pytest.raises(ConfigError, match="cannot be pickled.*setup"):
        emulate(Locked(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]))


def test_put_after_finish_is_refused():
    job = emulate(Add(inputs=[PicklePipe(1), PicklePipe(2)], outputs=[PicklePipe(3)]))
    job.put(1, 1)
    assert job.close() == [[2]]
    with pytest.raises(EmulatorError, match="has finished"):
        job.put(1, 1)


def test_pipe_emulator_round_trip_and_queue():
    pipe = emulate(PicklePipe(1))
    assert isinstance(pipe, PipeEmulator)
    packed, value = pipe({"x": (1, 2)})
    assert value == {"x": (1, 2)} and isinstance(packed, bytes)
    pipe.put(1)
    pipe.put([2])
    assert (pipe.get(), pipe.get()) == (1, [2])
    with pytest.raises(EmulatorError, match="holds no block"):
        pipe.get()


def test_emulate_refuses_other_objects():
    with pytest.raises(TypeError, match="a job or a pipe"):
        emulate(42)


class Tagger(PythonJob):
    """A HEAD job: adds its inputs; marks output 2 with bit 7 when the sum is odd."""

    HEAD = True

    def run(self, a, b):
        self.seen = [self.in_heads[0], self.in_heads[1], self.head]
        if (a + b) % 2:
            self.out_heads[1] = Head(0b0000_0001)
        return a + b, a - b


class HeadWindow(PythonJob):
    HEAD = True

    def run(self, blocks):
        self.seen = list(self.in_heads[0])
        return sum(blocks)


class MarkedSource(PythonJob):
    """A HEAD source: every second value carries 0b1000_0000; finishes after 3."""

    HEAD = True

    def run(self):
        for value in range(10):
            if value % 2 == 0:
                self.out_heads[0] = Head(0b1000_0000)
            if value == 2:
                self.finish()
            yield value


class StopAt(PythonJob):
    """No HEAD: ends the network with finish() at ``last``."""

    def __init__(self, last, **kwargs):
        super().__init__(**kwargs)
        self.last = last

    def run(self, value):
        if value == self.last:
            self.finish()
        return value

    def teardown(self):
        self.torn_down = True


class Failing(PythonJob):
    def run(self, value):
        raise ValueError(f"cannot take {value}")

    def teardown(self):
        self.torn_down = True


def test_a_head_job_gets_in_heads_and_head_and_its_outputs_carry_heads():
    job = emulate(Tagger(inputs=[PicklePipe(1), PicklePipe(2)],
                         outputs=[PicklePipe(3), PicklePipe(4)]))
    job.put(2, 2, heads=[Head(0b1000_0000), Head(0b0000_0100)])
    assert job.get() == [4, 0]
    assert job.job.seen == [Head(0b1000_0000), Head(0b0000_0100), Head(0b1000_0100)]
    assert job.heads == [Head(0b1000_0100), Head(0b1000_0100)]   # job.head by default
    assert job(2, 1, head=0b0010_0000) == [3, 1]                 # the original's keyword
    assert job.heads == [Head(0b0010_0000), Head(0b0000_0001)]   # out_heads[1], used once
    assert job(1, 1) == [2, 0]
    assert job.heads == [Head(), Head()]                         # no head given: empty
    with pytest.raises(EmulatorError, match="heads= gave 1 head"):
        job.put(1, 1, heads=[1])


def test_a_head_window_gets_a_list_of_heads():
    job = emulate(HeadWindow(inputs=[Pipe5(1)], outputs=[PicklePipe(2)]))
    assert job((1, 2, 3, 4, 5), head=Head(0b0100_0000)) == [15]
    assert job.job.seen == [Head(0b0100_0000)] * 5
    assert job.heads == [Head(0b0100_0000)]


def test_a_head_source_sets_out_heads_and_finish_ends_it_after_the_run():
    job = emulate(MarkedSource(outputs=[PicklePipe(1)]))
    assert job() == [0] and job.heads == [Head(0b1000_0000)]
    assert job() == [1] and job.heads == [Head()]
    assert job() == [2]                   # finish(): this run's output is still sent
    assert job.heads == [Head(0b1000_0000)]
    assert job.finished
    with pytest.raises(EmulatorError, match="finished after 3 run"):
        job.get()


def test_finish_of_a_job_without_head_ends_it_after_that_run():
    job = emulate(StopAt(2, inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]))
    assert job(1) == [1]
    job.put(2)
    assert job.finished and job.job.torn_down
    assert job.get() == [2]
    assert job.heads == []                # a job without HEAD has no heads
    with pytest.raises(EmulatorError, match="has finished"):
        job.put(3)


class Last(PythonJob):
    HEAD = True

    def run(self, value):
        self.finish()
        return value


def test_finish_sets_the_finish_bit_of_the_last_blocks():
    job = emulate(Last(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]))
    assert job(9, head=0b1000_0000) == [9]
    assert job.heads[0][FINISH_BIT] and job.heads[0][0] and job.finished


def test_heads_for_a_job_without_head_are_refused():
    job = emulate(Add(inputs=[PicklePipe(1), PicklePipe(2)], outputs=[PicklePipe(3)]))
    with pytest.raises(EmulatorError, match="has no HEAD = True"):
        job.put(1, 2, head=1)


def test_a_run_that_raises_tears_the_job_down():
    job = emulate(Failing(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]))
    with pytest.raises(ValueError, match="cannot take 3"):
        job(3)
    assert job.finished and job.job.torn_down
