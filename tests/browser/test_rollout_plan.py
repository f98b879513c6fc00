"""A change lead proposes a rollout plan for the demo pilot, moves a site, exports the calendar."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.models import Decision, Pilot, PilotStatus
from tests.browser.conftest import BrowserConfig, login

pytestmark = pytest.mark.browser


def _decide_roll_out() -> int:
    """Record the decision "roll out" on the demo pilot (the report area owns the UI for it)."""
    app = create_app(BrowserConfig)
    with app.app_context():
        pilot = db.session.scalars(select(Pilot).order_by(Pilot.id)).first()
        pilot.decision = Decision.ROLL_OUT
        pilot.decision_note = "Browser journey: the pilot cut waiting time."
        pilot.status = PilotStatus.DECIDED
        db.session.commit()
        pilot_id = pilot.id
        db.session.remove()
        db.engine.dispose()
    return pilot_id


def test_change_lead_generates_a_plan_moves_a_site_and_exports_the_calendar(page, live_server):
    from icalendar import Calendar

    pilot_id = _decide_roll_out()
    login(page, live_server, "lead@demo.rollwise")
    page.wait_for_url(f"{live_server}/")
    page.goto(f"{live_server}/rollout/pilots/{pilot_id}")
    page.get_by_test_id("new-plan").click()
    page.fill("input[name=start_date]", "2027-01-04")
    page.check("input[name=randomize]")
    page.fill("input[name=holdback_percent]", "10")
    page.get_by_test_id("generate").click()
    page.wait_for_url(f"{live_server}/rollout/*")
    assert page.get_by_test_id("timeline-chart").locator("svg").count() == 1
    waves = page.get_by_test_id("wave-table")
    assert "Wave 1" in waves.inner_text() and "Wave 4" in waves.inner_text()
    first_size = int(page.get_by_test_id("wave-size-1").inner_text())

    # move the first site of wave 1 to wave 2, with a reason
    row = page.locator("[data-testid^=site-row-]").first
    code = row.get_attribute("data-testid").removeprefix("site-row-")
    assert page.get_by_test_id(f"site-wave-{code}").inner_text().strip() == "1"
    form = page.get_by_test_id(f"move-{code}")
    form.locator("select[name=target]").select_option("2")
    form.locator("input[name=reason]").fill("Manager on leave in January")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert f"{code} moved" in page.locator(".alert-success").inner_text()
    assert page.get_by_test_id(f"site-wave-{code}").inner_text().strip() == "2"
    assert int(page.get_by_test_id("wave-size-1").inner_text()) == first_size - 1

    with page.expect_download() as info:
        page.get_by_test_id("export-ics").click()
    download = info.value
    with open(download.path(), "rb") as handle:
        calendar = Calendar.from_ical(handle.read())
    events = list(calendar.walk("VEVENT"))
    summaries = [str(e["summary"]) for e in events]
    assert any("wave 1 go-live" in s for s in summaries)
    assert any("wave 4 gate review" in s for s in summaries)
    moved = [e for e in events if f"-site-{code}@" in str(e["uid"])]
    assert moved and "(wave 2)" in str(moved[0]["summary"])
