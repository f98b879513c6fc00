"""The main pages run under the strict Content-Security-Policy without a single violation:
the pilot page with its inline charts, a report (computed while the page follows its
progress), a retro day, and the public feedback form on a phone. The behaviours moved out of
the pages into static/js/rollwise.js still work (a confirmation, a select that sends its
form)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.core.charts import PILOT_COLOUR
from app.demo.seed import default_last_day
from tests.browser.conftest import PHONE, login

pytestmark = pytest.mark.browser

#: Collects every violation the page reports (an init script is not subject to the policy).
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI + " " + (e.sourceFile || ""));
});
"""


def watched(page) -> list[str]:
    """Console messages about the policy; the page's own list is read by :func:`violations`."""
    messages: list[str] = []
    page.add_init_script(WATCH)
    page.on(
        "console",
        lambda m: messages.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return messages


def violations(page, console: list[str]) -> list[str]:
    return [*page.evaluate("window.__csp || []"), *console]


def test_main_pages_load_with_no_policy_violation(page, live_server):
    console = watched(page)
    login(page, live_server, "lead@demo.rollwise")
    page.wait_for_url(f"{live_server}/")
    page.get_by_test_id("pilot-table").get_by_role("link", name="QR-code self-ordering").click()
    page.wait_for_url(re.compile(r".*/pilots/\d+$"))
    pilot_id = page.url.rstrip("/").rsplit("/", 1)[1]
    chart_line = page.locator(f"svg.rw-chart path[stroke='{PILOT_COLOUR}']").first
    chart_line.wait_for()
    stroke = chart_line.evaluate("e => getComputedStyle(e).stroke")
    assert stroke == "rgb(13, 110, 253)"  # the chart's colours survive without inline CSS
    assert violations(page, console) == []

    # a select that sends its form, now from rollwise.js
    select = page.locator("select[data-autosubmit]")
    if select.count():
        option = select.locator("option:not([selected])").first.get_attribute("value")
        with page.expect_navigation():
            select.select_option(option)
        assert f"metric={option}" in page.url

    page.goto(f"{live_server}/retros/pilot/{pilot_id}/day/{default_last_day() - timedelta(days=1)}")
    page.get_by_test_id("brief-metrics").wait_for()
    assert violations(page, console) == []

    # a confirmation the person declines keeps them on the page
    page.goto(f"{live_server}/feedback/pilots/{pilot_id}")
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.locator("form[data-confirm] button").first.click()
    page.wait_for_timeout(300)
    assert asked and "Continue?" in asked[0]
    assert page.url == f"{live_server}/feedback/pilots/{pilot_id}"
    assert violations(page, console) == []


def test_report_and_public_form_load_with_no_policy_violation(browser, page, live_server):
    console = watched(page)
    login(page, live_server, "analyst@demo.rollwise")
    page.wait_for_url(f"{live_server}/")
    page.get_by_text("QR-code self-ordering").first.click()
    page.wait_for_url(re.compile(r".*/pilots/\d+$"))
    pilot_id = page.url.rstrip("/").rsplit("/", 1)[1]
    page.goto(f"{live_server}/reports/pilot/{pilot_id}")
    with page.expect_navigation(timeout=90_000):
        page.get_by_test_id("create-report").click()
    # the progress is followed by rollwise.js, which reloads the page when it is done
    page.wait_for_selector("[data-testid=recommendation]", timeout=90_000)
    chart = page.locator("img[data-chart]").first
    chart.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=chart.element_handle()
    )
    assert violations(page, console) == []

    lead = browser.new_context(locale="en-US")
    lead_page = lead.new_page()
    login(lead_page, live_server, "lead@demo.rollwise")
    lead_page.wait_for_url(f"{live_server}/")
    lead_page.goto(f"{live_server}/feedback/pilots/{pilot_id}")
    link = lead_page.locator("a[href*='/feedback/f/']").first.get_attribute("href")
    lead.close()
    context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    phone = context.new_page()
    phone_console = watched(phone)
    phone.goto(f"{live_server}{link}")
    phone.get_by_test_id("submit").wait_for()
    assert phone.locator("meta[name=referrer]").get_attribute("content") == "strict-origin"
    assert violations(phone, phone_console) == []
    context.close()
