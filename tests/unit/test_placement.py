"""Placement policy: DEFAULT_NODE, GROUPS, preference, score and capacity, no cluster."""

from __future__ import annotations

from typing import ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fission.core.jobs import LocalJob, PythonJob
from fission.core.nodes import BaseNode, LocalNode, MultiNode, NodeInfo
from fission.errors import AllocationError, FissionError
from fission.placement import NodeView, choose, place_all, replace, score


class Work(PythonJob):
    def run(self):
        return None


class Pinned(Work):
    DEFAULT_NODE = "10.0.0.2"


class OnlyThere(Work):
    GROUPS: ClassVar = []
    DEFAULT_NODE = "10.0.0.9"


class MicJob(Work):
    GROUPS: ClassVar = ["HAS_MIC", "ALL"]


class Sink(LocalJob):
    def run(self):
        return None


class MicNode(BaseNode):
    GROUPS: ClassVar = ("HAS_MIC",)


class MicLab(MultiNode):
    GROUPS: ClassVar = ("HAS_MIC",)


class PrefersMemory(Work):
    def preference(self, nodes):
        return max(nodes, key=lambda info: info.memory)


class NoOpinion(Work):
    def preference(self, nodes):
        self.offered = sorted(info.ip for info in nodes)
        return None


class ByIp(Work):
    """Returns a fresh NodeInfo rather than one it was given: matched by ip."""

    def preference(self, nodes):
        return NodeInfo(node=BaseNode("10.0.0.3"), ip="10.0.0.3")


class Garbage(Work):
    def preference(self, nodes):
        return "10.0.0.1"


class Broken(Work):
    def preference(self, nodes):
        raise KeyError("gpu")


def numbered(*jobs):
    """Number the jobs the way a config is numbered, 1, 2, 3, ... (placement never looks
    at pipes, so these jobs have none, which Network.from_jobs would refuse)."""
    for index, job in enumerate(jobs):
        job.id = index + 1
    return jobs


def view(ip: str, cpus: int = 2, *, node: BaseNode | None = None, **fields) -> NodeView:
    return NodeView(address=f"tcp://{ip}:9000", ip=ip, node=node or BaseNode(ip, cpus),
                    cpus=cpus, **fields)


def client(cpus: int = 1, jobs: int = 0) -> NodeView:
    return NodeView(address="local", ip="127.0.0.1", node=LocalNode(), cpus=cpus, jobs=jobs,
                    local=True)


def up(entries: list[BaseNode], ip: str, cpus: int = 2, **fields) -> NodeView:
    """A node that came up at ``ip``, bound to the first NODES entry it matches."""
    entry = next(node for node in entries if node.matches(ip))
    return view(ip, cpus, node=entry, **fields)


# -- NodeView --------------------------------------------------------------------------


def test_node_view_slots_copies_and_info():
    node = view("10.0.0.1", cpus=2, cpu=55.0, memory=7, disk=8, swap=3.0, TQ=200)
    assert (node.free_slots, node.full) == (2, False)
    busier = node.with_job().with_job()
    assert (busier.jobs, busier.free_slots, busier.full) == (2, 0, True)
    assert node.jobs == 0, "with_job must not modify the original"
    assert view("10.0.0.1", cpus=1, jobs=3).free_slots == 0
    assert node.info() == NodeInfo(node=node.node, ip="10.0.0.1", cpu=55.0, memory=7, disk=8,
                                   swap=3.0, TQ=200)


def test_allocation_error_is_a_fission_runtime_error():
    assert issubclass(AllocationError, FissionError)
    assert issubclass(AllocationError, RuntimeError)


# -- score -----------------------------------------------------------------------------


def test_score_follows_the_documented_formula():
    node = view("10.0.0.1", cpus=4, jobs=1, cpu=50.0, TQ=255, swap=20.0)
    assert score(node) == pytest.approx(40 * 3 / 4 + 30 * 0.5 + 20 * 1 + 10 * 0.8)
    assert score(view("10.0.0.1", cpus=2)) == pytest.approx(100)
    assert score(view("10.0.0.1", cpus=0, cpu=0.0, TQ=0, swap=100.0)) == 0


