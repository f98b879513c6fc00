"""The chain-sized demo (``flask demo seed --scale chain``) and the queries made for it.

One small chain (150 sites × 60 days) is seeded once for the module through the command
line; every optimised query is checked against the straightforward way of computing the
same thing, and the seed's counts against its parameters. Speed is measured only by
``tests/bench/bench_pages.py``, never here.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta

import pandas as pd
import pytest
from sqlalchemy import event, func, select

from app import create_app
from app.config import TestConfig
from app.core import charts
from app.core.queries import load_sites
from app.demo.chain import PILOT_STATES, ChainSize, counts
from app.extensions import db
from app.models import (
    Arm,
    Assignment,
    Audience,
    FeedbackResponse,
    Observation,
    Pilot,
    PilotStatus,
    RolloutPlan,
    Site,
)

SITES, DAYS = 150, 60


@pytest.fixture(scope="module")
def chain_app(tmp_path_factory):
    path = tmp_path_factory.mktemp("chain") / "chain.db"

    class ChainConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{path}"

    app = create_app(ChainConfig)
    with app.app_context():
        db.create_all()
        result = app.test_cli_runner().invoke(
            args=["demo", "seed", "--scale", "chain", "--sites", str(SITES), "--days", str(DAYS)]
        )
        assert result.exit_code == 0, result.output
        app.config["SEED_OUTPUT"] = result.output
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def chain(chain_app):
    with chain_app.test_request_context():
        yield chain_app
        db.session.rollback()


class StatementCount:
    def __init__(self):
        self.statements: list[str] = []

    def __enter__(self):
        event.listen(db.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement, *args):
        self.statements.append(statement)


def running_pilot() -> Pilot:
    return db.session.scalars(
        select(Pilot).where(Pilot.status == PilotStatus.RUNNING).order_by(Pilot.id)
    ).first()


# ---------------------------------------------------------------- the seed


def test_chain_counts_follow_its_parameters(chain):
    size = ChainSize(sites=SITES, days=DAYS)
    found = counts()
    assert found["sites"] == SITES
    assert found["observations"] == SITES * DAYS * 10 == size.observations
    assert found["responses"] == size.responses
    assert found["pilots"] == len(PILOT_STATES) == 12
    assert found["plans"] == 2
    assert found["plan_sites"] == 2 * size.rollout_sites
    assert f"{SITES} sites, {size.observations} observations" in chain.config["SEED_OUTPUT"]
    regions = db.session.scalar(select(func.count(func.distinct(Site.region))))
    assert regions == 8
    days = db.session.scalar(select(func.count(func.distinct(Observation.date))))
    assert days == DAYS
    per_cell = db.session.execute(
        select(func.count())
        .select_from(Observation)
        .group_by(Observation.site_id, Observation.date)
        .having(func.count() != 10)
    ).all()
    assert per_cell == []


def test_chain_has_pilots_in_every_state_and_three_running_on_40_to_200_sites(chain):
    states = Counter(db.session.scalars(select(Pilot.status)))
    assert set(states) == set(PilotStatus)
    assert states[PilotStatus.RUNNING] == 3
    sizes = db.session.execute(
        select(func.count(Assignment.id))
        .join(Pilot)
        .where(Pilot.status == PilotStatus.RUNNING)
        .group_by(Pilot.id)
    ).scalars()
    assert all(40 <= n <= 200 for n in sizes)
    for plan in db.session.scalars(select(RolloutPlan)):
        assert plan.pilot.status is PilotStatus.ROLLING_OUT
        assert plan.waves[0].status.value == "live"


def test_chain_responses_lie_in_their_pilots_windows_and_sites(chain):
    outside = db.session.scalar(
        select(func.count(FeedbackResponse.id))
        .join(Pilot, Pilot.id == FeedbackResponse.pilot_id)
        .outerjoin(
            Assignment,
            (Assignment.pilot_id == FeedbackResponse.pilot_id)
            & (Assignment.site_id == FeedbackResponse.site_id),
        )
        .where(Assignment.id.is_(None))
    )
    assert outside == 0
    staff = db.session.scalar(
        select(func.count(FeedbackResponse.id)).where(FeedbackResponse.audience == Audience.STAFF)
    )
    assert staff > 0


def test_chain_refuses_too_small_sizes_and_chain_options_without_the_chain(app, runner):
    result = runner.invoke(args=["demo", "seed", "--scale", "chain", "--days", "20"])
    assert result.exit_code != 0
    assert "--days" in result.output
    result = runner.invoke(args=["demo", "seed", "--sites", "100"])
    assert result.exit_code != 0
    assert "--scale chain" in result.output
    with pytest.raises(ValueError, match="at least 30 sites"):
        ChainSize(sites=10)


# ---------------------------------------------------------------- the optimised queries


def test_load_sites_reads_the_sites_in_one_statement_and_none_twice(chain):
    pilot = running_pilot()
    ids = [a.site_id for a in pilot.assignments]
    db.session.expunge_all()
    with StatementCount() as first:
        sites = load_sites(ids)
    assert len(first.statements) == 1
    assert sorted(s.id for s in sites) == sorted(set(ids))
    with StatementCount() as again:
        assert sorted(s.id for s in load_sites(ids)) == sorted(set(ids))
    assert again.statements == []


def test_completeness_grid_equals_the_straightforward_count(chain):
    from app.pilots import observations as obs

    pilot = running_pilot()
    metric = pilot.primary_metric
    today = pilot.start_date + timedelta(days=20)
    window = obs.pilot_window(pilot, today)
    with StatementCount() as seen:
        grid = obs.completeness_grid(pilot, metric, window, today=today)
    assert len(seen.statements) <= 4  # no statement per site
    codes = {a.site_id: (a.site.code, a.arm) for a in pilot.assignments}
    expected_order = sorted(codes.values(), key=lambda c: (c[1] is not Arm.PILOT, c[0]))
    assert [(site.code, arm) for site, arm, _present in grid.rows] == [
        (code, arm.value) for code, arm in expected_order
    ]
    first, _last = window
    end = pilot.end_date
    for site, _arm, present in grid.rows:
        days = set(
            db.session.scalars(
                select(Observation.date).where(
                    Observation.site_id == site.id,
                    Observation.metric_id == metric.id,
                    Observation.date >= first,
                    Observation.date <= end,
                )
            )
        )
        assert present == days


def test_daily_arm_means_equal_the_mean_of_the_site_values(chain):
    from app.pilots import observations as obs

    pilot = running_pilot()
    metric = pilot.primary_metric
    window = obs.pilot_window(pilot, pilot.start_date + timedelta(days=10))
    arms = {a.site_id: a.arm.value for a in pilot.assignments}
    rows = db.session.execute(
        select(Observation.site_id, Observation.date, Observation.value).where(
            Observation.metric_id == metric.id,
            Observation.site_id.in_(list(arms)),
            Observation.date.between(*window),
        )
    ).all()
    plain = pd.DataFrame(rows, columns=["site_id", "date", "value"])
    plain["arm"] = plain["site_id"].map(arms)
    expected = plain.pivot_table(index="date", columns="arm", values="value", aggfunc="mean")
    found = obs.daily_arm_means(pilot, metric, window).set_index("date")
    assert len(found) == len(expected) == (window[1] - window[0]).days + 1
    for arm in ("pilot", "control"):
        assert found[arm].to_numpy() == pytest.approx(expected[arm].to_numpy(), rel=1e-12)


def test_last_data_day_is_the_latest_day_of_any_pilot_site(chain):
    from app.pilots import observations as obs

    for pilot in db.session.scalars(select(Pilot)):
        ids = [a.site_id for a in pilot.assignments]
        expected = (
            db.session.scalar(
                select(func.max(Observation.date)).where(Observation.site_id.in_(ids))
            )
            if ids
            else None
        )
        assert obs.last_data_day(pilot) == expected
    pilot = running_pilot()
    assigned = {a.site_id for a in pilot.assignments}
    other = next(s for s in db.session.scalars(select(Site)) if s.id not in assigned)
    before = obs.last_data_day(pilot)
    late = Observation(
        site_id=other.id,
        metric_id=pilot.primary_metric.id,
        date=before + timedelta(days=3),
        value=1,
    )
    db.session.add(late)
    db.session.flush()
    assert obs.last_data_day(pilot) == before  # a site outside the pilot does not count
    late.site_id = next(iter(assigned))
    db.session.flush()
    assert obs.last_data_day(pilot) == before + timedelta(days=3)


def test_feedback_site_table_equals_a_count_per_site(chain):
    from app.feedback import analytics

    pilot = running_pilot()
    overview = analytics.pilot_overview(pilot)
    table = overview["sites"]
    assert [row["site"].code for row in table] == sorted(a.site.code for a in pilot.assignments)
    for row in table:
        mine = select(func.count(FeedbackResponse.id)).where(
            FeedbackResponse.pilot_id == pilot.id, FeedbackResponse.site_id == row["site"].id
        )
        flagged = mine.where(FeedbackResponse.is_flagged_negative.is_(True))
        staff = mine.where(FeedbackResponse.audience == Audience.STAFF)
        assert row["flagged"] == db.session.scalar(flagged)
        assert row["n_staff"] == db.session.scalar(staff)
    assert sum(row["n_staff"] for row in table) > 0


def test_wave_summary_lists_the_waves_sites_as_a_plain_filter_does(chain):
    from app.rollout.plans import wave_summary

    plan = db.session.scalars(select(RolloutPlan).order_by(RolloutPlan.id)).first()
    for wave in plan.waves:
        summary = wave_summary(plan, wave)
        expected = [ws.id for ws in plan.sites if ws.wave_id == wave.id]
        assert sorted(ws.id for ws in summary["sites"]) == sorted(expected)
        codes = [ws.site.code for ws in summary["sites"]]
        dates = [ws.go_live_date for ws in summary["sites"]]
        assert list(zip(dates, codes, strict=True)) == sorted(zip(dates, codes, strict=True))


def test_pilot_dashboard_statements_do_not_grow_with_its_sites(chain):
    client = chain.test_client()
    response = client.post(
        "/auth/login", data={"email": "lead@demo.rollwise", "password": "demo-rollwise"}
    )
    assert response.status_code == 302
    pilots = db.session.scalars(
        select(Pilot).where(Pilot.status == PilotStatus.RUNNING).order_by(Pilot.id)
    ).all()
    seen = {}
    for pilot in pilots:
        with StatementCount() as count:
            assert client.get(f"/pilots/{pilot.id}").status_code == 200
        seen[len(pilot.assignments)] = len(count.statements)
    plan = db.session.scalars(select(RolloutPlan).order_by(RolloutPlan.id)).first()
    with StatementCount() as plan_count:
        assert client.get(f"/rollout/{plan.id}").status_code == 200
    with StatementCount() as overview_count:
        assert client.get(f"/feedback/pilots/{pilots[0].id}/overview").status_code == 200
    assert len(set(seen.values())) == 1, seen  # 50 sites or 40: the same statements
    assert len(plan.sites) > 100 and len(plan_count.statements) < 40
    assert len(overview_count.statements) < 60


def test_remembered_chart_is_the_drawn_chart_and_follows_the_data(chain):
    days = pd.date_range("2026-01-01", periods=10, freq="D")
    frame = pd.DataFrame({"date": days, "pilot": range(10), "control": range(10, 20)})
    options = {"start": days[5].date(), "title": "Wait", "unit": "min", "adjustments": []}
    charts._remembered_series.cache_clear()
    drawn = charts.draw_daily_series(frame, **options)
    assert charts.daily_series_svg(frame, **options) == drawn
    assert charts.daily_series_svg(frame.copy(), **options) == drawn  # remembered
    assert len(charts._remembered_series.cache) == 1
    changed = frame.assign(pilot=frame["pilot"] + 1)
    assert charts.daily_series_svg(changed, **options) == charts.draw_daily_series(
        changed, **options
    )
    assert charts.daily_series_svg(changed, **options) != drawn
    assert len(charts._remembered_series.cache) == 2


def test_feedback_overview_reads_each_frame_once_with_the_plain_numbers(chain):
    from app.feedback import analytics

    pilot = running_pilot()
    overview = analytics.pilot_overview(pilot)
    assigned = [a.site_id for a in pilot.assignments]
    for audience in Audience:
        plain = db.session.scalar(
            select(func.count(FeedbackResponse.id)).where(
                FeedbackResponse.pilot_id == pilot.id,
                FeedbackResponse.audience == audience,
                FeedbackResponse.site_id.in_(assigned),
            )
        )
        assert overview["audiences"][audience.value]["n"] == plain > 0
    frames = analytics._frames_of(pilot)
    once = frames("overall", Audience.CUSTOMER)
    assert frames("overall", Audience.CUSTOMER) is once

    def by_response(frame):
        return frame.sort_values("response_id").reset_index(drop=True)

    from app.feedback.questionnaires import current_form

    keys = {
        audience: [None] + [q["key"] for q in current_form(pilot.id, audience).questions]
        for audience in Audience
    }
    with StatementCount() as count:
        frames = analytics._frames_of(pilot)
        fast = {(key, a): frames(key, a) for a in Audience for key in keys[a]}
    # the sites' arms once, then per audience: its responses, its numeric answers --
    # whatever the questions
    assert len(count.statements) == 1 + 2 * len(Audience)
    for (key, audience), frame in fast.items():
        # every question's frame is the outer join responses_frame makes for that question
        pd.testing.assert_frame_equal(
            by_response(frame), by_response(_plain_responses_frame(pilot, key, audience))
        )
    assert any(frame["value"].notna().any() for frame in fast.values())


def test_timeline_ends_where_the_plain_latest_observation_says(chain):
    from app.models import ActionItem, Adjustment, Retrospective
    from app.retros.timeline import DAYS_AHEAD, pilot_timeline

    today = ChainSize(sites=SITES, days=DAYS).last_day
    checked = 0
    for pilot in db.session.scalars(select(Pilot).where(Pilot.start_date.is_not(None))):
        first = pilot.start_date
        plain = db.session.scalar(
            select(func.max(Observation.date))
            .join(
                Assignment,
                (Assignment.site_id == Observation.site_id) & (Assignment.pilot_id == pilot.id),
            )
            .where(Observation.date >= first)
        )
        dates = [plain]
        dates += db.session.scalars(
            select(Retrospective.date).where(Retrospective.pilot_id == pilot.id)
        )
        dates += db.session.scalars(
            select(Adjustment.effective_date).where(Adjustment.pilot_id == pilot.id)
        )
        for created, closed in db.session.execute(
            select(ActionItem.created_on, ActionItem.closed_on).where(
                ActionItem.pilot_id == pilot.id
            )
        ):
            dates += [created, closed]
        last = max((d for d in dates if d is not None), default=first)
        expected = max(min(max(last, first), today + timedelta(days=DAYS_AHEAD)), first)
        assert pilot_timeline(pilot, today).last == expected
        checked += 1
    assert checked == 10


# ---------------------------------------------------------------- round two (issue 22)


def _plain_responses_frame(pilot, key, audience, start=None, end=None):
    """The row-by-row frame ``responses_frame`` built before it converted at once."""
    import math

    from app.core.clock import day_bounds, local_day
    from app.models import FeedbackAnswer

    arms = {
        a.site_id: (a.site.code, a.arm.value)
        for a in db.session.scalars(select(Assignment).where(Assignment.pilot_id == pilot.id))
    }
    query = select(
        FeedbackResponse.id,
        FeedbackResponse.site_id,
        FeedbackResponse.submitted_at,
        FeedbackResponse.segment,
    ).where(FeedbackResponse.pilot_id == pilot.id, FeedbackResponse.audience == audience)
    if key is not None:
        query = query.add_columns(FeedbackAnswer.value_num).outerjoin(
            FeedbackAnswer,
            (FeedbackAnswer.response_id == FeedbackResponse.id)
            & (FeedbackAnswer.question_key == key),
        )
    if start is not None:
        low, high = day_bounds(start, end)
        query = query.where(FeedbackResponse.submitted_at >= low)
        query = query.where(FeedbackResponse.submitted_at < high)
    rows = []
    for row in db.session.execute(query):
        if row[1] not in arms:
            continue
        code, arm = arms[row[1]]
        day = local_day(row[2])
        period = "pre" if pilot.start_date is not None and day < pilot.start_date else "post"
        value = row[4] if key is not None else None
        rows.append(
            (row[0], code, row[1], arm, day, period, row[3], math.nan if value is None else value)
        )
    from app.feedback.analytics import FRAME_COLUMNS

    frame = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    frame["value"] = frame["value"].astype(float)
    return frame


def test_responses_frame_converted_at_once_equals_the_row_by_row_frame(chain):
    from app.feedback import analytics
    from app.feedback.questionnaires import current_form

    pilot = running_pilot()
    checked = 0
    for audience in Audience:
        form = current_form(pilot.id, audience)
        keys = [None] + [q["key"] for q in form.questions if q["type"] in ("rating", "nps")]
        for key in keys:
            fast = analytics.responses_frame(pilot, key, audience=audience)
            plain = _plain_responses_frame(pilot, key, audience)
            assert len(fast) > 0
            pd.testing.assert_frame_equal(fast, plain)
            checked += 1
    # one local day, as the retro brief reads it, and a day with no responses at all
    day = pilot.start_date + timedelta(days=3)
    pd.testing.assert_frame_equal(
        analytics.responses_frame(pilot, "overall", start=day, end=day),
        _plain_responses_frame(pilot, "overall", Audience.CUSTOMER, day, day),
    )
    empty = analytics.responses_frame(pilot, "overall", start=date_far(), end=date_far())
    assert list(empty.columns) == analytics.FRAME_COLUMNS and len(empty) == 0
    assert empty["value"].dtype == float
    assert checked >= 4
    pre = analytics.responses_frame(pilot, None)
    assert set(pre["period"]) == {"pre", "post"}  # both sides of the start are present


def date_far():
    from datetime import date

    return date(2001, 1, 1)


def test_feedback_site_table_rates_equal_a_filter_per_site(chain):
    from app.feedback import analytics

    pilot = running_pilot()
    table = analytics.pilot_overview(pilot)["sites"]
    frame = _plain_responses_frame(pilot, "overall", Audience.CUSTOMER)
    assert any(row["csat_post"] is not None for row in table)
    assert any(row["senior_csat_post"] is not None for row in table)
    for row in table:
        mine = frame[frame["site_pk"] == row["site"].id]
        post = mine[mine["period"] == "post"]
        seniors = post[post["segment"] == analytics.SENIOR_SEGMENT]
        assert row["n_customer"] == len(mine)
        assert row["csat_post"] == analytics.csat(post["value"])
        assert row["senior_csat_post"] == analytics.csat(seniors["value"])
        assert row["n_seniors_post"] == int(seniors["value"].notna().sum())


def _lead_client(app):
    client = app.test_client()
    response = client.post(
        "/auth/login", data={"email": "lead@demo.rollwise", "password": "demo-rollwise"}
    )
    assert response.status_code == 302
    return client


def test_plan_page_shows_its_sites_page_by_page_and_the_printable_plan_all(chain):
    import re

    from app.rollout.plans import wave_summary
    from app.rollout.routes import SITES_PER_PAGE

    plan = db.session.scalars(select(RolloutPlan).order_by(RolloutPlan.id)).first()
    expected = [ws.site.code for w in plan.waves for ws in wave_summary(plan, w)["sites"]]
    expected += sorted(ws.site.code for ws in plan.sites if ws.is_holdback)
    assert len(expected) == len(plan.sites) > SITES_PER_PAGE
    client = _lead_client(chain)
    pages = -(-len(expected) // SITES_PER_PAGE)
    shown = []
    for page in range(1, pages + 1):
        with StatementCount() as count:
            body = client.get(f"/rollout/{plan.id}?page={page}").get_data(as_text=True)
        codes = re.findall(r'data-testid="site-row-([^"]+)"', body)
        assert 0 < len(codes) <= SITES_PER_PAGE
        assert 'data-testid="site-pages"' in body
        assert len(count.statements) < 40
        shown += codes
    assert shown == expected  # every site once, in the order of the whole table
    first = client.get(f"/rollout/{plan.id}").get_data(as_text=True)
    assert re.findall(r'data-testid="site-row-([^"]+)"', first) == expected[:SITES_PER_PAGE]
    last = client.get(f"/rollout/{plan.id}?page={pages}").get_data(as_text=True)
    past = client.get(f"/rollout/{plan.id}?page=999").get_data(as_text=True)
    assert re.findall(r'data-testid="site-row-([^"]+)"', past) == re.findall(
        r'data-testid="site-row-([^"]+)"', last
    )
    printable = client.get(f"/rollout/{plan.id}/print").get_data(as_text=True)
    assert re.findall(r'data-testid="site-row-([^"]+)"', printable) == expected


def test_plan_page_reads_the_reasons_of_the_shown_rows_only_and_shows_each_rows_own(chain):
    import html
    import re

    from app.rollout.reasons import reason_text
    from app.rollout.routes import SITES_PER_PAGE

    plan = db.session.scalars(select(RolloutPlan).order_by(RolloutPlan.id)).first()
    plain = {ws.site.code: [reason_text(r) for r in ws.reasons] for ws in plan.sites}
    assert len(plain) > SITES_PER_PAGE and len({tuple(t) for t in plain.values()}) > 1
    client = _lead_client(chain)
    with StatementCount() as count:
        body = client.get(f"/rollout/{plan.id}?page=2").get_data(as_text=True)
    rows = re.split(r'<tr data-testid="site-row-', body)[1:]
    assert rows
    for row in rows:
        code = row.split('"', 1)[0]
        shown = [html.unescape(t) for t in re.findall(r"<li>(.*?)</li>", row.split("</tr>")[0])]
        assert shown == plain[code], code  # this row's reasons, in their order
        assert f"{len(plain[code])} reasons" in row
    read = [s for s in count.statements if "wave_sites.reasons" in s]
    assert len(read) == 1 and "wave_sites.id IN" in read[0]  # the shown rows', in one query
    listed = [s for s in count.statements if "wave_sites.plan_id =" in s]
    assert listed and all("wave_sites.reasons" not in s for s in listed)


def test_remembered_timeline_is_the_drawn_timeline_and_follows_the_plan(chain):
    from app.rollout import charts as rollout_charts
    from app.rollout.plans import capacity_use, wave_summaries

    plan = db.session.scalars(select(RolloutPlan).order_by(RolloutPlan.id)).first()
    rollout_charts._remembered_timeline.cache_clear()
    today = ChainSize(sites=SITES, days=DAYS).last_day
    first = rollout_charts.timeline_svg(plan, today=today)
    assert rollout_charts.timeline_svg(plan, today=today) == first
    summaries, _sites = wave_summaries(plan)  # as the plan page passes them
    given = rollout_charts.timeline_svg(
        plan, today=today, summaries=summaries, capacity=capacity_use(plan)
    )
    assert given == first
    assert len(rollout_charts._remembered_timeline.cache) == 1
    timeline = next(iter(rollout_charts._remembered_timeline.cache))[0]
    assert rollout_charts.draw_timeline(timeline) == first
    assert [w.n_sites for w in timeline.waves] == [
        sum(1 for ws in plan.sites if ws.wave_id == w.id) for w in plan.waves
    ]
    moved = next(ws for ws in plan.sites if ws.go_live_date is not None)
    moved.go_live_date += timedelta(days=1)
    db.session.flush()
    second = rollout_charts.timeline_svg(plan, today=today)
    assert len(rollout_charts._remembered_timeline.cache) == 2 and second != first


def test_load_sites_reads_expired_sites_again_in_the_same_statement(chain):
    ids = list(db.session.scalars(select(Site.id).order_by(Site.id).limit(30)))
    kept = load_sites(ids)
    db.session.rollback()  # every held site is now expired
    with StatementCount() as count:
        again = load_sites(ids)
        codes = [site.code for site in again]
    assert len(count.statements) == 1 and len(codes) == 30
    assert sorted(site.id for site in again) == ids and kept


def test_feedback_links_page_by_page_are_every_working_link_once(chain):
    import re

    from app.feedback import questionnaires as svc
    from app.feedback.routes import LINKS_PER_PAGE

    pilot = running_pilot()
    expected = [link.token[:8] for link in svc.pilot_links(pilot.id)]
    assert len(expected) > LINKS_PER_PAGE
    client = _lead_client(chain)
    pages = -(-len(expected) // LINKS_PER_PAGE)
    shown, counts = [], []
    for page in range(1, pages + 1):
        with StatementCount() as count:
            body = client.get(f"/feedback/pilots/{pilot.id}?page={page}").get_data(as_text=True)
        counts.append(len(count.statements))
        assert 'data-testid="link-pages"' in body
        shown += re.findall(r"/feedback/f/([0-9A-Za-z_-]{8})…", body)
    assert shown == expected
    assert max(counts) < 25  # no statement per link


def test_completeness_grid_pages_show_every_row_once_and_keep_the_whole_summary(chain):
    import re

    from app.pilots import observations as obs

    pilot = max(
        db.session.scalars(select(Pilot).where(Pilot.status == PilotStatus.RUNNING)),
        key=lambda p: len(p.assignments),
    )
    today = pilot.start_date + timedelta(days=20)
    window = obs.pilot_window(pilot, today)
    whole = obs.completeness_grid(pilot, pilot.primary_metric, window, today=today)
    assert whole.pages > 1 and len(whole.page_rows()) == obs.GRID_SITES_PER_PAGE
    rows = []
    for page in range(1, whole.pages + 1):
        grid = obs.completeness_grid(pilot, pilot.primary_metric, window, today=today, page=page)
        assert (grid.share(), grid.gaps()) == (whole.share(), whole.gaps())
        rows += grid.page_rows()
    assert [(s.id, arm, present) for s, arm, present in rows] == [
        (s.id, arm, present) for s, arm, present in whole.rows
    ]
    past = obs.completeness_grid(pilot, pilot.primary_metric, window, today=today, page=999)
    assert past.page_rows() == grid.page_rows()
    client = _lead_client(chain)
    body = client.get(f"/pilots/{pilot.id}?grid_page=2").get_data(as_text=True)
    grid_html = body.split('data-testid="completeness-grid"', 1)[1].split("</table>", 1)[0]
    codes = re.findall(r'<tr><th scope="row">.*?</span> ([^<]+)</th>', grid_html)
    second = [s.code for s, _arm, _p in whole.rows[obs.GRID_SITES_PER_PAGE :]]
    assert codes == second[: obs.GRID_SITES_PER_PAGE]
    assert 'data-testid="grid-pages"' in body


def test_feedback_overview_site_table_in_pages_lists_every_site_once(chain, monkeypatch):
    import re

    from app.feedback import routes as feedback_routes

    monkeypatch.setattr(feedback_routes, "OVERVIEW_SITES_PER_PAGE", 20)
    pilot = running_pilot()
    expected = sorted(a.site.code for a in pilot.assignments)
    assert len(expected) > 20
    client = _lead_client(chain)
    shown = []
    for page in range(1, -(-len(expected) // 20) + 1):
        body = client.get(f"/feedback/pilots/{pilot.id}/overview?sites_page={page}")
        table = body.get_data(as_text=True).split('data-testid="site-table"', 1)[1]
        rows = re.findall(r"site=\d+\">([^<]+)</a>", table.split("</table>", 1)[0])
        assert 0 < len(rows) <= 20
        shown += rows
    assert shown == expected


def test_page_of_clamps_and_covers_the_list():
    from app.core.paging import page_of

    items = list(range(45))
    pages = [page_of(items, p, 20) for p in (1, 2, 3)]
    assert [p.items for p in pages] == [items[:20], items[20:40], items[40:]]
    assert {p.pages for p in pages} == {3}
    assert page_of(items, 99, 20) == pages[-1] and page_of(items, -3, 20) == pages[0]
    assert page_of([], None, 20).items == [] and page_of([], None, 20).pages == 1


# ---------------------------------------------------------------- round three (issue 22)


def _same_numbers(fast, plain, where="overview"):
    """``fast`` and ``plain`` hold the same numbers (to 1e-9), lists, keys and frames."""
    import math

    if isinstance(plain, pd.DataFrame):
        pd.testing.assert_frame_equal(fast, plain, rtol=1e-9, obj=where)
    elif isinstance(plain, dict):
        assert set(fast) == set(plain), where
        for key in plain:
            _same_numbers(fast[key], plain[key], f"{where}[{key!r}]")
    elif isinstance(plain, list | tuple):
        assert len(fast) == len(plain), where
        for i, (a, b) in enumerate(zip(fast, plain, strict=True)):
            _same_numbers(a, b, f"{where}[{i}]")
    elif isinstance(plain, float) and isinstance(fast, float):
        assert fast == pytest.approx(plain, rel=1e-9, abs=1e-12) or (
            math.isnan(fast) and math.isnan(plain)
        ), where
    else:
        assert fast == plain, where


def _plain_rate_row(values):
    """Rate of one cell as the page computed it before: answered, share 4-5, mean."""
    answered = values.dropna()
    if not len(answered):
        return {"n": 0, "csat": None, "mean": None}
    return {
        "n": int(len(answered)),
        "csat": float((answered >= 4).mean()),
        "mean": float(answered.mean()),
    }


def _plain_cells(frame):
    return {
        f"{arm}_{period}": _plain_rate_row(
            frame.loc[(frame["arm"] == arm) & (frame["period"] == period), "value"]
        )
        for arm in ("pilot", "control")
        for period in ("pre", "post")
    }


def test_feedback_overview_counted_in_sql_equals_the_overview_from_plain_frames(chain, monkeypatch):
    """The overview with its rating table counted in the database, only the headline's and
    NPS answers read per response, and masks shared across cells, against the straightforward
    path: every frame read row by row, every cell filtered and rated in pandas."""
    from app.core.labels import category_key
    from app.feedback import analytics
    from app.feedback.questionnaires import current_form

    checked = 0
    for pilot in db.session.scalars(select(Pilot).where(Pilot.start_date.is_not(None))):
        fast = analytics._computed_overview(pilot, pilot.alpha)
        with monkeypatch.context() as patch:
            patch.setattr(
                analytics,
                "_frames_of",
                lambda p, keys=None: lambda key, aud: _plain_responses_frame(p, key, aud),
            )
            plain = analytics._computed_overview(pilot, pilot.alpha)
        for audience in Audience:
            form = current_form(pilot.id, audience)
            ratings = [q for q in form.questions if q["type"] == "rating"] if form else []
            plain_table = [
                {"question": q, **_plain_cells(_plain_responses_frame(pilot, q["key"], audience))}
                for q in ratings
            ]
            plain["audiences"][audience.value]["rating_table"] = plain_table
            checked += sum(row[c]["n"] for row in plain_table for c in analytics.CELLS)
        headline = plain["headline"]
        if headline["question"] is not None:
            frame = _plain_responses_frame(pilot, headline["question"]["key"], Audience.CUSTOMER)
            frame = frame.dropna(subset=["value"])
            order = {value: i for i, value in enumerate(headline["segment_options"])}
            groups = frame.dropna(subset=["segment"]).groupby("segment")
            headline["segment_table"] = [
                {
                    "segment": str(segment),
                    "option": headline["segment_options"].get(str(segment)),
                    "is_senior": str(segment) == analytics.SENIOR_SEGMENT,
                    **_plain_cells(group),
                }
                for segment, group in sorted(
                    groups, key=lambda kv: (order.get(kv[0], len(order)), category_key(kv[0]))
                )
            ]
        _same_numbers(fast, plain)
    assert checked > 1000  # rated answers compared, over every pilot that has started


_AFTER_AN_ID = "feedback_responses.id >"


def _sorted_rows(rows):
    """A :class:`PilotRows`' frames in a fixed order (the database returns rows unordered)."""
    return (
        {a: f.sort_values("response_id").reset_index(drop=True) for a, f in rows.bases.items()},
        {
            a: f.sort_values(["response_id", "key"]).reset_index(drop=True)
            for a, f in rows.answers.items()
        },
    )


