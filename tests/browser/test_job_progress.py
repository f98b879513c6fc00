"""An analyst starts a report snapshot that runs as a background job (on a thread, as in
production without Redis): the progress bar fills to 100 % and the report appears in place,
without the page reloading."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import login, serve

pytestmark = pytest.mark.browser

#: Notes every value the progress bar shows (before the page's own script polls).
WATCH_THE_BAR = """() => {
  window.__notReloaded = true;
  window.__percents = [];
  const note = () => document.querySelectorAll("[data-testid=job-progress] [role=progressbar]")
    .forEach((bar) => window.__percents.push(Number(bar.getAttribute("aria-valuenow"))));
  note();
  new MutationObserver(note).observe(document.body,
    {subtree: true, childList: true, attributes: true, attributeFilter: ["aria-valuenow"]});
}"""


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    yield from serve(tmp_path_factory, JOB_RUNNER="thread")


def test_a_snapshot_job_fills_the_bar_and_shows_the_report_without_a_reload(page, live_server):
    login(page, live_server, "analyst@demo.rollwise")
    page.wait_for_url(f"{live_server}/")
    page.get_by_text("QR-code self-ordering").first.click()
    page.wait_for_url(re.compile(r".*/pilots/\d+$"))
    pilot_id = page.url.rstrip("/").split("/")[-1]
    page.goto(f"{live_server}/reports/pilot/{pilot_id}")

    with page.expect_navigation():
        page.get_by_test_id("create-report").click()
    assert re.search(r"/reports/\d+$", page.url)
    report_url = page.url
    page.evaluate(WATCH_THE_BAR)
    # the page shows the job (the thread may still be loading the data)
    assert page.get_by_test_id("report-status").inner_text() == "Computing"

    page.wait_for_selector("[data-testid=recommendation]", timeout=120_000)
    assert page.evaluate("window.__notReloaded") is True  # the same page, not a reload
    assert page.url == report_url
    percents = page.evaluate("window.__percents")
    assert percents and percents[-1] == 100, percents
    assert percents == sorted(percents), percents
    assert page.get_by_test_id("job-progress").count() == 0  # the report took its place
    assert page.get_by_test_id("report-status").inner_text() == "Draft"
    assert "Roll out" in page.get_by_test_id("recommendation").inner_text()
    # the exports of the fresh report work: the PDF is made in a job, then downloaded
    with page.expect_download(timeout=120_000) as download:
        page.get_by_test_id("download-pdf").click()
    assert download.value.suggested_filename.endswith(".pdf")


def test_power_is_simulated_in_a_job_and_appears_on_the_review_without_a_reload(
    page, live_server, monkeypatch
):
    import threading

    from app.pilots import power_jobs

    gate, simulate = threading.Event(), power_jobs.design_power

    def held(*args, **kwargs):  # the job waits until the test has seen its progress bar
        gate.wait(60)
        return simulate(*args, **kwargs)

    monkeypatch.setattr(power_jobs, "design_power", held)
    login(page, live_server, "lead@demo.rollwise")
    page.wait_for_url(f"{live_server}/")
    page.get_by_text("QR-code self-ordering").first.click()
    page.wait_for_url(re.compile(r".*/pilots/\d+$"))
    pilot_id = page.url.rstrip("/").split("/")[-1]
    review = f"{live_server}/pilots/{pilot_id}/wizard/5"
    try:
        page.goto(review)
        page.evaluate(WATCH_THE_BAR)
        assert page.get_by_test_id("job-progress").is_visible()
        assert page.get_by_test_id("power").count() == 0
    finally:
        gate.set()
    page.wait_for_selector("[data-testid=power]", timeout=120_000)
    assert page.evaluate("window.__notReloaded") is True  # swapped in, not reloaded
    assert page.url == review
    percents = page.evaluate("window.__percents")
    assert percents and percents[-1] == 100, percents
    assert page.get_by_test_id("job-progress").count() == 0
    assert "Smallest effect detected" in page.get_by_test_id("power").inner_text()
    # the next view reuses the finished simulation: the result is there at once
    page.goto(review)
    assert page.get_by_test_id("job-progress").count() == 0
    assert page.get_by_test_id("power").is_visible()
