"""``flask demo seed``: a realistic, deterministic demo data set that lives in today.

A chain of 60 restaurants in 4 regions. Every date is counted back from the last day with
data (by default yesterday, in the organisation's time zone), so the demo tells the same
story whichever day it is seeded:

* **QR-code self-ordering** is *running*: 10 pilot sites against 30 control sites, 28
  pre-period days and 28 pilot days so far (up to yesterday) of six daily metrics with site
  effects, weekday seasonality and AR(1) noise; six weeks planned, so it ends in two weeks.
  The change cuts waiting time and lifts table turnover, and leaves the average ticket alone.
  Seniors at pilot sites dislike the new process in the first week and recover once the day-7
  retrospective decides that staff assist them. Daily retrospectives up to yesterday; their
  actions are mostly done, a few are due in the coming days, one is a few days late.
* **Kitchen display screens** is *decided* (``app.demo.finished``): it ended three weeks
  ago, its report is approved (roll out) and its rollout plan is a draft.
* **Digital queue tickets** is *rolling out* (``app.demo.rollout``): approved report, an
  active plan, wave 1 passed its gate, wave 2 is live with its gate due this week.

The staff demo user works at a site that takes part in all three: a QR pilot site, a
kitchen-screen pilot site, and a digital-queue control site in the live wave 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
from sqlalchemy import func, select

from app.core import clock
from app.demo.catalogue import CUSTOMER_COMMENTS, METRICS, REGIONS, RETRO_NOTES, STAFF_COMMENTS
from app.demo.metrics import add_metric
from app.extensions import db
from app.feedback.ready_made import customer_template, staff_template
from app.models import (
    ActionItem,
    ActionStatus,
    Adjustment,
    AdjustmentScope,
    Arm,
    Assignment,
    AssignmentMethod,
    Audience,
    FeedbackAnswer,
    FeedbackForm,
    FeedbackResponse,
    FormLink,
    Metric,
    MetricRole,
    Observation,
    Pilot,
    PilotMetric,
    PilotStatus,
    QuestionType,
    ResponseChannel,
    RetroItem,
    Retrospective,
    Role,
    Site,
    SizeTier,
    User,
)

DEMO_PASSWORD = "demo-rollwise"  # noqa: S105 - published demo password, demo data only
DEMO_USERS = [
    ("admin@demo.rollwise", "Admin 管理员", Role.ADMIN),
    ("lead@demo.rollwise", "Lin Chen 陈琳", Role.CHANGE_LEAD),
    ("staff@demo.rollwise", "Wang Fang 王芳", Role.STAFF),
    ("analyst@demo.rollwise", "Zhou Lei 周磊", Role.ANALYST),
]

PRE_DAYS = 28
#: Days the QR pilot has run up to the last day with data (its first day is 27 days before).
PILOT_DAYS = 28
#: Days the QR pilot is planned to run: it ends two weeks after the day after the last day.
PLANNED_DAYS = 42
ADJUSTMENT_DAY = 8  # decided in the day-7 retro, effective on day 8
#: The QR pilot's actions: (retro day, title, status, days from the retro to the due date,
#: owned by the staff user). Seeded the day after the last retro, the done ones are closed,
#: one open action is 4 days late, one is due that day and two in the following days.
ACTIONS = (
    (2, "Fix the Wi-Fi at the two sites with payment failures", ActionStatus.DONE, 3, False),
    (5, "Print large-font menu cards", ActionStatus.DONE, 3, True),
    (7, "Train door staff to help seniors order", ActionStatus.DONE, 3, False),
    (12, "Check printer paper stock before the lunch peak", ActionStatus.DONE, 3, False),
    (18, "Swap the slow menu pictures for lighter ones", ActionStatus.DONE, 3, False),
    (22, "Replace worn QR stickers on the tables", ActionStatus.OPEN, 3, False),
    (25, "Draft the rollout training pack", ActionStatus.IN_PROGRESS, 4, False),
    (27, "Collect staff ideas for the rollout checklist", ActionStatus.OPEN, 4, True),
    (28, "Plan the end-of-pilot review with the analyst", ActionStatus.OPEN, 6, False),
)


def default_last_day() -> date:
    """The last day with demo data: yesterday in the organisation's time zone."""
    return clock.today() - timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SeedSummary:
    sites: int
    observations: int
    responses: int
    retros: int
    users: list[tuple[str, str]]


