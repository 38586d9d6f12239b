"""Networks written against the original FISSION's API run under `simulate`.

The jobs below are written as the original's users wrote theirs: ``inputs=None`` defaults,
``LocalJob`` after ``PythonJob``, a job that sets ``self.name``, a ``PicklePipe`` whose
``pack``/``unpack`` are hooks around pickling.
"""

from __future__ import annotations

import textwrap

import pytest
from simhelp import read_csv, wait_until

OLDJOBS = '''
from fission.core.jobs import LocalJob, PythonJob
from fission.core.pipes import PicklePipe


class Count(PythonJob):
    def __init__(self, n=5, inputs=None, outputs=None):
        super().__init__(inputs=inputs, outputs=outputs)
        self.n = n

    def run(self):
        for value in range(self.n):
            yield f"  {value} "


class Tag(PythonJob):
    def __init__(self, name="", inputs=None, outputs=None):
        self.name = name
        super().__init__(inputs=inputs, outputs=outputs)

    def run(self, value):
        print(f"tagging {value!r}")
        return f"{self.name}:{value}"


class Sink(PythonJob, LocalJob):
    def __init__(self, path, inputs=None):
        self.path = path
        super().__init__(inputs=inputs)

    def setup(self, *args, **kwargs):
        self.file = open(self.path, "w")
        return super().setup(*args, **kwargs)

    def run(self, value):
        self.file.write(f"{value}\\n")
        self.file.flush()


class StripPipe(PicklePipe):
    def pack(self, value):
        return {"stripped": value.strip()}

    def unpack(self, data):
        return data["stripped"]
'''


@pytest.mark.timeout(40)
def test_a_network_in_the_original_style_runs(sim, project):
    (project.root / "oldjobs.py").write_text(textwrap.dedent(OLDJOBS))
    project.network("net", """
        from fission.core.pipes import PicklePipe
        from oldjobs import Count, Sink, StripPipe, Tag
        JOBS = [
            Count(n=5, outputs=[StripPipe(1)]),
            Tag(name="mic", inputs=[StripPipe(1)], outputs=[PicklePipe(2)]),
            Sink(path="out.txt", inputs=[PicklePipe(2)]),
        ]
    """)
    run = sim(project.root, "net")
    assert run.wait(30) == 0, run.output()
    assert (run.job_dir(3) / "out.txt").read_text().split() == [f"mic:{i}" for i in range(5)]
    assert "[Tag 2] tagging '0'" in run.stdout, run.output()
    wait_until(lambda: not run.members(), 5, "every job process to exit")


@pytest.mark.timeout(40)
def test_a_named_job_is_still_reported_by_class_and_id(sim, project):
    (project.root / "oldjobs.py").write_text(textwrap.dedent(OLDJOBS) + textwrap.dedent('''
        class Broken(PythonJob):
            def __init__(self, inputs=None, outputs=None):
                self.name = ""
                super().__init__(inputs=inputs, outputs=outputs)

            def run(self, value):
                raise ValueError("no good")
    '''))
    project.network("net", """
        from fission.core.pipes import PicklePipe
        from oldjobs import Broken, Count
        JOBS = [
            Count(n=5, outputs=[PicklePipe(1)]),
            Broken(inputs=[PicklePipe(1)]),
        ]
    """)
    run = sim(project.root, "net")
    assert run.wait(30) == 1, run.output()
    assert "error: Broken 2 failed" in run.stderr, run.output()
    assert "[Broken 2]" in run.stdout + run.stderr, run.output()


@pytest.mark.timeout(40)
def test_csv_sink_reads_what_unpack_returns(sim, project):
    (project.root / "oldjobs.py").write_text(textwrap.dedent(OLDJOBS))
    project.network("net", """
        from fission.core.jobs import CSVSinkJob
        from oldjobs import Count, StripPipe
        JOBS = [
            Count(n=3, outputs=[StripPipe(1)]),
            CSVSinkJob(path="out.csv", inputs=[StripPipe(1)]),
        ]
    """)
    run = sim(project.root, "net")
    assert run.wait(30) == 0, run.output()
    assert read_csv(run.job_dir(2) / "out.csv") == [["pipe_1"], ["0"], ["1"], ["2"]]


@pytest.mark.timeout(40)
def test_pulse_interval_gets_one_line_at_start(sim, project):
    project.network("net", """
        from fission.core.jobs import CSVSinkJob
        from fission.core.pipes import PicklePipe
        from netjobs import CountSource
        PULSE_INTERVAL = 0.5
        JOBS = [
            CountSource(n=3, outputs=[PicklePipe(1)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(1)]),
        ]
    """)
    run = sim(project.root, "net")
    assert run.wait(30) == 0, run.output()
    lines = [line for line in run.stderr.splitlines() if "PULSE_INTERVAL" in line]
    assert len(lines) == 1, run.output()
    assert lines[0].startswith("FISSION: note: PULSE_INTERVAL = 0.5") and "NODE_TIMEOUT" in lines[0]


@pytest.mark.timeout(40)
def test_a_module_in_dependencies_runs_and_an_outside_one_is_one_error_line(sim, project):
    (project.root / "helpers").mkdir()
    (project.root / "helpers" / "__init__.py").write_text("")
    (project.root / "helpers" / "scale.py").write_text("FACTOR = 3\n")
    (project.root / "usejobs.py").write_text(textwrap.dedent('''
        import json
        from fission.core.jobs import PythonJob
        import helpers.scale as scale

        class Scale(PythonJob):
            DEPENDENCIES = [scale]
            def run(self, value):
                return value * scale.FACTOR

        class Outside(Scale):
            DEPENDENCIES = [scale, json]
    '''))
    config = """
        from fission.core.jobs import CSVSinkJob
        from fission.core.pipes import PicklePipe
        from netjobs import CountSource
        from usejobs import {job}
        JOBS = [
            CountSource(n=4, outputs=[PicklePipe(1)]),
            {job}(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
            CSVSinkJob(path="out.csv", inputs=[PicklePipe(2)]),
        ]
    """
    project.network("net", config.format(job="Scale"))
    run = sim(project.root, "net")
    assert run.wait(30) == 0, run.output()
    assert read_csv(run.job_dir(3) / "out.csv")[1:] == [["0"], ["3"], ["6"], ["9"]]

    project.network("bad", config.format(job="Outside"))
    refused = sim(project.root, "bad")
    assert refused.wait(30) == 1, refused.output()
    assert "error: bad/config.py: Outside 2: DEPENDENCIES lists the module json" in refused.stderr
    assert "Traceback" not in refused.stderr
