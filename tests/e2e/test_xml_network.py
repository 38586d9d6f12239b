"""XML_FILE under `simulate`: a program described in MARVELO's XML feeds Python jobs of JOBS.

The XML part is a plain Python program started as a DynamicMARVELOJob (it gets its output
as an inherited file descriptor, ``-o FD``) and writes 4-byte blocks; pipe 2 is one
BytesPipe, written by the XML part and read by a job of JOBS.
"""

from __future__ import annotations

import textwrap

import pytest
from simhelp import read_csv, wait_until

PROGRAM = """
    import argparse
    import os
    import struct

    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=3)
    parser.add_argument("-o", dest="outputs", action="append", type=int)
    args = parser.parse_args()
    for value in range(args.n):
        os.write(args.outputs[0], struct.pack("!I", value * 7))
    print("program done")
"""

XML = """<?xml version="1.0" ?>
<network>
  <node pi_id="127.0.0.1">
    <algorithm path="programs" executable="python3 count.py">
      <parameter param="-n 6"/>
      <output target_pi_id="127.0.0.1" pipe_id="2" block_size="4"/>
    </algorithm>
  </node>
</network>
"""

JOBS = """
    import struct
    from fission.core.jobs import CSVSinkJob, PythonJob
    from fission.core.pipes import BytesPipe, PicklePipe

    class Decode(PythonJob):
        def run(self, block):
            return struct.unpack("!I", block)[0]

    XML_FILE = "topology/net.xml"
    JOBS = [
        Decode(inputs=[BytesPipe(2, 4)], outputs=[PicklePipe(3)]),
        CSVSinkJob(path="out.csv", inputs=[PicklePipe(3)]),
    ]
"""


@pytest.mark.timeout(60)
def test_an_xml_program_feeds_the_jobs_of_jobs(sim, project):
    folder = project.network("net", JOBS)
    (folder / "topology").mkdir()
    (folder / "topology" / "net.xml").write_text(XML)
    (folder / "programs").mkdir()
    (folder / "programs" / "count.py").write_text(textwrap.dedent(PROGRAM))
    run = sim(project.root, "net")
    assert run.wait(45) == 0, run.output()
    assert read_csv(run.job_dir(2) / "out.csv") == [["pipe_3"]] + [[str(7 * i)] for i in range(6)]
    listed = (run.folder / "info.txt").read_text().splitlines()[3]
    assert listed.startswith("3\t") and "DynamicMARVELOJob" in listed, listed
    assert "program done" in run.stdout, run.output()
    wait_until(lambda: not run.members(), 5, "every job process to exit")


@pytest.mark.timeout(30)
def test_a_broken_xml_file_is_one_error_line(sim, project):
    folder = project.network("net", JOBS)
    (folder / "topology").mkdir()
    (folder / "topology" / "net.xml").write_text(XML.replace("</network>", ""))
    run = sim(project.root, "net")
    assert run.wait(20) == 1, run.output()
    assert "error: net/config.py: XML_FILE: " in run.stderr, run.output()
    assert "is not well-formed XML" in run.stderr and "Traceback" not in run.stderr
