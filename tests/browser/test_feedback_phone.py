"""A customer scans the demo's QR link and answers in Chinese on a phone."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import PHONE, login

pytestmark = pytest.mark.browser

COMMENT = "排队比以前快多了，但老人不会用。电话13812345678"


def _customer_link(page, base_url: str) -> tuple[int, str]:
    """The lead opens the pilot's forms page and reads the first customer QR link."""
    login(page, base_url, "lead@demo.rollwise")
    page.wait_for_url(f"{base_url}/")
    table = page.get_by_test_id("pilot-table")
    href = table.get_by_role("link", name="QR-code self-ordering").get_attribute("href")
    pilot_id = int(re.search(r"/pilots/(\d+)", href).group(1))
    page.goto(f"{base_url}/feedback/pilots/{pilot_id}")
    rows = page.get_by_test_id("link-table").locator("tbody tr")
    for i in range(rows.count()):
        row = rows.nth(i)
        if "customers" in row.inner_text():
            return pilot_id, row.locator("a[href*='/feedback/f/']").get_attribute("href")
    raise AssertionError("no customer link on the page")


def _phone(browser):
    return browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)


def test_customer_answers_in_chinese_on_a_phone(browser, page, live_server):
    pilot_id, link = _customer_link(page, live_server)
    context = _phone(browser)
    phone = context.new_page()
    phone.goto(f"{live_server}{link}")
    assert "您对本次用餐体验满意吗？" in phone.locator("h1").inner_text()
    assert phone.get_by_text("总体来说，您今天满意吗？").is_visible()
    # no horizontal scrolling on a 390 px screen, and big touch targets
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box = phone.locator("label[for=q_overall-5]").bounding_box()
    assert box["height"] >= 44
    # sending without the required answers keeps the person on the form with messages
    phone.get_by_test_id("submit").tap()
    phone.get_by_test_id("error-overall").wait_for()
    assert phone.get_by_test_id("error-ease").is_visible()
    phone.locator("label[for=q_overall-4]").tap()
    phone.locator("label[for=q_ease-5]").tap()
    phone.locator("label[for=q_recommend-9]").tap()
    phone.locator("label[for=q_age_band-3]").tap()  # 60 or over
    phone.fill("textarea[name=q_comment]", COMMENT)
    phone.get_by_test_id("submit").dblclick()  # an impatient double tap
    phone.get_by_test_id("thanks").wait_for()
    assert "感谢" in phone.get_by_test_id("thanks").inner_text() or "Thank" in phone.inner_text(
        "body"
    )
    context.close()
    # the lead sees the answer once, with the phone number masked
    page.goto(f"{live_server}/feedback/pilots/{pilot_id}/comments")
    cards = page.get_by_test_id("comment-card").filter(has_text="排队比以前快多了")
    assert cards.count() == 1
    text = cards.first.inner_text()
    assert "[phone]" in text and "13812345678" not in text


def test_answers_survive_a_dropped_connection(browser, page, live_server):
    _pilot_id, link = _customer_link(page, live_server)
    context = _phone(browser)
    phone = context.new_page()
    phone.goto(f"{live_server}{link}")
    phone.locator("label[for=q_overall-5]").tap()
    phone.locator("label[for=q_ease-4]").tap()
    phone.locator("label[for=q_recommend-10]").tap()
    context.set_offline(True)
    phone.get_by_test_id("submit").tap()
    status = phone.get_by_test_id("send-status")
    status.wait_for()
    phone.wait_for_function(
        "document.getElementById('feedback-status').className.includes('warning')"
    )
    saved = phone.evaluate("Object.keys(localStorage).filter(k => k.startsWith('rw-feedback:'))")
    assert len(saved) == 1  # the answers wait on the phone
    context.set_offline(False)
    phone.get_by_test_id("thanks").wait_for(timeout=40000)
    assert phone.evaluate("Object.keys(localStorage).length") == 0
    context.close()