def database_is_empty() -> bool:
    return not db.session.scalar(select(func.count(Site.id)))


@contextmanager
def emptied_if_it_fails() -> Iterator[None]:
    """Seed inside this block: when it fails, an empty database is emptied again.

    The seeds commit part-way (a report job commits its own work, the chain seed commits per
    block), so a seed that fails -- an error, Ctrl-C -- would leave a half-built demo that
    ``--if-empty`` then keeps for good. A database with data before the block is never
    touched.
    """
    was_empty = database_is_empty()
    try:
        yield
    except BaseException:
        db.session.rollback()
        if was_empty:
            for table in reversed(db.metadata.sorted_tables):
                db.session.execute(table.delete())
            db.session.commit()
        raise


def seed(seed_value: int = 20261122, last_day: date | None = None) -> SeedSummary:
    """Create the demo chain with data up to ``last_day`` (default: yesterday).

    The caller commits; the two approved reports are computed by the report job
    (``compute_report``), which commits its own work.
    """
    last_day = last_day or default_last_day()
    rng = np.random.default_rng(seed_value)
    sites = _make_sites(rng)
    metrics = _make_metrics()
    users = _make_users(sites)
    start = last_day - timedelta(days=PILOT_DAYS - 1)
    pilot, pilot_sites, control_sites = _make_pilot(rng, sites, metrics, users, start)
    n_obs = _make_observations(rng, sites, pilot_sites, control_sites, metrics, start)
    adjustment = _make_retros(rng, pilot, pilot_sites, users, start)
    n_resp = _make_feedback(rng, pilot, pilot_sites, control_sites, start, adjustment)
    db.session.flush()
    _derive(pilot, last_day)
    return SeedSummary(
        sites=len(sites),
        observations=n_obs,
        responses=n_resp,
        retros=PILOT_DAYS,
        users=[(email, role.value) for email, _name, role in DEMO_USERS],
    )


def _derive(pilot: Pilot, last_day: date) -> None:
    """What the app derives from raw data (comment themes, daily feedback metrics), then the
    pilot whose rollout is under way and the one just decided."""
    from app.demo.finished import seed_finished_demo
    from app.demo.rollout import seed_rollout_demo
    from app.feedback.daily_metrics import sync_pilot_metrics
    from app.feedback.tagging import retag_pilot

    retag_pilot(pilot.id)
    sync_pilot_metrics(pilot, today=last_day)
    seed_rollout_demo(last_day)
    seed_finished_demo(last_day)


def _make_sites(rng: np.random.Generator) -> list[Site]:
    sites: list[Site] = []
    number = 0
    for region, cities in REGIONS.items():
        for city, districts in cities:
            for district in districts:
                number += 1
                tier = rng.choice(
                    [SizeTier.SMALL, SizeTier.MEDIUM, SizeTier.LARGE], p=[0.3, 0.45, 0.25]
                )
                base_staff = {"small": 12, "medium": 20, "large": 32}[tier.value]
                management = float(np.clip(rng.normal(68, 12), 30, 98))
                digital = float(
                    np.clip(rng.normal(62 + (8 if region == "East" else 0), 15), 20, 98)
                )
                senior = float(
                    np.clip(rng.beta(3, 9) + (0.06 if region == "North" else 0), 0.03, 0.6)
                )
                site = Site(
                    code=f"R{number:03d}",
                    name=f"{city}{district}店",
                    region=region,
                    city=city,
                    size_tier=tier,
                    staff_count=int(base_staff + rng.integers(-3, 4)),
                    management_score=round(management, 1),
                    digital_readiness=round(digital, 1),
                    senior_share=round(senior, 3),
                    daily_orders=None,
                    attributes={"opened": int(rng.integers(2012, 2024))},
                )
                sites.append(site)
    db.session.add_all(sites)
    db.session.flush()
    return sites


def _make_metrics() -> dict[str, Metric]:
    metrics = {}
    for spec in METRICS:
        metrics[spec[0]] = add_metric(*spec)
    db.session.flush()
    return metrics