def _assert_same_rows(got, expected):
    for mine, theirs in zip(_sorted_rows(got), _sorted_rows(expected), strict=True):
        assert set(mine) == set(theirs)
        for audience in theirs:
            pd.testing.assert_frame_equal(mine[audience], theirs[audience], obj=str(audience))


def test_pilot_rows_grow_by_the_new_responses_and_are_read_again_after_a_deletion(chain):
    from app.feedback import analytics
    from app.feedback.questionnaires import current_form
    from app.models import FeedbackAnswer

    pilot = running_pilot()
    chain.extensions.pop("rollwise.pilot_rows", None)
    first = analytics.pilot_rows(pilot)
    _assert_same_rows(first, analytics._read_pilot_rows(pilot))
    with StatementCount() as count:
        assert analytics.pilot_rows(pilot) is first
    assert len(count.statements) == 2  # the stamp and the arms: nothing read again

    # a customer and a staff member answer: only their responses and answers are read
    site = next(a.site for a in pilot.assignments if a.arm.value == "pilot")
    latest = max(
        db.session.scalars(
            select(FeedbackResponse.submitted_at).where(FeedbackResponse.pilot_id == pilot.id)
        )
    )
    for audience, key, value in ((Audience.CUSTOMER, "overall", 2.0), (Audience.STAFF, None, 0)):
        form = current_form(pilot.id, audience)
        key = key or next(q["key"] for q in form.questions if q["type"] == "rating")
        response = FeedbackResponse(
            form_id=form.id, pilot_id=pilot.id, site_id=site.id, audience=audience,
            submitted_at=latest, segment="60+" if audience is Audience.CUSTOMER else None,
        )  # fmt: skip
        response.answers.append(
            FeedbackAnswer(question_key=key, question_type="rating", value_num=value or 4.0)
        )
        db.session.add(response)
    db.session.flush()
    with StatementCount() as count:
        grown = analytics.pilot_rows(pilot)
    _assert_same_rows(grown, analytics._read_pilot_rows(pilot))
    assert all(len(grown.bases[a]) == len(first.bases[a]) + 1 for a in Audience)
    new_only = [s for s in count.statements if _AFTER_AN_ID in s or "response_id >" in s]
    assert len(new_only) == 1 + 2 * len(Audience)  # the check, then responses and answers

    # a response deleted: everything is read again, and the deleted one is gone
    gone = db.session.get(FeedbackResponse, int(first.bases[Audience.CUSTOMER]["response_id"][0]))
    db.session.delete(gone)
    db.session.flush()
    with StatementCount() as count:
        again = analytics.pilot_rows(pilot)
    _assert_same_rows(again, analytics._read_pilot_rows(pilot))
    assert gone.id not in set(again.bases[Audience.CUSTOMER]["response_id"])
    assert not [s for s in count.statements if _AFTER_AN_ID in s]  # all read, none added


