"""A change lead switches to Chinese, opens the finished pilot's approved report and reads it:
the decision, the explanation of every metric and the glossary it links to are in Chinese,
with no English sentence and no internal code on the way."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import login

pytestmark = pytest.mark.browser

#: English or internal text that reached the Chinese report before issue 20.
NOT_IN_CHINESE = (
    "ANCOVA, HC2",
    "not estimable",
    "not available",
    "adjusted p",
    "enough_evidence",
    "|SMD|",
    "30_59",
    "Better.",
    "No clear difference",
)
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_a_lead_reads_the_approved_report_in_chinese(page, live_server):
    login(page, live_server, "lead@demo.rollwise")
    page.wait_for_url(f"{live_server}/")
    page.locator("[data-lang=zh_CN]").first.click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-CN"

    page.get_by_text("Kitchen display screens").first.click()
    page.wait_for_url(re.compile(r".*/pilots/\d+$"))
    pilot_id = page.url.rstrip("/").split("/")[-1]
    page.goto(f"{live_server}/reports/pilot/{pilot_id}")
    if not re.search(r"/reports/\d+$", page.url):  # the pilot's report list: open its report
        hrefs = [
            h
            for h in page.locator("a[href]").evaluate_all(
                "els => els.map(e => e.getAttribute('href'))"
            )
            if re.search(r"/reports/\d+$", h or "")
        ]
        assert hrefs, "the finished pilot has an approved report"
        page.goto(f"{live_server}{hrefs[0]}")
    page.wait_for_selector("[data-testid=recommendation]")

    recommendation = page.get_by_test_id("recommendation").inner_text()
    assert CJK.search(recommendation), recommendation
    explanations = page.get_by_test_id("explanation").all_inner_texts()
    assert explanations, "every metric has an explanation"
    for text in explanations:
        assert CJK.search(text), text
    assert len(set(explanations)) == len(explanations), "no explanation repeated word for word"

    body = page.locator("main").inner_text()
    for phrase in NOT_IN_CHINESE:
        assert phrase not in body, phrase

    glossary = page.locator("a.glossary-link").first
    href = glossary.get_attribute("href")
    assert href and "#" in href
    glossary.click()
    page.wait_for_url(re.compile(r".*/glossary#.+"))
    anchor = href.split("#", 1)[1]
    term = page.locator(f"[id='{anchor}']")
    assert term.count() == 1
    assert CJK.search(term.inner_text())
