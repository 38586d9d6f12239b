"""The dashboard in a real browser: Debian's chromium, headless, driven by Selenium.

.ci/run installs ``chromium`` and ``chromium-driver``; without them this test fails (it
does not skip): the page is only known to work once a browser has drawn it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from dashhelp import dashboard_of
from simhelp import wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,1100"]
V3_JOBS = ["SourceJob 1", "SourceJob 2", "SourceJob 3", "JoinJob 4", "ReduceJob 5",
           "CSVSinkJob 6", "CSVSinkJob 7"]


@pytest.fixture
def browser():
    """A headless chromium (no download: Debian's browser and driver), closed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        assert Path(path).exists(), (f"{path} is missing: install Debian's chromium and "
                                     "chromium-driver (.ci/run does)")
    profile = tempfile.mkdtemp(prefix="fission-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _cell(driver, job_id: int, column: int) -> str:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, f"#job-{job_id} td")
    return rows[column].text if len(rows) > column else ""


@pytest.mark.timeout(120)
def test_the_page_shows_every_job_of_v3_and_its_figures_change(sim, examples_project,
                                                               browser, tmp_path) -> None:
    run = sim(examples_project, "demo_network_v3")
    base, token = dashboard_of(lambda: run.stderr)
    browser.get(f"{base}?token={token}")
    wait_until(lambda: all(_cell(browser, job_id, 1) == name
                           for job_id, name in enumerate(V3_JOBS, 1)), 30,
               "every job of demo_network_v3 in the page's table")
    graph = browser.execute_script(
        "return cy.nodes().map(n => n.data('label').split('\\n')[0]);")
    assert set(V3_JOBS) | {"client"} == set(graph)
    edges = browser.execute_script("return cy.edges().map(e => e.data('label'));")
    assert sorted(label.split(" · ")[0] for label in edges) == [
        f"pipe {pipe}" for pipe in (101, 102, 103, 105, 201, 202, 203, 205, 301)]
    runs = int(_cell(browser, 4, 4))
    wait_until(lambda: int(_cell(browser, 4, 4) or 0) >= runs + 2, 15,
               "JoinJob's runs to grow on the page")
    assert _cell(browser, 4, 3) == "running"
    assert "live" in browser.find_element("id", "status").text
    run.interrupt()
    assert run.wait(20) == 0
