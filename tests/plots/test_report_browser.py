"""The report in a real browser: headless Chromium renders it offline, cleanly.

Checks what a person opening the file would see go wrong: an image that does
not render (``naturalWidth == 0``), an error in the console, or a request to
the network.  A screenshot goes to ``test-artifacts/report.png``.

Skipped only when Chromium, its driver or Selenium is missing *and* this is not
CI; in CI (``CI=true``, where ``.ci/run`` installs Chromium) it must run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from browser import chromium

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@dataclass
class Page:
    """What the browser saw when loading one page."""

    image_widths: list[int] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def network_requests(self) -> list[str]:
        """Requests other than the file itself and inline ``data:`` images."""
        return [u for u in self.requests if not u.startswith(("file:", "data:"))]


@pytest.fixture(scope="module")
def browser():
    yield from chromium("the report's browser test", (1280, 900))


def _load(driver, path: Path) -> Page:
    driver.get_log("browser")  # drop what earlier pages left
    driver.get_log("performance")
    driver.get(path.resolve().as_uri())
    # Wait until every <img> has finished decoding (or failed).
    driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        Promise.all(Array.from(document.images).map(
            img => img.decode().catch(() => null))).then(() => done(true));
    """)
    page = Page()
    page.image_widths = driver.execute_script(
        "return Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)"
    )
    page.console_errors = [
        e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")
    ]
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            page.requests.append(msg["params"]["request"]["url"])
    return page


def test_checker_catches_broken_images_errors_and_requests(browser, tmp_path):
    """The checks below can fail: a page with each fault is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><body><img src='missing.png'>"
        "<img src='http://127.0.0.1:9/x.png'>"
        "<script>console.error('boom')</script></body></html>"
    )
    page = _load(browser, bad)
    assert page.image_widths == [0, 0]
    assert any("boom" in m for m in page.console_errors)
    assert "http://127.0.0.1:9/x.png" in page.network_requests


def test_report_renders_offline_in_chromium(browser, tmp_path):
    pytest.importorskip("matplotlib")
    from plot_fixtures import digits_report

    report = tmp_path / "report.html"
    report.write_text(digits_report(), encoding="utf-8")
    page = _load(browser, report)
    assert len(page.image_widths) == 6
    assert all(w > 0 for w in page.image_widths), page.image_widths
    assert page.console_errors == []
    assert page.network_requests == []
    assert page.requests and page.requests[0].startswith("file:")  # the log was read

    ARTIFACTS.mkdir(exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(int(height) + 40, 12000))
    assert browser.save_screenshot(str(ARTIFACTS / "report.png"))
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
