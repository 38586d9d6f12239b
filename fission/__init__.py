"""FISSION: a dataflow network of Python jobs connected by pipes.

The user API lives in ``fission.core`` (jobs, pipes, nodes); the command line in
``fission.cli``. This package itself only carries the version.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