def _proposal_reasons(site: Site) -> list[dict]:
    """The reasons the demo gives for choosing a pilot site (region and size tier)."""
    return [
        {"code": "region", "params": {"region": site.region}, "text": f"region {site.region}"},
        {
            "code": "size_tier",
            "params": {"tier": site.size_tier.value},
            "text": f"size {site.size_tier.value}",
        },
    ]


def _make_users(sites: list[Site]) -> dict[Role, User]:
    users = {}
    for email, name, role in DEMO_USERS:
        user = User(email=email, name=name, role=role)
        user.set_password(DEMO_PASSWORD)
        users[role] = user
        db.session.add(user)
    return users


def _pick_pilot_sites(rng: np.random.Generator, sites: list[Site]) -> list[Site]:
    """Ten sites, spread over regions, leaning to busy sites where waiting is a problem."""
    per_region = {"East": 3, "South": 3, "North": 2, "Southwest": 2}
    chosen: list[Site] = []
    for region, count in per_region.items():
        candidates = [s for s in sites if s.region == region and s.size_tier is not SizeTier.SMALL]
        order = rng.permutation(len(candidates))[:count]
        chosen.extend(candidates[i] for i in order)
    return chosen


def _make_pilot(rng, sites, metrics, users, start):
    pilot_sites = _pick_pilot_sites(rng, sites)
    others = [s for s in sites if s not in pilot_sites]
    control_sites = [others[i] for i in sorted(rng.permutation(len(others))[:30])]
    pilot = Pilot(
        name="QR-code self-ordering",
        change_description=(
            "Customers order and pay from their phone by scanning the QR code on the table, "
            "instead of queueing at the counter."
        ),
        hypothesis=(
            "Self-ordering cuts the average wait by at least 2 minutes and raises table "
            "turnover, without lowering the average ticket or satisfaction."
        ),
        owner=users[Role.CHANGE_LEAD],
        status=PilotStatus.RUNNING,
        pre_start=start - timedelta(days=PRE_DAYS),
        start_date=start,
        end_date=start + timedelta(days=PLANNED_DAYS - 1),
        created_at=datetime.combine(start - timedelta(days=PRE_DAYS + 7), time(2, 0), UTC),
        alpha=0.05,
        min_effect=2.0,
        wizard_step=5,
        design_locked_at=datetime.combine(start, time(8, 0), tzinfo=UTC),
        retros_visible_to_staff=True,
    )
    db.session.add(pilot)
    roles = [
        ("avg_wait_min", MetricRole.PRIMARY, None, 2.0),
        ("avg_ticket", MetricRole.GUARDRAIL, 3.0, None),
        ("satisfaction_rate", MetricRole.GUARDRAIL, 0.03, None),
        ("complaints", MetricRole.GUARDRAIL, 0.5, None),
        ("table_turnover", MetricRole.SECONDARY, None, None),
        ("orders", MetricRole.SECONDARY, None, None),
    ]
    for position, (key, role, margin, min_effect) in enumerate(roles):
        pilot.metric_links.append(
            PilotMetric(
                metric=metrics[key],
                role=role,
                margin=margin,
                min_effect=min_effect,
                position=position,
            )
        )
    for arm, method, arm_sites in (
        (Arm.PILOT, AssignmentMethod.PROPOSED, pilot_sites),
        (Arm.CONTROL, AssignmentMethod.RANDOM_STRATIFIED, control_sites),
    ):
        for site in arm_sites:
            reasons = _proposal_reasons(site) if arm is Arm.PILOT else []
            pilot.assignments.append(
                Assignment(site=site, arm=arm, method=method, stratum=site.region, reasons=reasons)
            )
    users[Role.STAFF].site = pilot_sites[0]
    db.session.flush()
    return pilot, pilot_sites, control_sites


def _ar1(rng: np.random.Generator, n: int, rho: float, sd: float) -> np.ndarray:
    noise = rng.normal(0.0, sd * np.sqrt(1 - rho**2), n)
    out = np.empty(n)
    out[0] = rng.normal(0.0, sd)
    for i in range(1, n):
        out[i] = rho * out[i - 1] + noise[i]
    return out