@pytest.mark.parametrize("better, worse", [
    ({"cpu": 90.0}, {"cpu": 20.0}),
    ({"jobs": 0}, {"jobs": 3}),
    ({"TQ": 250}, {"TQ": 90}),
    ({"swap": 0.0}, {"swap": 60.0}),
], ids=["free-cpu", "free-slots", "higher-TQ", "lower-swap"])
def test_score_prefers_free_cpu_free_slots_higher_tq_and_lower_swap(better, worse):
    good = view("10.0.0.9", cpus=4, **better)
    bad = view("10.0.0.1", cpus=4, **worse)
    assert score(good) > score(bad)
    (job,) = numbered(Work())
    assert choose(job, [bad, good]) is good
    assert choose(job, [good, bad]) is good


def test_ties_go_to_the_smaller_address_whatever_the_order():
    (job,) = numbered(Work())
    a, b = view("10.0.0.1"), view("10.0.0.2")
    assert choose(job, [b, a]) is a
    assert choose(job, [a, b]) is a


# -- DEFAULT_NODE ----------------------------------------------------------------------


def test_default_node_comes_first_even_when_another_scores_better():
    (job,) = numbered(Pinned())
    better = view("10.0.0.1", cpu=100.0)
    pinned = view("10.0.0.2", cpu=5.0, swap=90.0)
    assert score(better) > score(pinned)
    assert choose(job, [better, pinned]) is pinned


def test_a_full_default_node_falls_back_to_the_groups():
    (job,) = numbered(Pinned())
    other = view("10.0.0.1")
    assert choose(job, [other, view("10.0.0.2", cpus=1, jobs=1)]) is other


def test_a_default_node_that_is_down_falls_back_to_the_groups():
    (job,) = numbered(Pinned())
    other = view("10.0.0.3", cpus=1)
    assert choose(job, [other]) is other


def test_empty_groups_with_default_node_means_that_node_or_nothing():
    (job,) = numbered(OnlyThere())
    there = view("10.0.0.9", node=MicNode("10.0.0.9"))
    assert choose(job, [view("10.0.0.1"), there]) is there
    with pytest.raises(AllocationError, match=r"OnlyThere 1.*DEFAULT_NODE 10\.0\.0\.9 is not up"):
        choose(job, [view("10.0.0.1", cpus=8)])
    with pytest.raises(AllocationError, match=r"10\.0\.0\.9 is full.*GROUPS is empty"):
        choose(job, [view("10.0.0.1"), view("10.0.0.9", cpus=1, jobs=1)])


# -- GROUPS ----------------------------------------------------------------------------


def test_groups_are_tried_in_order():
    (job,) = numbered(MicJob())
    mic = view("10.0.0.5", cpu=10.0, node=MicNode("10.0.0.5"))
    plain = view("10.0.0.1", cpu=100.0)
    assert score(plain) > score(mic)
    assert choose(job, [plain, mic]) is mic


def test_falls_back_to_all_when_no_mic_node_has_room():
    (job,) = numbered(MicJob())
    mic = view("10.0.0.5", cpus=1, jobs=1, node=MicNode("10.0.0.5"))
    plain = view("10.0.0.1")
    assert choose(job, [mic, plain]) is plain


def test_an_ordinary_job_never_runs_on_a_node_outside_its_groups():
    (job,) = numbered(Work())
    with pytest.raises(AllocationError, match=r"Work 1.*GROUPS \(ALL\)"):
        choose(job, [view("10.0.0.5", cpus=8, node=MicNode("10.0.0.5"))])


