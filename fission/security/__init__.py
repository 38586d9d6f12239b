"""Who may connect to a run: the project's credentials, and how each connection uses them.

- :mod:`~fission.security.credentials`: the files (per project, per node) and the
  Dask TLS settings made from them;
- :mod:`~fission.security.certificates`: the project's certificate authority;
- :mod:`~fission.security.curve`: CURVE keys and the gatekeeper of every ZeroMQ
  socket a process binds.
"""
