"""A real browser for the operator page: Debian's Chromium driven by its own chromedriver.

Skipped when either binary is missing, unless SMSPROXY_REQUIRE_BROWSER=1 (CI sets it), where a
missing browser is a failure: a page test that silently skips there tests nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def _missing() -> list[str]:
    return [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]


@pytest.fixture(scope="session", name="browser")
def fixture_browser() -> Iterator[webdriver.Chrome]:
    """One headless Chromium per worker process: starting it costs about a second."""
    missing = _missing()
    if missing:
        reason = f"no browser: {', '.join(missing)} missing (apt-get install chromium " \
                 "chromium-driver)"  # fmt: skip
        if os.environ.get("SMSPROXY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"SMSPROXY_REQUIRE_BROWSER=1 and {reason}")
        pytest.skip(reason)
    # The driver is given by path, so Selenium Manager never downloads one; no usage stats.
    os.environ["SE_AVOID_STATS"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,2000"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session", name="artifacts")
def fixture_artifacts() -> Path:
    """Where screenshots go, kept after the run for a human to look at (CI lists them)."""
    path = Path(os.environ.get("SMSPROXY_ARTIFACTS") or REPO / "build" / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def wait_for(
    condition: Callable[[], T | None], *, timeout: float = 5.0, what: str = "condition"
) -> T:
    """Polls `condition` until it returns something truthy, which is returned: the page
    refreshes and the proxy flushes its counts on their own clocks, never at a fixed time."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