def test_a_multinode_admits_every_matching_address():
    lab = MicLab("127.0.0.*")
    entries = [lab, BaseNode("10.0.0.1")]
    nodes = [up(entries, "10.0.0.1", cpus=4), up(entries, "127.0.0.5", cpus=1),
             up(entries, "127.0.0.7", cpus=1)]
    assert [node.node for node in nodes] == [entries[1], lab, lab]
    jobs = numbered(MicJob(), MicJob(), MicJob())
    placed = place_all(jobs, nodes)
    assert placed == {1: "tcp://127.0.0.5:9000", 2: "tcp://127.0.0.7:9000",
                      3: "tcp://10.0.0.1:9000"}


# -- preference ------------------------------------------------------------------------


def test_preference_picks_the_node():
    (job,) = numbered(PrefersMemory())
    small = view("10.0.0.1", memory=1 << 20, cpu=100.0)
    big = view("10.0.0.2", memory=1 << 30, cpu=5.0)
    assert score(small) > score(big)
    assert choose(job, [small, big]) is big


def test_preference_matches_a_returned_node_info_by_ip():
    (job,) = numbered(ByIp())
    wanted = view("10.0.0.3", cpu=1.0)
    assert choose(job, [view("10.0.0.1"), wanted]) is wanted


def test_preference_sees_only_eligible_nodes_and_none_falls_back_to_the_score():
    (job,) = numbered(NoOpinion())
    best = view("10.0.0.2", cpu=90.0)
    nodes = [view("10.0.0.1", cpu=10.0), best, view("10.0.0.3", cpus=1, jobs=1),
             view("10.0.0.4", node=MicNode("10.0.0.4")), client()]
    assert choose(job, nodes) is best
    assert job.offered == ["10.0.0.1", "10.0.0.2"]


def test_preference_returning_garbage_is_an_allocation_error():
    (job,) = numbered(Garbage())
    with pytest.raises(AllocationError, match=r"Garbage 1\.preference.*'10\.0\.0\.1'"):
        choose(job, [view("10.0.0.1")])


def test_preference_returning_a_node_it_was_not_offered_is_an_allocation_error():
    (job,) = numbered(ByIp())
    with pytest.raises(AllocationError, match=r"ByIp 1\.preference.*not one of the nodes"):
        choose(job, [view("10.0.0.1"), view("10.0.0.3", cpus=1, jobs=1)])


def test_preference_raising_is_an_allocation_error_chained_to_the_cause():
    (job,) = numbered(Broken())
    with pytest.raises(AllocationError, match=r"Broken 1\.preference.*KeyError.*gpu") as caught:
        choose(job, [view("10.0.0.1")])
    assert isinstance(caught.value.__cause__, KeyError)


# -- LOCAL -----------------------------------------------------------------------------


def test_local_jobs_go_to_the_client_even_when_it_is_full():
    (job,) = numbered(Sink())
    me = client(cpus=1, jobs=5)
    assert choose(job, [view("10.0.0.1", cpus=8), me]) is me


def test_a_local_job_without_the_client_is_an_allocation_error():
    (job,) = numbered(Sink())
    with pytest.raises(AllocationError, match=r"Sink 1 must run on the client"):
        choose(job, [view("10.0.0.1", cpus=8)])


def test_ordinary_jobs_never_go_to_the_client():
    (job,) = numbered(Work())
    with pytest.raises(AllocationError, match=r"Work 1.*none besides the client"):
        choose(job, [client(cpus=8)])


# -- place_all and replace -------------------------------------------------------------


def test_place_all_respects_capacity_and_spreads_jobs():
    jobs = numbered(*(Work() for _ in range(4)))
    a, b = view("10.0.0.1", cpus=2), view("10.0.0.2", cpus=2)
    placed = place_all(jobs, [a, b])
    assert sorted(placed) == [1, 2, 3, 4]
    assert sorted(placed.values()) == [a.address] * 2 + [b.address] * 2
    assert (a.jobs, b.jobs) == (0, 0), "place_all must not modify the caller's views"


