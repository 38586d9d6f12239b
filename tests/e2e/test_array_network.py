"""ArrayPipe end to end: arrays of several dtypes and shapes through a simulated network."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

ARRAY_JOBS = '''
import numpy as np

from fission.core.jobs import PythonJob


def arrays():
    """What the source sends: dtypes, shapes, a transposed and a strided view."""
    grid = np.arange(24, dtype=np.float32).reshape(4, 6)
    return [grid, grid.T, grid[::2, ::3], np.arange(5, dtype=">i4"), np.array(3.5),
            np.zeros((0, 2)), np.array([1 + 2j, 3j]), np.arange(2 * 3 * 4).reshape(2, 3, 4)]


class Arrays(PythonJob):
    def run(self):
        yield from arrays()


class Twice(PythonJob):
    def run(self, array):
        return array * 2


class Keep(PythonJob):
    def setup(self):
        self.seen = 0

    def run(self, array):
        np.save(f"{self.seen}.npy", array)
        self.seen += 1
'''


@pytest.mark.timeout(60)
def test_arrays_cross_a_network_as_they_left(sim, project):
    (project.root / "arrayjobs.py").write_text(ARRAY_JOBS)
    project.network("anet", """
        from arrayjobs import Arrays, Keep, Twice
        from fission.core.pipes import ArrayPipe
        JOBS = [
            Arrays(outputs=[ArrayPipe(1)]),
            Twice(inputs=[ArrayPipe(1)], outputs=[ArrayPipe(2)]),
            Keep(inputs=[ArrayPipe(2)]),
        ]
    """)
    run = sim(project.root, "anet")
    assert run.wait(40) == 0, run.output()
    spec = importlib.util.spec_from_file_location("arrayjobs", project.root / "arrayjobs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sent = module.arrays()
    for index, array in enumerate(sent):
        got = np.load(run.job_dir(3) / f"{index}.npy")
        assert got.dtype == (array * 2).dtype and got.shape == array.shape, index
        np.testing.assert_array_equal(got, array * 2)
    assert not (run.job_dir(3) / f"{len(sent)}.npy").exists()