def _fresh_overview(pilot):
    """The page's overview computed now, without the remembered one."""
    from flask import current_app

    from app.feedback import analytics

    current_app.extensions.pop("rollwise.pilot_rows", None)  # its rows read afresh too
    out = analytics._computed_overview(pilot, pilot.alpha)
    sites = {a.site_id: a.site for a in pilot.assignments}
    out["sites"] = [{"site": sites[row.pop("site_id")], **row} for row in out["sites"]]
    out["adjustments"] = analytics.chart_marks(pilot)
    return out


def test_remembered_overview_is_the_computed_one_until_a_response_arrives(chain):
    from app.feedback import analytics, tagging
    from app.feedback.questionnaires import current_form
    from app.models import FeedbackAnswer

    pilot = running_pilot()
    analytics._remembered_overviews().clear()
    first = analytics.pilot_overview(pilot)
    _same_numbers(first, _fresh_overview(pilot))
    with StatementCount() as count:
        again = analytics.pilot_overview(pilot)
    _same_numbers(again, first)
    assert again is not first and again["sites"][0] is not first["sites"][0]
    assert len(count.statements) <= 6  # the stamp, the sites, the marks: nothing recomputed
    assert len(analytics._remembered_overviews()) == 1

    # a new customer response at a pilot site, after the start: the page changes at once
    form = current_form(pilot.id, Audience.CUSTOMER)
    key = first["headline"]["question"]["key"]
    site = next(a.site for a in pilot.assignments if a.arm.value == "pilot")
    response = FeedbackResponse(
        form_id=form.id,
        pilot_id=pilot.id,
        site_id=site.id,
        audience=Audience.CUSTOMER,
        submitted_at=max(
            r
            for r in db.session.scalars(
                select(FeedbackResponse.submitted_at).where(FeedbackResponse.pilot_id == pilot.id)
            )
        ),
        segment="60+",
    )
    response.answers.append(FeedbackAnswer(question_key=key, question_type="rating", value_num=1.0))
    db.session.add(response)
    db.session.flush()
    after = analytics.pilot_overview(pilot)
    customer = after["audiences"]["customer"]
    assert customer["n"] == first["audiences"]["customer"]["n"] + 1
    assert after["headline"]["comparison"] != first["headline"]["comparison"]
    _same_numbers(after, _fresh_overview(pilot))

    # flagging a response changes the site table's flagged count
    tagging.set_flag(response, True, by=None)
    flagged = analytics.pilot_overview(pilot)
    row = next(r for r in flagged["sites"] if r["site"] is site)
    before = next(r for r in after["sites"] if r["site"] is site)
    assert row["flagged"] == before["flagged"] + 1
    _same_numbers(flagged, _fresh_overview(pilot))

    # moving a site to the other arm changes the arms of every table
    assignment = next(a for a in pilot.assignments if a.site_id == site.id)
    assignment.arm = type(assignment.arm)("control")
    db.session.flush()
    moved = analytics.pilot_overview(pilot)
    assert next(r for r in moved["sites"] if r["site"] is site)["arm"] == "control"
    _same_numbers(moved, _fresh_overview(pilot))
    assert len(analytics._remembered_overviews()) == 4


