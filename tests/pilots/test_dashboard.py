"""The pilot dashboard on the demo data: status, day count, completeness, charts, links."""

from datetime import date, timedelta

import pandas as pd
import pytest
from sqlalchemy import select

from app.core.charts import bar_chart_svg, daily_series_svg
from app.extensions import db
from app.models import Pilot, Role, User
from tests.conftest import PASSWORD


@pytest.fixture
def demo(demo_chain):
    return db.session.scalar(select(Pilot).where(Pilot.name == "QR-code self-ordering"))


def test_the_dashboard_shows_status_completeness_and_marked_charts(client, auth, demo):
    auth.login(Role.ANALYST)
    page = client.get(f"/pilots/{demo.id}").get_data(as_text=True)
    assert 'data-testid="pilot-status"' in page and "Running" in page
    assert 'data-testid="completeness-grid"' in page
    # primary and guardrail metrics are charted; secondary ones are not
    for key in ("avg_wait_min", "avg_ticket", "satisfaction_rate", "complaints"):
        assert f'data-testid="chart-{key}"' in page
    assert 'data-testid="chart-orders"' not in page
    assert page.count("<svg") >= 4
    # the day-8 adjustment decided in the day-7 retro is marked on the charts (①)
    assert "①" in page


def test_the_day_count_follows_the_calendar(demo):
    from app.pilots.lifecycle import day_counts

    # the demo pilot starts 27 days before its last day of data (yesterday); six weeks planned
    last_day = demo.start_date + timedelta(days=27)
    assert day_counts(demo, last_day) == (28, 42)
    assert day_counts(demo, demo.end_date) == (42, 42)


def test_staff_see_only_their_own_site_in_the_completeness_grid(client, auth, demo):
    staff = db.session.scalar(select(User).where(User.role == Role.STAFF))
    staff.set_password(PASSWORD)
    auth.login(user=staff)
    page = client.get(f"/pilots/{demo.id}").get_data(as_text=True)
    assert page.count('<th scope="row">') == 1 and staff.site.code in page
    assert "<svg" not in page  # no pilot-vs-control comparison for staff


def test_quick_links_appear_only_for_areas_that_exist(app, client, auth, demo):
    auth.login(Role.CHANGE_LEAD)
    page = client.get(f"/pilots/{demo.id}").get_data(as_text=True)
    for endpoint, label in (("reports.index", "Report"), ("retros.index", "Daily reviews")):
        assert (f">{label}<" in page) == (endpoint in app.view_functions)


def test_charts_escape_user_text_and_scale_to_their_container():
    frame = pd.DataFrame(
        {"date": pd.date_range("2026-09-01", periods=10), "pilot": range(10), "control": range(10)}
    )
    svg = daily_series_svg(
        frame,
        start=date(2026, 9, 6),
        adjustments=[(date(2026, 9, 8), "<script>x</script>")],
        title="Wait & see",
        unit="min",
    )
    assert svg.startswith("<svg") and "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'viewBox="' in svg and ' width="' not in svg.split(">")[0]
    bars = bar_chart_svg(["A", "B"], [1.0, None], title="t", unit="u", highlight="B")
    assert bars.startswith("<svg") and "—" in bars
