"""The failover benchmark's network: Counter -> Forward -> ArrivalSink, 200 blocks/s."""