def test_place_all_raises_on_the_first_job_that_does_not_fit():
    jobs = numbered(*(Work() for _ in range(5)))
    with pytest.raises(AllocationError, match=r"^Work 5 cannot be placed"):
        place_all(jobs, [view("10.0.0.1", cpus=2), view("10.0.0.2", cpus=2)])


def test_place_all_places_pinned_jobs_before_the_others():
    jobs = numbered(Work(), Work(), Pinned())
    roomy = view("10.0.0.1", cpus=2, cpu=20.0)
    pinned = view("10.0.0.2", cpus=1, cpu=100.0)
    assert choose(jobs[0], [roomy, pinned]) is pinned, "an unpinned job alone would take it"
    assert place_all(jobs, [roomy, pinned]) == {
        1: roomy.address, 2: roomy.address, 3: pinned.address}


def test_place_all_puts_local_jobs_on_the_client():
    jobs = numbered(Work(), Sink(), Sink())
    assert place_all(jobs, [view("10.0.0.1", cpus=1), client(cpus=1)]) == {
        1: "tcp://10.0.0.1:9000", 2: "local", 3: "local"}


def test_place_all_needs_numbered_jobs():
    with pytest.raises(ValueError, match="no id"):
        place_all([Work()], [view("10.0.0.1")])


def test_replace_uses_only_the_free_slots_of_the_nodes_still_up():
    jobs = numbered(Work(), Pinned(), Work())
    busy = view("10.0.0.1", cpus=4, jobs=3)
    spare = view("10.0.0.3", cpus=2, jobs=0, cpu=10.0)
    # Job 2 was pinned to 10.0.0.2, which failed: it falls back to its groups.
    placed = replace(jobs[1:], [busy, spare])
    assert placed == {2: spare.address, 3: busy.address}
    with pytest.raises(AllocationError, match=r"Work 3 cannot be placed"):
        replace(jobs[1:], [view("10.0.0.1", cpus=4, jobs=3), view("10.0.0.3", cpus=1, jobs=1)])


def test_the_allocation_error_says_what_was_tried_and_what_is_up():
    (job,) = numbered(type("Picky", (MicJob,), {"DEFAULT_NODE": "10.0.0.8"})())
    with pytest.raises(AllocationError) as caught:
        choose(job, [view("10.0.0.1", cpus=2, jobs=2), view("10.0.0.5", cpus=1, jobs=1,
                                                            node=MicNode("10.0.0.5"))])
    message = str(caught.value)
    assert message.startswith("Picky 1 cannot be placed")
    assert "DEFAULT_NODE 10.0.0.8 is not up" in message
    assert "GROUPS (HAS_MIC, ALL)" in message
    assert "10.0.0.1 [ALL] 0 of 2 slots free" in message
    assert "10.0.0.5 [HAS_MIC] 0 of 1 slots free" in message
    assert "Picky.GROUPS" in message
    assert caught.value.job == 1


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    nodes=st.lists(
        st.tuples(st.integers(1, 4), st.integers(0, 4), st.floats(0, 100), st.integers(0, 255),
                  st.floats(0, 100)),
        min_size=1, max_size=6),
    data=st.data(),
)
def test_place_all_fills_free_slots_and_never_more(nodes, data):
    views = [view(f"10.0.0.{i}", cpus=cpus, jobs=min(busy, cpus), cpu=cpu, TQ=tq, swap=swap)
             for i, (cpus, busy, cpu, tq, swap) in enumerate(nodes, start=1)]
    free = sum(node.free_slots for node in views)
    count = data.draw(st.integers(1, free + 1), label="jobs")
    jobs = numbered(*(Work() for _ in range(count)))
    if count > free:
        with pytest.raises(AllocationError):
            place_all(jobs, views)
        return
    placed = place_all(jobs, views)
    assert sorted(placed) == list(range(1, count + 1))
    for node in views:
        assert node.jobs + list(placed.values()).count(node.address) <= node.cpus
