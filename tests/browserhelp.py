"""A headless chromium for the dashboard's browser tests: Debian's browser and driver.

.ci/run installs ``chromium`` and ``chromium-driver``; without them the tests fail (they
do not skip): the page is only known to work once a browser has drawn it.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,1100"]


@contextlib.contextmanager
def chromium() -> Iterator:
    """A Selenium driver of a fresh headless chromium profile, quit afterwards."""
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


def cell(driver, job_id: int, column: int) -> str:
    """One cell of the jobs table, read in one script (the page redraws it every second)."""
    cells = driver.execute_script(
        f"return Array.from(document.querySelectorAll('#job-{job_id} td'), td => td.textContent);")
    return cells[column] if len(cells) > column else ""


def graph_parent(driver, job_id: int) -> str | None:
    """The machine a job sits in on the page's graph."""
    return driver.execute_script(
        f"const n = cy.getElementById('j{job_id}'); return n.length ? n.data('parent') : null;")
