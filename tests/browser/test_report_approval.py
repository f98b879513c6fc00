"""An analyst opens the demo pilot's report, creates and approves it, and downloads the PDF."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import login

pytestmark = pytest.mark.browser


def test_analyst_creates_approves_and_downloads_the_demo_report(page, live_server, tmp_path):
    login(page, live_server, "analyst@demo.rollwise")
    page.wait_for_url(f"{live_server}/")
    page.get_by_text("QR-code self-ordering").first.click()
    page.wait_for_url(re.compile(r".*/pilots/\d+$"))
    pilot_id = page.url.rstrip("/").split("/")[-1]
    link = page.locator(f"a[href$='/reports/pilot/{pilot_id}']")
    if link.count():
        link.first.click()
    else:  # the pilot page's link belongs to the pilots area
        page.goto(f"{live_server}/reports/pilot/{pilot_id}")
    page.wait_for_url(re.compile(rf".*/reports/pilot/{pilot_id}$"))

    with page.expect_navigation(timeout=90_000):
        page.get_by_test_id("create-report").click()
    assert re.search(r"/reports/\d+$", page.url)
    page.wait_for_selector("[data-testid=recommendation]", timeout=90_000)

    recommendation = page.get_by_test_id("recommendation").inner_text()
    assert "Roll out" in recommendation
    headline = page.locator("[data-metric=avg_wait_min]")
    assert "Average wait fell by" in headline.inner_text()
    assert headline.get_attribute("data-verdict") == "better"
    assert page.locator("img[data-chart=forest-metrics]").count() == 1
    assert page.get_by_test_id("report-status").inner_text() == "Draft"

    page.fill("textarea[name=comment]", "Checked the pre-trends and the guardrails.")
    page.click("input[name=approve]")
    page.wait_for_selector("[data-testid=approved-banner]")
    banner = page.get_by_test_id("approved-banner").inner_text()
    assert "Approved by Zhou Lei" in banner
    assert "Roll out" in banner
    assert page.get_by_test_id("report-status").inner_text() == "Approved"
    assert page.locator("input[name=approve]").count() == 0  # read-only now

    with page.expect_download(timeout=90_000) as download_info:
        # the click waits for the download to start: a loaded machine takes longer than 15 s
        page.get_by_test_id("download-pdf").click(timeout=90_000)
    path = tmp_path / "report.pdf"
    download_info.value.save_as(path)
    assert path.read_bytes().startswith(b"%PDF")
    assert download_info.value.suggested_filename.endswith(".pdf")
