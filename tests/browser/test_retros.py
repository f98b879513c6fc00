"""A change lead runs two consecutive daily retros on the demo pilot and finds the first
day's open action carried into the second, with its age; then closes it with an outcome."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.demo.seed import default_last_day
from tests.browser.conftest import login

pytestmark = pytest.mark.browser

# the demo has retros up to its last day of data, yesterday; today and tomorrow are free
FIRST = default_last_day() + timedelta(days=1)
SECOND = FIRST + timedelta(days=1)
ACTION = "Re-laminate the QR codes at R005"


def open_retro(page, base_url: str, pilot_path: str, day) -> None:
    page.goto(f"{base_url}/retros{pilot_path}")
    form = page.get_by_test_id("open-retro-form")
    form.locator("input[name=day]").fill(day.isoformat())
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf".*/day/{day.isoformat()}.*"))


def test_change_lead_runs_two_retros_and_sees_the_open_action_next_day(page, live_server):
    login(page, live_server, "lead@demo.rollwise")
    page.wait_for_url(f"{live_server}/")
    page.get_by_test_id("pilot-table").get_by_role("link", name="QR-code self-ordering").click()
    page.wait_for_url(re.compile(r".*/pilots/\d+$"))
    pilot_path = "/pilot/" + page.url.rstrip("/").rsplit("/", 1)[1]

    # day one: the brief is there before anyone types; add a note and an action
    open_retro(page, live_server, pilot_path, FIRST)
    assert page.get_by_test_id("brief-metrics").is_visible()
    assert "Average wait" in page.get_by_test_id("brief-metrics").inner_text()
    notes = page.get_by_test_id("item-form")
    notes.locator("select[name=category]").select_option("problems")
    notes.locator("textarea[name=text]").fill("QR codes worn at R005 / 二维码磨损")
    notes.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "QR codes worn at R005" in page.get_by_test_id("retro-notes").inner_text()

    actions = page.get_by_test_id("action-form")
    actions.locator("input[name=title]").fill(ACTION)
    actions.locator("select[name=owner_id]").select_option(label="Lin Chen 陈琳")
    actions.locator("input[name=due_date]").fill(SECOND.isoformat())
    actions.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert ACTION in page.get_by_test_id("retro-actions").inner_text()

    # day two: the action is carried forward, one day old
    open_retro(page, live_server, pilot_path, SECOND)
    carried = page.get_by_test_id("carried-actions")
    row = carried.get_by_test_id("action-row").filter(has_text=ACTION)
    assert row.count() == 1
    assert row.get_by_test_id("action-age").inner_text().strip() == "1 days"

    # closing asks for an outcome note, then the action shows as done
    row.get_by_role("link", name="Close").click()
    page.get_by_test_id("close-form").locator("button[type=submit]").click()
    assert page.get_by_text("Say briefly what came of the action.").is_visible()
    page.fill("textarea[name=outcome]", "New laminated codes on every table.")
    page.get_by_test_id("close-form").locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf".*/day/{SECOND.isoformat()}.*"))
    # the demo lives in today, so day two is tomorrow: an action closed today is no longer
    # among the open actions carried into it
    carried_rows = page.locator("[data-testid=carried-actions] [data-testid=action-row]")
    assert carried_rows.filter(has_text=ACTION).count() == 0

    # a second attempt to open day one opens the existing retro, whose action reads done
    open_retro(page, live_server, pilot_path, FIRST)
    assert page.get_by_text("already open").is_visible()
    assert "QR codes worn at R005" in page.get_by_test_id("retro-notes").inner_text()
    decided = page.get_by_test_id("retro-actions").locator("li").filter(has_text=ACTION)
    assert "Done" in decided.inner_text()
