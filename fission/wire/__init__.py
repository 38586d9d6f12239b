"""The bytes of the data plane: how a block looks on a ZeroMQ socket."""