def _theme_window(pilot):
    """The overview's theme window of ``pilot`` (since, first, last day) and the themes
    computed straight from the database for it."""
    from app.feedback import analytics

    last = max(
        db.session.scalars(
            select(FeedbackResponse.submitted_at).where(FeedbackResponse.pilot_id == pilot.id)
        )
    ).date()
    first, since = last - timedelta(days=6), pilot.pre_start

    def computed():
        return (
            analytics.top_themes(pilot, since, last, limit=10),
            analytics.themes_by_day_and_site(pilot, first, last),
        )

    return since, first, last, computed


def test_themes_stay_remembered_after_a_rating_only_response_and_follow_a_flag(chain):
    from app.feedback import analytics
    from app.models import FeedbackAnswer

    pilot = running_pilot()
    since, first, last, computed = _theme_window(pilot)
    analytics._remembered_overviews().clear()
    remembered = analytics.overview_themes(pilot, since, first, last)
    # a customer rates without a comment: the pilot's responses change, its themes do not
    model = db.session.scalars(
        select(FeedbackResponse).where(FeedbackResponse.pilot_id == pilot.id)
    ).first()
    rating = FeedbackResponse(
        form_id=model.form_id, pilot_id=pilot.id, site_id=model.site_id,
        audience=model.audience, submitted_at=datetime.combine(last, time(12), tzinfo=UTC),
    )  # fmt: skip
    rating.answers.append(
        FeedbackAnswer(question_key="overall", question_type="rating", value_num=5)
    )
    before = analytics.responses_stamp(pilot)
    db.session.add(rating)
    db.session.flush()
    assert analytics.responses_stamp(pilot) != before
    with StatementCount() as count:
        assert analytics.overview_themes(pilot, since, first, last) == remembered
    assert not [s for s in count.statements if "comment_tags.tag" in s]  # nothing recounted
    assert remembered == computed()

    # flagging a tagged response strongly negative changes its themes' negative counts at once
    tagged = db.session.scalars(
        select(FeedbackResponse)
        .join(FeedbackAnswer)
        .where(
            FeedbackResponse.pilot_id == pilot.id,
            FeedbackResponse.is_flagged_negative.is_(False),
            FeedbackResponse.submitted_at >= datetime.combine(first, time(12), tzinfo=UTC),
            FeedbackAnswer.tags.any(),
        )
    ).first()
    tagged.is_flagged_negative = True
    db.session.flush()
    flagged = analytics.overview_themes(pilot, since, first, last)
    assert flagged == computed() and flagged != remembered
    assert sum(r["negative"] for r in flagged[0]) > sum(r["negative"] for r in remembered[0])


