"""The dashboard in a real browser: Debian's chromium, headless, driven by Selenium
(see browserhelp.py: without chromium the test fails, it does not skip)."""

from __future__ import annotations

import re

import pytest
from browserhelp import cell, chromium
from dashhelp import dashboard_of
from simhelp import wait_until

#: The HWM of the narrow pipe of the jammed network below.
NARROW_HWM = 8
V3_JOBS = ["SourceJob 1", "SourceJob 2", "SourceJob 3", "JoinJob 4", "ReduceJob 5",
           "CSVSinkJob 6", "CSVSinkJob 7"]


@pytest.fixture
def browser():
    with chromium() as driver:
        yield driver


@pytest.mark.timeout(120)
def test_the_page_shows_every_job_of_v3_and_its_figures_change(sim, examples_project,
                                                               browser, tmp_path) -> None:
    run = sim(examples_project, "demo_network_v3")
    base, token = dashboard_of(lambda: run.stderr)
    browser.get(f"{base}?token={token}")
    wait_until(lambda: all(cell(browser, job_id, 1) == name
                           for job_id, name in enumerate(V3_JOBS, 1)), 30,
               "every job of demo_network_v3 in the page's table")
    graph = browser.execute_script(
        "return cy.nodes().map(n => n.data('label').split('\\n')[0]);")
    assert set(V3_JOBS) | {"client"} == set(graph)
    edges = browser.execute_script("return cy.edges().map(e => e.data('label'));")
    assert sorted(label.split(" · ")[0] for label in edges) == [
        f"pipe {pipe}" for pipe in (101, 102, 103, 105, 201, 202, 203, 205, 301)]
    runs = int(cell(browser, 4, 4))
    wait_until(lambda: int(cell(browser, 4, 4) or 0) >= runs + 2, 15,
               "JoinJob's runs to grow on the page")
    assert cell(browser, 4, 3) == "running"
    assert "live" in browser.find_element("id", "status").text
    # The timeline of events, and the last lines each job printed.
    assert "job_started job=4" in browser.find_element("id", "events").text
    wait_until(lambda: "[SourceJob 1]\n" in browser.find_element("id", "lines").text, 10,
               "the sources' printed lines on the page")
    printed = browser.find_element("id", "lines").text.split("[SourceJob 1]\n")[1]
    assert "->" in printed.split("\n")[0]
    run.interrupt()
    assert run.wait(20) == 0


@pytest.mark.timeout(120)
def test_an_input_that_backs_up_is_red_in_the_graph_with_its_rate(sim, project,
                                                                  browser) -> None:
    project.network("jam", f"NARROW_HWM = {NARROW_HWM}\n", """
        from fission.core.pipes import PicklePipe
        from netjobs import CountSource, SlowCounter


        class Narrow(PicklePipe):
            HWM = REPLAY_COUNT = NARROW_HWM


        JOBS = [
            CountSource(outputs=[Narrow(1)]),
            SlowCounter(sleep=0.1, inputs=[Narrow(1)]),
        ]
    """)
    run = sim(project.root, "jam")
    base, token = dashboard_of(lambda: run.stderr)
    browser.get(f"{base}?token={token}")

    def edge() -> tuple[str, bool]:
        return tuple(browser.execute_script(
            "const e = cy.getElementById('p1'); return [e.data('label'), e.hasClass('backing')];"))

    wait_until(lambda: edge()[1] and re.fullmatch(r"pipe 1 · [1-9][\d.]*/s · \d+ waiting",
                                                  edge()[0]), 30,
               "pipe 1 backing up, red, with its rate, in the page's graph")
    waiting = int(edge()[0].rsplit(" · ", 1)[1].split()[0])
    assert waiting >= NARROW_HWM
    run.interrupt()
    assert run.wait(20) == 0
