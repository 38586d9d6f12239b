"""OptionalInput: what an optional pipe hands to each run."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fission.core.base import reset
from fission.core.pipes import OptionalPicklePipe
from fission.runtime.optional import OptionalInput


def optional(store: bool = False, size: int = 0, mode: str = "oldest",
             default: str = "d") -> OptionalInput:
    reset()
    cls = type("Opt", (OptionalPicklePipe,), {
        "OPTIONAL_DEFAULT": default, "OPTIONAL_STORE": store,
        "OPTIONAL_BUFFER_SIZE": size, "OPTIONAL_DELETE_MODE": mode,
    })
    return OptionalInput(cls(1))


@pytest.mark.parametrize("store", [True, False])
def test_the_default_comes_before_any_value(store):
    policy = optional(store=store, default="+")
    assert [policy.take() for _ in range(3)] == ["+", "+", "+"]


def test_store_keeps_handing_out_the_last_value():
    policy = optional(store=True, default="+")
    policy.offer("*")
    assert [policy.take() for _ in range(3)] == ["*", "*", "*"]
    policy.offer("-")
    policy.offer("/")
    assert [policy.take() for _ in range(3)] == ["-", "/", "/"]


def test_without_store_each_value_reaches_exactly_one_run():
    policy = optional(store=False, default="d")
    policy.offer("a")
    assert [policy.take() for _ in range(2)] == ["a", "d"]
    policy.offer("b")
    policy.offer("c")
    assert [policy.take() for _ in range(3)] == ["b", "c", "d"]


def test_a_full_buffer_drops_the_oldest():
    policy = optional(size=2, mode="oldest")
    for value in (1, 2, 3, 4):
        policy.offer(value)
    assert policy.dropped == 2
    assert [policy.take() for _ in range(3)] == [3, 4, "d"]


def test_a_full_buffer_drops_the_newest():
    policy = optional(size=2, mode="newest")
    for value in (1, 2, 3, 4):
        policy.offer(value)
    assert policy.dropped == 2
    assert [policy.take() for _ in range(3)] == [1, 2, "d"]


def test_buffer_size_0_is_unbounded():
    policy = optional(size=0)
    for value in range(1000):
        policy.offer(value)
    assert policy.dropped == 0
    assert [policy.take() for _ in range(1000)] == list(range(1000))


OPS = st.lists(st.one_of(st.integers(0, 99), st.none()), max_size=40)  # None: a run takes


@given(st.booleans(), st.integers(0, 4), st.sampled_from(["oldest", "newest"]), OPS)
def test_matches_the_documented_policy(store, size, mode, ops):
    policy = optional(store=store, size=size, mode=mode)
    waiting: deque = deque()
    current, dropped = "d", 0
    for op in ops:
        if op is None:
            if waiting:
                expected = waiting.popleft()
                current = expected if store else current
            else:
                expected = current if store else "d"
            assert policy.take() == expected
        else:
            policy.offer(op)
            if size and len(waiting) >= size:
                dropped += 1
                if mode == "newest":
                    continue
                waiting.popleft()
            waiting.append(op)
    assert policy.dropped == dropped