def _make_observations(rng, sites, pilot_sites, control_sites, metrics, start) -> int:
    days = [
        start - timedelta(days=PRE_DAYS) + timedelta(days=i) for i in range(PRE_DAYS + PILOT_DAYS)
    ]
    n = len(days)
    weekend = np.array([d.weekday() >= 5 for d in days], dtype=float)
    friday = np.array([d.weekday() == 4 for d in days], dtype=float)
    day_index = np.arange(n) - PRE_DAYS  # 0 on the first pilot day
    post = (day_index >= 0).astype(float)
    ramp = np.clip((day_index + 1) / 3.0, 0, 1) * post  # the change takes 3 days to bed in
    first_week = ((day_index >= 0) & (day_index < ADJUSTMENT_DAY - 1)).astype(float)
    rows = []
    pilot_ids = {s.id for s in pilot_sites}
    gap_site = control_sites[5].id  # one site with a few days missing: visible data gaps
    for site in sites:
        treated = site.id in pilot_ids
        size = {"small": 0.7, "medium": 1.0, "large": 1.45}[site.size_tier.value]
        senior = site.senior_share or 0.2
        wait = (
            10.5
            + 2.5 * (size - 1)
            + 6 * (senior - 0.2)
            + rng.normal(0, 1.3)
            + 2.2 * weekend
            + 0.8 * friday
            + _ar1(rng, n, 0.5, 0.9)
        )
        turnover = (
            3.4 + 0.3 * (1 - size) + rng.normal(0, 0.25) + 0.45 * weekend + _ar1(rng, n, 0.5, 0.12)
        )
        orders = (
            520
            * size
            * (1 + 0.28 * weekend + 0.1 * friday)
            * np.exp(rng.normal(0, 0.08) + _ar1(rng, n, 0.5, 0.06))
        )
        ticket = 66 + rng.normal(0, 5) + 4 * weekend + _ar1(rng, n, 0.4, 1.8)
        complaints_rate = 1.2 * size * (1 + 0.2 * weekend)
        satisfaction = 0.80 + rng.normal(0, 0.03) + _ar1(rng, n, 0.5, 0.025)
        if treated:
            wait = wait - 3.1 * ramp
            turnover = turnover + 0.28 * ramp
            orders = orders * (1 + 0.03 * ramp)
            complaints_rate = complaints_rate * (
                1 + 0.35 * first_week - 0.15 * post * (1 - first_week)
            )
            satisfaction = satisfaction - 0.05 * first_week + 0.03 * post * (1 - first_week)
        complaints = rng.poisson(np.maximum(complaints_rate, 0.05))
        series = {
            "avg_wait_min": np.round(np.maximum(wait, 1.0), 2),
            "table_turnover": np.round(np.maximum(turnover, 0.5), 2),
            "orders": np.round(orders),
            "avg_ticket": np.round(ticket, 2),
            "complaints": complaints.astype(float),
            "satisfaction_rate": np.round(np.clip(satisfaction, 0, 1), 3),
        }
        for key, values in series.items():
            metric_id = metrics[key].id
            for i, day in enumerate(days):
                if site.id == gap_site and day_index[i] in (9, 10, 11):
                    continue
                rows.append(
                    {
                        "site_id": site.id,
                        "metric_id": metric_id,
                        "date": day,
                        "value": float(values[i]),
                    }
                )
    db.session.execute(Observation.__table__.insert(), rows)
    orders_id = metrics["orders"].id
    totals: dict[int, list[float]] = {}
    for row in rows:
        if row["metric_id"] == orders_id:
            totals.setdefault(row["site_id"], []).append(row["value"])
    for site in sites:
        site.daily_orders = round(float(np.mean(totals[site.id])), 1)
    return len(rows)


