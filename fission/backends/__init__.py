"""Backends: what turns a validated network into running job processes.

``simulate`` runs every job on this machine. Backends start the job runtime as a
separate program (``python -m fission.runtime.entry``), never by importing it, so a
job that crashes or hangs cannot take the backend down.
"""
