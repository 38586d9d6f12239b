"""The benchmark chain: Source -> Forward -> Sink, the FISSION twin of raw_chain.py."""