def _make_retros(rng, pilot, pilot_sites, users, start) -> Adjustment:
    lead = users[Role.CHANGE_LEAD]
    adjustment = None
    retros: dict[int, Retrospective] = {}
    for day in range(1, PILOT_DAYS + 1):
        retro_date = start + timedelta(days=day - 1)
        retro = retros[day] = Retrospective(
            pilot=pilot,
            date=retro_date,
            facilitator=lead,
            attendees="陈琳, 王芳, 各试点店长 store managers",
        )
        db.session.add(retro)
        for category, notes in RETRO_NOTES.items():
            if day > ADJUSTMENT_DAY and category == "problems" and rng.random() < 0.5:
                continue
            text = notes[int(rng.integers(len(notes)))]
            retro.items.append(RetroItem(category=category, text=text))
        if day == ADJUSTMENT_DAY - 1:
            retro.items.append(
                RetroItem(
                    category="problems",
                    text="老年顾客满意度只有约65%：不会扫码点餐 / Seniors' satisfaction ~65%: "
                    "they cannot use QR ordering",
                    sites=pilot_sites[:3],
                )
            )
            retro.summary = "Decision: staff assist senior customers with ordering from tomorrow."
            adjustment = Adjustment(
                pilot=pilot,
                retro=retro,
                effective_date=retro_date + timedelta(days=1),
                title="Staff assist seniors with ordering",
                description=(
                    "A staff member at the door helps customers aged 60+ order on their phone "
                    "or takes their order on a tablet. 店员在门口协助老年顾客点餐。"
                ),
                scope=AdjustmentScope.CONDITION,
                condition={"attribute": "senior_share", "op": ">=", "value": 0.1},
                created_by_id=None,
            )
            adjustment.sites = [s for s in pilot_sites if (s.senior_share or 0) >= 0.1]
            db.session.add(adjustment)
    _make_actions(pilot, users, retros)
    assert adjustment is not None
    return adjustment


def _make_actions(pilot: Pilot, users: dict[Role, User], retros: dict[int, Retrospective]) -> None:
    """The actions of :data:`ACTIONS`, each decided in its pilot day's retro."""
    for day, title, status, due_in, staff_owns in ACTIONS:
        retro = retros[day]
        retro_date = retro.date
        done = status is ActionStatus.DONE
        db.session.add(
            ActionItem(
                pilot=pilot,
                retro=retro,
                title=title,
                owner=users[Role.STAFF] if staff_owns else users[Role.CHANGE_LEAD],
                due_date=retro_date + timedelta(days=due_in),
                status=status,
                created_on=retro_date,
                closed_on=retro_date + timedelta(days=2) if done else None,
                outcome="Done as planned." if done else None,
            )
        )


def _local_instant(day: date, minutes: int) -> datetime:
    """``minutes`` after 00:00 of the organisation's local ``day``, in UTC."""
    zone = clock.organisation_zone()
    moment = datetime.combine(day, time(0, 0), tzinfo=zone) + timedelta(minutes=minutes)
    return moment.astimezone(UTC)