def test_remembered_themes_are_the_computed_ones_until_a_tag_or_response_changes(chain):
    from flask_babel import force_locale

    from app.feedback import analytics, tagging
    from app.models import FeedbackAnswer

    pilot = running_pilot()
    since, first, last, computed = _theme_window(pilot)

    analytics._remembered_overviews().clear()
    remembered = analytics.overview_themes(pilot, since, first, last)
    assert remembered == computed() and remembered[0], "the chain's comments carry themes"
    with StatementCount() as count:
        assert analytics.overview_themes(pilot, since, first, last) == remembered
    assert len(count.statements) == 2  # the two stamps; no theme is read again

    # a person gives a comment of the window the most frequent theme: its count goes up at once
    top = remembered[0][0]
    answer = next(
        a
        for a in db.session.scalars(
            select(FeedbackAnswer)
            .join(FeedbackResponse)
            .where(
                FeedbackResponse.pilot_id == pilot.id,
                FeedbackAnswer.value_text.is_not(None),
                FeedbackResponse.submitted_at >= datetime.combine(first, time(12), tzinfo=UTC),
            )
        )
        if top["tag"] not in {t.tag for t in a.tags}
    )
    tagging.add_manual_tag(answer, top["tag"])
    tagged = analytics.overview_themes(pilot, since, first, last)
    assert tagged == computed() != remembered
    assert tagged[0][0]["count"] == top["count"] + 1

    # removing it again gives the first numbers back, and each language has its own labels
    tagging.remove_tag(answer, top["tag"])
    assert analytics.overview_themes(pilot, since, first, last) == remembered
    with force_locale("zh_CN"):
        chinese = analytics.overview_themes(pilot, since, first, last)
        assert chinese == computed()
    assert [r["label"] for r in chinese[0]] != [r["label"] for r in remembered[0]]
