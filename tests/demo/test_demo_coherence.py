"""The demo lives in today: seeded on any day, its statuses match its dates, its data reaches
yesterday, its actions are current, its decisions match their reports and plans, and the staff
user can open everything their pages link to.

Each "today" seeds the demo once (a module-scoped database) with the organisation's clock
fixed at 10:00 in Shanghai on that day; the tests read that one database.
"""

from __future__ import annotations

import re
from collections import deque
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.core import clock
from app.extensions import db
from app.models import (
    ActionItem,
    Assignment,
    FeedbackResponse,
    Observation,
    Pilot,
    PilotMetric,
    PilotStatus,
    PlanStatus,
    Report,
    ReportStatus,
    Role,
    RolloutPlan,
    User,
    WaveStatus,
)

pytestmark = pytest.mark.slow

TODAYS = [date(2026, 12, 7), date(2027, 3, 15)]
SHANGHAI = ZoneInfo("Asia/Shanghai")
#: Pages the link walk never opens: signing out, switching language, static files.
SKIP = re.compile(r"^/(auth/logout|lang/|static/|bootstrap/)")
#: The walk stops after this many pages (every link of the dashboard and of the pages it
#: links to are well within it).
MAX_PAGES = 150


@pytest.fixture(scope="module", params=TODAYS, ids=str)
def seeded(request, tmp_path_factory):
    """An app whose clock says it is 10:00 in Shanghai on ``today``, with the demo seeded."""
    from app import create_app
    from app.config import TestConfig
    from app.demo.seed import seed

    today: date = request.param
    path = tmp_path_factory.mktemp("demo") / "demo.db"

    class DemoConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{path}"
        BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"

    instant = datetime.combine(today, time(10, 0), tzinfo=SHANGHAI).astimezone(UTC)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock, "utc_now", lambda: instant)
        app = create_app(DemoConfig)
        with app.app_context():
            db.create_all()
            assert clock.today() == today
            with app.test_request_context():
                seed()
                db.session.commit()
            yield app, today
            db.session.remove()
            db.engine.dispose()


def _pilots() -> list[Pilot]:
    return list(db.session.scalars(select(Pilot).order_by(Pilot.id)))


def _one(status: PilotStatus) -> Pilot:
    found = [p for p in _pilots() if p.status is status]
    assert len(found) == 1, f"expected one {status.value} pilot, found {len(found)}"
    return found[0]


def _approved_report(pilot: Pilot) -> Report | None:
    report = db.session.get(Report, pilot.decision_report_id) if pilot.decision_report_id else None
    return report if report is not None and report.status is ReportStatus.APPROVED else None


def test_statuses_match_dates(seeded):
    _app, today = seeded
    statuses = {p.status for p in _pilots()}
    assert {PilotStatus.RUNNING, PilotStatus.DECIDED, PilotStatus.ROLLING_OUT} <= statuses
    for pilot in _pilots():
        if pilot.status is PilotStatus.RUNNING:
            assert pilot.start_date < today <= pilot.end_date, pilot.name
        elif pilot.status is PilotStatus.DRAFT:
            assert pilot.start_date is None or pilot.start_date > today, pilot.name
        else:  # analysing, decided, rolling out, done: the pilot is over
            assert pilot.end_date < today, pilot.name
        if pilot.status in (PilotStatus.DECIDED, PilotStatus.ROLLING_OUT, PilotStatus.DONE):
            assert _approved_report(pilot) is not None, f"{pilot.name} has no approved report"
            assert pilot.decided_at.date() > pilot.end_date
            assert pilot.decided_at.date() < today
    for plan in db.session.scalars(select(RolloutPlan)):
        for wave in plan.waves:
            if wave.status is WaveStatus.PLANNED:
                assert wave.start_date >= today, (plan.name, wave.number)
            elif wave.status is WaveStatus.LIVE:
                assert wave.start_date < today <= wave.end_date, (plan.name, wave.number)
            elif wave.status is WaveStatus.PASSED:
                assert wave.end_date < today, (plan.name, wave.number)
        if plan.status is PlanStatus.ACTIVE:
            assert plan.pilot.status is PilotStatus.ROLLING_OUT
        if plan.status is PlanStatus.DRAFT:
            assert plan.start_date > today and plan.pilot.status is PilotStatus.DECIDED


def _last_data_day(pilot: Pilot) -> date | None:
    site_ids = select(Assignment.site_id).where(Assignment.pilot_id == pilot.id)
    metric_ids = select(PilotMetric.metric_id).where(PilotMetric.pilot_id == pilot.id)
    return db.session.scalar(
        select(func.max(Observation.date)).where(
            Observation.site_id.in_(site_ids), Observation.metric_id.in_(metric_ids)
        )
    )


def test_operations_data_and_feedback_reach_yesterday_or_the_end(seeded):
    _app, today = seeded
    yesterday = today - timedelta(days=1)
    running = _one(PilotStatus.RUNNING)
    assert _last_data_day(running) == yesterday
    # every day from the pre-period to yesterday has data: no gap up to today
    site_ids = select(Assignment.site_id).where(Assignment.pilot_id == running.id)
    days = db.session.scalar(
        select(func.count(func.distinct(Observation.date))).where(
            Observation.site_id.in_(site_ids), Observation.date >= running.pre_start
        )
    )
    assert days == (yesterday - running.pre_start).days + 1
    # feedback arrives every day up to yesterday, local time, and none from the future
    times = db.session.scalars(
        select(FeedbackResponse.submitted_at).where(FeedbackResponse.pilot_id == running.id)
    ).all()
    local_days = {clock.local_day(t) for t in times}
    assert max(local_days) == yesterday
    assert set(running.start_date + timedelta(days=i) for i in range(7)) <= local_days
    for status in (PilotStatus.DECIDED, PilotStatus.ROLLING_OUT):
        finished = _one(status)
        assert _last_data_day(finished) >= finished.end_date


