import pytest

from tests.browser.conftest import PHONE, login

pytestmark = pytest.mark.browser


def test_change_lead_logs_in_and_sees_the_demo_pilot(page, live_server):
    login(page, live_server, "lead@demo.rollwise")
    page.wait_for_url(f"{live_server}/")
    table = page.get_by_test_id("pilot-table")
    assert "QR-code self-ordering" in table.inner_text()
    assert "Running" in table.inner_text()
    assert page.get_by_test_id("whoami").inner_text().startswith("Lin Chen")


def test_wrong_password_shows_a_message_in_the_browser(page, live_server):
    page.goto(f"{live_server}/auth/login")
    page.fill("input[name=email]", "lead@demo.rollwise")
    page.fill("input[name=password]", "not-the-password")
    page.click("input[type=submit], button[type=submit]")
    assert page.get_by_text("Wrong e-mail or password.").is_visible()


def test_language_switch_on_a_phone(browser, live_server):
    context = browser.new_context(viewport=PHONE, locale="en-US", is_mobile=True)
    page = context.new_page()
    login(page, live_server, "analyst@demo.rollwise")
    page.wait_for_url(f"{live_server}/")
    page.click("button.navbar-toggler")
    page.click("a[data-lang=zh_CN]")
    page.wait_for_load_state()
    assert "试点" in page.locator("h1").inner_text()
    context.close()
