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
    assert reading["TQ"] == 255  # no batman-adv on the test machine
