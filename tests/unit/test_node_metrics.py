"""What a node reports: the batman-adv link quality parser and the metric's fields."""

from __future__ import annotations

from fission.backends.node_metrics import NodeMetrics, parse_tq

BATCTL_O = """\
[B.A.T.M.A.N. adv 2022.0, MainIF/MAC: wlan0/b8:27:eb:00:00:01 (bat0/aa:bb:cc:dd:ee:ff BATMAN_IV)]
   Originator        last-seen (#/255) Nexthop           [outgoingIF]
 * b8:27:eb:00:00:02    0.120s   (255) b8:27:eb:00:00:02 [     wlan0]
   b8:27:eb:00:00:03    0.480s   (180) b8:27:eb:00:00:02 [     wlan0]
 * b8:27:eb:00:00:03    0.360s   (201) b8:27:eb:00:00:03 [     wlan0]
"""


def test_tq_is_the_mean_of_the_best_routes() -> None:
    assert parse_tq(BATCTL_O) == 228  # (255 + 201) / 2; the second-best route is ignored


def test_tq_without_routes_is_perfect() -> None:
    assert parse_tq("") == 255


def test_the_metric_describes_the_machine() -> None:
    reading = NodeMetrics(cpus=3).read()
    assert reading["cpus"] == 3
    assert 0 <= reading["cpu"] <= 100
    assert reading["memory"] > 0 and reading["disk"] > 0
    assert 0 <= reading["swap"] <= 100
    # 255 without batman-adv, the mesh's mean TQ with it: a TQ either way.
    assert isinstance(reading["TQ"], int) and 0 <= reading["TQ"] <= 255


def test_node_timeout_must_cover_three_heartbeats_at_the_clusters_size() -> None:
    import pytest

    from fission.backends.dask_cluster import check_node_timeout, heartbeat_interval
    from fission.errors import ConfigError

    assert heartbeat_interval(1) == heartbeat_interval(100) == 0.5
    assert heartbeat_interval(400) == 2.0  # at most 200 heartbeats a second
    check_node_timeout(1.5, 50, "net/config.py")
    with pytest.raises(ConfigError, match=r"net/config.py: NODE_TIMEOUT = 1 s is shorter "
                                          r"than 3 heartbeats.*set NODE_TIMEOUT to 1.5"):
        check_node_timeout(1.0, 3, "net/config.py")
    with pytest.raises(ConfigError, match="cluster of 400 node"):
        check_node_timeout(5.0, 400, "net/config.py")
