"""The user API: jobs, pipes and nodes, importable under the tutorial's paths.

``from fission.core.jobs import PythonJob``, ``from fission.core.pipes import PicklePipe``
and ``from fission.core.nodes import BaseNode`` are the names users write in their
networks; everything here is plain data until a backend runs it.
"""