def test_no_action_is_more_than_a_week_overdue(seeded):
    _app, today = seeded
    actions = db.session.scalars(select(ActionItem)).all()
    open_actions = [a for a in actions if not a.status.is_closed]
    late = [(today - a.due_date).days for a in open_actions if a.due_date < today]
    assert all(days <= 7 for days in late), late
    assert len(late) <= 2
    # around today: some done, some due in the coming days
    assert any(a.status.is_closed for a in actions)
    assert any(today <= a.due_date <= today + timedelta(days=7) for a in open_actions)
    assert all(a.closed_on is None or a.closed_on < today for a in actions)


def test_decided_pilots_follow_their_approved_report(seeded):
    analyst = db.session.scalar(select(User).where(User.email == "analyst@demo.rollwise"))
    for status in (PilotStatus.DECIDED, PilotStatus.ROLLING_OUT):
        pilot = _one(status)
        report = _approved_report(pilot)
        assert report.reviewer_id == analyst.id and not report.is_exploration
        recommended = report.results["recommendation"]["decision"]
        assert recommended == pilot.decision.value == "roll_out"
        plans = db.session.scalars(select(RolloutPlan).where(RolloutPlan.pilot_id == pilot.id))
        assert [p.status for p in plans] == [
            PlanStatus.DRAFT if status is PilotStatus.DECIDED else PlanStatus.ACTIVE
        ]


def test_the_rolling_out_plan_has_a_passed_wave_and_a_gate_due_this_week(seeded):
    _app, today = seeded
    pilot = _one(PilotStatus.ROLLING_OUT)
    [plan] = db.session.scalars(select(RolloutPlan).where(RolloutPlan.pilot_id == pilot.id))
    assert plan.status is PlanStatus.ACTIVE
    first, second = plan.waves[:2]
    assert first.status is WaveStatus.PASSED and first.gate_result["outcome"] == "pass"
    assert second.status is WaveStatus.LIVE
    assert today <= second.end_date <= today + timedelta(days=6)
    assert all(w.status is WaveStatus.PLANNED for w in plan.waves[2:])


def _links(html: str) -> set[str]:
    found = set()
    for href in re.findall(r'href="([^"]+)"', html):
        parts = urlsplit(href.replace("&amp;", "&"))
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            continue
        if SKIP.match(parts.path):
            continue
        found.add(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def test_staff_can_open_every_link_of_their_pages(seeded):
    """From the dashboard, the navigation and the pages they link to: no 403, no 404."""
    app, _today = seeded
    client = app.test_client()
    staff = db.session.scalar(select(User).where(User.role == Role.STAFF))
    from app.demo.seed import DEMO_PASSWORD

    login = client.post("/auth/login", data={"email": staff.email, "password": DEMO_PASSWORD})
    assert login.status_code == 302
    seen: dict[str, int] = {}
    queue = deque([("/", 0)])
    while queue and len(seen) < MAX_PAGES:
        url, depth = queue.popleft()
        if url in seen:
            continue
        response = client.get(url, follow_redirects=True)
        seen[url] = response.status_code
        if depth < 2 and response.mimetype == "text/html":
            queue.extend((link, depth + 1) for link in _links(response.get_data(as_text=True)))
        response.close()
    refused = {url: code for url, code in seen.items() if code in (403, 404)}
    assert not refused
    assert len(seen) > 10  # the walk did reach the pilot pages


def test_staff_see_their_site_their_pilots_and_their_rollout_card(seeded):
    app, _today = seeded
    client = app.test_client()
    staff = db.session.scalar(select(User).where(User.role == Role.STAFF))
    from app.demo.seed import DEMO_PASSWORD

    client.post("/auth/login", data={"email": staff.email, "password": DEMO_PASSWORD})
    dashboard = client.get("/").get_data(as_text=True)
    for pilot in _pilots():
        assigned = db.session.scalar(
            select(Assignment.id).where(
                Assignment.pilot_id == pilot.id, Assignment.site_id == staff.site_id
            )
        )
        assert (f"/pilots/{pilot.id}" in dashboard) == (assigned is not None), pilot.name
    # the staff's own rollout card: their site, in the live wave of a pilot on their dashboard
    card = client.get("/rollout/my-site")
    assert card.status_code == 302
    plan_id = int(re.search(r"/rollout/(\d+)/sites/(\d+)", card.location).group(1))
    plan = db.session.get(RolloutPlan, plan_id)
    assert f"/pilots/{plan.pilot_id}" in dashboard
    assert plan.pilot.status is PilotStatus.ROLLING_OUT
    [ws] = [ws for ws in plan.sites if ws.site_id == staff.site_id]
    assert ws.wave is not None and ws.wave.status is WaveStatus.LIVE
    assert client.get(card.location).status_code == 200
