"""Nothing is shared between networks of the failover project; FISSION ships this folder."""
