"""The job runtime: what runs inside every job process, whichever backend started it.

It receives blocks on the job's input pipes, aligns them by sequence number, calls
the job's ``run`` and sends the result on its output pipes, while a control channel
lets the backend stop it or close an output whose consumer has finished. It never
imports a backend: a backend starts ``python -m fission.runtime.entry`` and hands it
a :class:`~fission.runtime.spec.JobSpec`.
"""
