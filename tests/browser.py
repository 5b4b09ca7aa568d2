"""Headless Chromium for the browser tests (the report and the playground).

One place that finds Chromium and its driver and starts it offline-minded (no
background networking, no sync, no updates), with the console and the DevTools
network log kept so that a test can read back what the page did.

Skipped only when Chromium, its driver or Selenium is missing *and* this is not
CI; in CI (``CI=true``, where ``.ci/run`` installs Chromium) a missing piece fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def need(what: str, purpose: str) -> None:
    """Skip (or, in CI, fail) because ``what`` is missing for ``purpose``."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI for {purpose}")
    pytest.skip(f"{what} not available")


def chromium(purpose: str, window: tuple[int, int]) -> Iterator[Any]:
    """Yield a headless Chromium WebDriver; quit it and remove its profile after.

    Parameters
    ----------
    purpose : str
        What the browser is for, named in the skip/fail message.
    window : tuple of int
        The window's width and height in pixels (screenshots have this size).
    """
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        need("selenium (in the test extra)", purpose)
    binary = next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
    )
    driver_path = shutil.which("chromedriver")
    if binary is None:
        need("chromium", purpose)
    if driver_path is None:
        need("chromedriver (Debian package chromium-driver)", purpose)
    profile = tempfile.mkdtemp(prefix="chainrule-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size={window[0]},{window[1]}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    # Console messages and the DevTools network log, read back after each page.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