def _make_feedback(rng, pilot, pilot_sites, control_sites, start, adjustment) -> int:
    """Forms, links and the demo's customer and staff answers, day by day.

    (Long on purpose: one generator of answers whose parts depend on each other.)
    """
    customer_form = FeedbackForm(pilot=pilot, audience=Audience.CUSTOMER, **customer_template())
    staff_form = FeedbackForm(pilot=pilot, audience=Audience.STAFF, **staff_template())
    db.session.add_all([customer_form, staff_form])
    for site in [*pilot_sites, *control_sites]:
        for audience in Audience:
            db.session.add(FormLink(pilot=pilot, site=site, audience=audience))
    db.session.flush()
    pilot_ids = {s.id for s in pilot_sites}
    assisted = {s.id for s in adjustment.sites}
    responses, answers = [], []
    next_id = 0  # position in ``responses``; the database assigns the real ids below
    first_day = start - timedelta(days=PRE_DAYS)
    for offset in range(PRE_DAYS + PILOT_DAYS):
        day = first_day + timedelta(days=offset)
        pilot_day = offset - PRE_DAYS + 1  # 1 on the first pilot day
        for site in [*pilot_sites, *control_sites]:
            treated = site.id in pilot_ids
            for _ in range(int(rng.poisson(5 if treated else 3))):
                senior = rng.random() < (site.senior_share or 0.2)
                segment = "60+" if senior else str(rng.choice(["under_30", "30_59"]))
                p_happy = 0.80
                if treated and pilot_day >= 1:
                    if senior:
                        p_happy = (
                            0.89 if (pilot_day >= ADJUSTMENT_DAY and site.id in assisted) else 0.65
                        )
                    else:
                        p_happy = 0.86
                happy = rng.random() < p_happy
                rating = (
                    int(rng.choice([4, 5], p=[0.55, 0.45]))
                    if happy
                    else int(rng.choice([1, 2, 3], p=[0.15, 0.3, 0.55]))
                )
                nps = int(np.clip(rating * 2 + rng.integers(-1, 2), 0, 10))
                ease = int(np.clip(rating + rng.integers(-1, 2), 1, 5))
                # between 11:00 and 21:00 local time: a day's answers belong to that day
                submitted = _local_instant(day, 11 * 60 + int(rng.integers(0, 600)))
                responses.append(
                    {
                        "form_id": customer_form.id,
                        "pilot_id": pilot.id,
                        "site_id": site.id,
                        "audience": Audience.CUSTOMER,
                        "channel": ResponseChannel.QR,
                        "submitted_at": submitted,
                        "segment": segment,
                        "language": "zh_CN" if rng.random() < 0.85 else "en",
                        "is_flagged_negative": rating <= 1,
                    }
                )
                answers += [
                    _answer(next_id, "overall", QuestionType.RATING, rating),
                    _answer(next_id, "ease", QuestionType.RATING, ease),
                    _answer(next_id, "recommend", QuestionType.NPS, nps),
                    {
                        "response_id": next_id,
                        "question_key": "age_band",
                        "question_type": QuestionType.SINGLE_CHOICE,
                        "value_num": None,
                        "value_text": None,
                        "value_choices": [segment],
                    },
                ]
                if rng.random() < 0.3:
                    answers.append(
                        {
                            "response_id": next_id,
                            "question_key": "comment",
                            "question_type": QuestionType.TEXT,
                            "value_num": None,
                            "value_text": _comment(rng, happy, senior and treated),
                            "value_choices": None,
                        }
                    )
                next_id += 1
        if pilot_day >= 1 and pilot_day % 7 == 1:  # weekly staff pulse at pilot sites
            for site in pilot_sites:
                for _ in range(3):
                    attitude = int(np.clip(rng.normal(3.6, 0.9), 1, 5))
                    responses.append(
                        {
                            "form_id": staff_form.id,
                            "pilot_id": pilot.id,
                            "site_id": site.id,
                            "audience": Audience.STAFF,
                            "channel": ResponseChannel.LOGGED_IN,
                            "submitted_at": _local_instant(day, 21 * 60),
                            "segment": None,
                            "language": "zh_CN",
                            "is_flagged_negative": False,
                        }
                    )
                    answers += [
                        _answer(next_id, "workload", QuestionType.RATING, int(rng.integers(2, 6))),
                        _answer(next_id, "ease", QuestionType.RATING, int(rng.integers(2, 6))),
                        _answer(next_id, "attitude", QuestionType.RATING, attitude),
                        {
                            "response_id": next_id,
                            "question_key": "suggestions",
                            "question_type": QuestionType.TEXT,
                            "value_num": None,
                            "value_text": STAFF_COMMENTS[int(rng.integers(len(STAFF_COMMENTS)))],
                            "value_choices": None,
                        },
                    ]
                    next_id += 1
    table = FeedbackResponse.__table__
    ids = (
        db.session.execute(
            table.insert().returning(table.c.id, sort_by_parameter_order=True), responses
        )
        .scalars()
        .all()
    )
    for answer in answers:
        answer["response_id"] = ids[answer["response_id"]]
    db.session.execute(FeedbackAnswer.__table__.insert(), answers)
    return len(responses)


def _answer(response_id: int, key: str, kind: QuestionType, value: float) -> dict:
    return {
        "response_id": response_id,
        "question_key": key,
        "question_type": kind,
        "value_num": float(value),
        "value_text": None,
        "value_choices": None,
    }


def _comment(rng, happy: bool, senior_at_pilot: bool) -> str:
    if senior_at_pilot:
        pool = CUSTOMER_COMMENTS["senior_positive" if happy else "senior_negative"]
    else:
        pool = CUSTOMER_COMMENTS["positive" if happy else "negative"]
    return pool[int(rng.integers(len(pool)))]
