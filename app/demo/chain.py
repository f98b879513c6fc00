"""``flask demo seed --scale chain``: a chain-sized data set for measuring the pages.

2,000 sites in 8 regions, 730 days of 10 daily metrics (14.6 M observations), 200,000
feedback responses, 12 pilots in every state (3 of them running on 40 to 200 sites), daily
retrospectives with adjustments and actions, and two rollout plans over 1,500 sites.
``sites`` and ``days`` scale it down; feedback and rollout sizes follow in proportion.

Observations go through the observation import's own plan and bulk write
(:func:`plan_observations` and :func:`apply_observations`, COPY on PostgreSQL), one block of
sites at a time, so memory stays bounded. Feedback responses are written by a small bulk
adapter here (see :func:`_write_responses`): the feedback writer stores one response per
statement, too slow for 200,000; the adapter masks free text and tags comments with the
same functions the writer uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy import text as sql

from app.demo.catalogue import CUSTOMER_COMMENTS, METRICS, RETRO_NOTES, ROLLOUT_METRICS
from app.demo.metrics import add_metric
from app.demo.seed import DEMO_PASSWORD, DEMO_USERS, default_last_day
from app.extensions import db
from app.feedback import themes
from app.feedback.masking import mask
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
    CommentTag,
    Decision,
    FeedbackAnswer,
    FeedbackForm,
    FeedbackResponse,
    FormLink,
    Metric,
    MetricRole,
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

CHAIN_REGIONS = (
    "East", "South", "North", "Southwest", "Central", "Northeast", "Northwest", "Southeast",
)  # fmt: skip
#: Two metrics beyond the demo's eight, so that a site-day has ten values.
EXTRA_METRICS = [
    ("staff_hours", "Staff hours", "员工工时", "h", "continuous", "decrease"),
    ("food_waste_kg", "Food waste", "食物浪费", "kg", "continuous", "decrease"),
]
FULL_SITES = 2_000
FULL_DAYS = 730
FULL_RESPONSES = 200_000
FULL_ROLLOUT_SITES = 1_500
PRE_DAYS = 28
PILOT_DAYS = 28
#: The smallest history that holds a pre-period and a pilot period.
MIN_DAYS = PRE_DAYS + PILOT_DAYS
#: Sites per block of observations written at once (× days × 10 values).
SITE_BLOCK = 100
RESPONSE_BLOCK = 20_000
#: The 12 pilots: status, and total sites (pilot + control) at full scale.
PILOT_STATES = [
    (PilotStatus.RUNNING, 200),
    (PilotStatus.RUNNING, 120),
    (PilotStatus.RUNNING, 40),
    (PilotStatus.DRAFT, 0),
    (PilotStatus.DRAFT, 40),
    (PilotStatus.ANALYSING, 60),
    (PilotStatus.ANALYSING, 40),
    (PilotStatus.DECIDED, 60),
    (PilotStatus.DECIDED, 40),
    (PilotStatus.ROLLING_OUT, 60),
    (PilotStatus.ROLLING_OUT, 60),
    (PilotStatus.DONE, 40),
]


@dataclass(frozen=True, slots=True)
class ChainSize:
    """How big the chain is; every count below follows from ``sites`` and ``days``."""

    sites: int = FULL_SITES
    days: int = FULL_DAYS
    last_day: date = field(default_factory=default_last_day)

    def __post_init__(self) -> None:
        if self.sites < 30:
            raise ValueError(f"a chain needs at least 30 sites (got {self.sites})")
        if self.days < MIN_DAYS:
            raise ValueError(f"a chain needs at least {MIN_DAYS} days (got {self.days})")

    @property
    def first_day(self) -> date:
        return self.last_day - timedelta(days=self.days - 1)

    @property
    def metrics(self) -> int:
        return len(METRICS) + len(ROLLOUT_METRICS) + len(EXTRA_METRICS)

    @property
    def observations(self) -> int:
        return self.sites * self.days * self.metrics

    @property
    def responses(self) -> int:
        share = (self.sites / FULL_SITES) * (self.days / FULL_DAYS)
        return max(100, round(FULL_RESPONSES * share))

    @property
    def rollout_sites(self) -> int:
        return min(FULL_ROLLOUT_SITES, round(self.sites * 0.75))

    def pilot_sites(self, full: int) -> int:
        """Sites of a pilot that has ``full`` at full scale: never more than a third of the
        chain, and at least 40 (or the third) for a running pilot."""
        return min(full, self.sites // 3)


@dataclass(frozen=True, slots=True)
class ChainSummary:
    sites: int
    observations: int
    responses: int
    pilots: int
    retros: int
    plans: int
    plan_sites: int


Progress = Callable[[str, int], None]


def _quiet(_label: str, _count: int) -> None:
    return None


def seed_chain(
    size: ChainSize | None = None, *, seed_value: int = 20261207, progress: Progress = _quiet
) -> ChainSummary:
    """Build the chain in an empty database. Commits block by block (it is large)."""
    size = size or ChainSize()
    rng = np.random.default_rng(seed_value)
    sites = _make_sites(rng, size)
    metrics = _make_metrics()
    users = _make_users(sites)
    db.session.commit()
    pilots = _make_pilots(rng, size, sites, metrics, users)
    db.session.commit()
    n_obs = _make_observations(rng, size, sites, metrics, pilots, progress)
    n_retros = _make_retros(rng, size, pilots, users)
    db.session.commit()
    n_resp = _make_feedback(rng, size, pilots, progress)
    db.session.commit()
    plans = _make_plans(size, pilots, sites, users)
    db.session.commit()
    db.session.execute(sql("ANALYZE"))  # fresh planner statistics after a bulk load
    db.session.commit()
    return ChainSummary(
        sites=len(sites),
        observations=n_obs,
        responses=n_resp,
        pilots=len(pilots),
        retros=n_retros,
        plans=len(plans),
        plan_sites=sum(len(p.sites) for p in plans),
    )


# ---------------------------------------------------------------- sites, metrics, users


def _make_sites(rng: np.random.Generator, size: ChainSize) -> list[Site]:
    tiers = rng.choice(list(SizeTier), size=size.sites, p=[0.3, 0.45, 0.25])
    management = np.clip(rng.normal(68, 12, size.sites), 30, 98)
    digital = np.clip(rng.normal(62, 15, size.sites), 20, 98)
    senior = np.clip(rng.beta(3, 9, size.sites), 0.03, 0.6)
    sites = []
    for i in range(size.sites):
        region = CHAIN_REGIONS[i % len(CHAIN_REGIONS)]
        tier = SizeTier(tiers[i].value)
        sites.append(
            Site(
                code=f"C{i + 1:04d}",
                name=f"{region} store {i + 1}",
                region=region,
                city=f"{region} city {i % 25 + 1}",
                size_tier=tier,
                staff_count=int({"small": 12, "medium": 20, "large": 32}[tier.value]),
                management_score=round(float(management[i]), 1),
                digital_readiness=round(float(digital[i]), 1),
                senior_share=round(float(senior[i]), 3),
                daily_orders=round(520 * _SIZE[tier.value], 1),
                attributes={"opened": int(2010 + i % 14)},
            )
        )
    db.session.add_all(sites)
    db.session.flush()
    return sites


_SIZE = {"small": 0.7, "medium": 1.0, "large": 1.45}


def _make_metrics() -> dict[str, Metric]:
    metrics = {spec[0]: add_metric(*spec) for spec in METRICS}
    for spec in [*ROLLOUT_METRICS, *EXTRA_METRICS]:
        metrics[spec[0]] = add_metric(*spec)
    db.session.flush()
    return metrics


def _make_users(sites: list[Site]) -> dict[Role, User]:
    users = {}
    for email, name, role in DEMO_USERS:
        user = User(email=email, name=name, role=role)
        user.set_password(DEMO_PASSWORD)
        users[role] = user
        db.session.add(user)
    return users


# ---------------------------------------------------------------- pilots


@dataclass
class _PilotPlan:
    pilot: Pilot
    pilot_ids: list[int]
    control_ids: list[int]
    first: date | None  # first day with feedback
    last: date | None


def _dates(size: ChainSize, status: PilotStatus, k: int) -> tuple[date, date, date] | None:
    """(pre_start, start, end) of the ``k``-th pilot of its state: running pilots end after
    the last day, finished ones lie earlier in the history."""
    last = size.last_day
    if status is PilotStatus.DRAFT:
        return None
    if status is PilotStatus.RUNNING:
        start = last - timedelta(days=(27, 20, 13)[k % 3])
    else:
        room = max(size.days - MIN_DAYS - 14, 0)  # keep two weeks after the end
        start = size.first_day + timedelta(days=PRE_DAYS + int(room * (k + 1) / 10))
    return start - timedelta(days=PRE_DAYS), start, start + timedelta(days=PILOT_DAYS - 1)


def _make_pilots(rng, size: ChainSize, sites, metrics, users) -> list[_PilotPlan]:
    out = []
    seen: dict[PilotStatus, int] = {}
    for number, (status, full) in enumerate(PILOT_STATES, start=1):
        k = seen[status] = seen.get(status, -1) + 1
        dates = _dates(size, status, k if status is not PilotStatus.RUNNING else number - 1)
        pilot = Pilot(
            name=f"Chain pilot {number}: {status.value.replace('_', ' ')}",
            change_description="A process change tried on a sample of the chain's sites.",
            hypothesis="The change cuts the average wait by at least 1 minute.",
            owner=users[Role.CHANGE_LEAD],
            status=status,
            alpha=0.05,
            min_effect=1.0,
            wizard_step=5 if dates else 1,
            retros_visible_to_staff=True,
        )
        if dates:
            pilot.pre_start, pilot.start_date, pilot.end_date = dates
            pilot.design_locked_at = datetime.combine(dates[1], time(8, 0), tzinfo=UTC)
        if status in (PilotStatus.DECIDED, PilotStatus.ROLLING_OUT, PilotStatus.DONE):
            pilot.decision = Decision.ROLL_OUT
            pilot.decided_at = datetime.combine(dates[2] + timedelta(days=7), time(9), tzinfo=UTC)
        for position, (key, role) in enumerate(
            [
                ("avg_wait_min", MetricRole.PRIMARY),
                ("avg_ticket", MetricRole.GUARDRAIL),
                ("complaints", MetricRole.GUARDRAIL),
                ("orders", MetricRole.SECONDARY),
            ]
        ):
            margin = {"avg_ticket": 3.0, "complaints": 0.5}.get(key)
            pilot.metric_links.append(
                PilotMetric(metric=metrics[key], role=role, margin=margin, position=position)
            )
        n = size.pilot_sites(full)
        chosen = [sites[i] for i in sorted(rng.permutation(len(sites))[:n])]
        half = n // 2
        for arm, members in ((Arm.PILOT, chosen[:half]), (Arm.CONTROL, chosen[half:])):
            for site in members:
                pilot.assignments.append(
                    Assignment(
                        site=site,
                        arm=arm,
                        method=AssignmentMethod.RANDOM_STRATIFIED,
                        stratum=site.region,
                    )
                )
        db.session.add(pilot)
        out.append(
            _PilotPlan(
                pilot,
                [s.id for s in chosen[:half]] if dates else [],
                [s.id for s in chosen[half:]] if dates else [],
                dates[0] if dates else None,
                min(dates[2], size.last_day) if dates else None,
            )
        )
    db.session.flush()
    for plan in out:
        for site_id in [*plan.pilot_ids, *plan.control_ids]:
            for audience in Audience:
                db.session.add(FormLink(pilot_id=plan.pilot.id, site_id=site_id, audience=audience))
    users[Role.STAFF].site_id = out[0].pilot_ids[0]
    return out


# ---------------------------------------------------------------- observations


def _make_observations(rng, size: ChainSize, sites, metrics, pilots, progress: Progress) -> int:
    """Every site × day × metric, written a block of sites at a time through the import."""
    from app.sites.observation_import import apply_observations, plan_observations

    days = pd.date_range(size.first_day, size.last_day, freq="D")
    weekend = (days.day_of_week >= 5).astype(float)
    effect = _pilot_effects(size, sites, pilots, days)
    keys = list(metrics)
    written = 0
    for lo in range(0, len(sites), SITE_BLOCK):
        block = sites[lo : lo + SITE_BLOCK]
        frame = _wide_block(rng, block, keys, days, weekend, effect[lo : lo + SITE_BLOCK])
        chunks = (frame.iloc[i : i + 50_000] for i in range(0, len(frame), 50_000))
        plan = plan_observations(chunks, today=size.last_day, source="chain seed")
        if not plan.ok:
            raise RuntimeError(f"chain observations refused: {plan.errors[:3]}")
        apply_observations(plan, kind="observations", filename="chain seed")
        db.session.commit()
        count = len(block) * len(days) * len(keys)
        written += count
        progress("observations", count)
    return written


def _pilot_effects(size: ChainSize, sites, pilots, days: pd.DatetimeIndex) -> np.ndarray:
    """Minutes of wait the pilots take off, per site (row) and day (column)."""
    index = {s.id: i for i, s in enumerate(sites)}
    out = np.zeros((len(sites), len(days)))
    for plan in pilots:
        start = plan.pilot.start_date
        if start is None:
            continue
        after = np.asarray(days >= pd.Timestamp(start), dtype=float)
        for site_id in plan.pilot_ids:
            out[index[site_id]] += 1.5 * after
    return out


def _wide_block(rng, block, keys, days, weekend, effect) -> pd.DataFrame:
    """One row per site and day, one column per metric, as the strings of an uploaded file."""
    n_sites, n_days = len(block), len(days)
    size = np.array([_SIZE[s.size_tier.value] for s in block])[:, None]
    noise = rng.normal(0, 1, (len(keys), n_sites, n_days))
    site_fx = rng.normal(0, 1, (len(keys), n_sites, 1))
    values = {
        "avg_wait_min": np.maximum(10 + 2.5 * (size - 1) + 2 * weekend + noise[0] - effect, 1),
        "table_turnover": np.maximum(3.4 + 0.3 * (1 - size) + 0.4 * weekend + 0.2 * noise[1], 0.5),
        "orders": np.round(520 * size * (1 + 0.28 * weekend) * np.exp(0.06 * noise[2])),
        "avg_ticket": 66 + 4 * site_fx[3] + 4 * weekend + 1.8 * noise[3],
        "complaints": rng.poisson(1.2 * size * (1 + 0.2 * weekend), (n_sites, n_days)),
        "satisfaction_rate": np.clip(0.8 + 0.03 * site_fx[5] + 0.025 * noise[5], 0, 1),
        "counter_queue_min": np.maximum(7.5 + site_fx[6] + 1.2 * weekend + 0.7 * noise[6], 0.5),
        "order_errors": rng.poisson(0.8 * size, (n_sites, n_days)),
        "staff_hours": np.maximum(8 * size * 20 + 5 * noise[8], 1),
        "food_waste_kg": np.maximum(12 * size + 2 * weekend + noise[9], 0),
    }
    frame = pd.DataFrame(
        {
            "site": np.repeat([s.code for s in block], n_days),
            "date": np.tile(days.strftime("%Y-%m-%d"), n_sites),
        }
    )
    for key in keys:
        decimals = 3 if key == "satisfaction_rate" else 2
        column = np.broadcast_to(values[key], (n_sites, n_days)).ravel().astype(float)
        frame[key] = np.round(column, decimals).astype(str)
    frame.index = frame.index + 2  # the row numbers a user would see in the file
    return frame


# ---------------------------------------------------------------- retros


def _make_retros(rng, size: ChainSize, pilots: list[_PilotPlan], users) -> int:
    """A daily retro for every pilot day so far, an adjustment on day 7, a few actions."""
    lead = users[Role.CHANGE_LEAD]
    count = 0
    for plan in pilots:
        pilot = plan.pilot
        if pilot.start_date is None:
            continue
        last = min(pilot.end_date, size.last_day)
        pilot_sites = [a.site for a in pilot.assignments if a.arm is Arm.PILOT]
        for day in range((last - pilot.start_date).days + 1):
            when = pilot.start_date + timedelta(days=day)
            retro = Retrospective(pilot=pilot, date=when, facilitator=lead, attendees="store leads")
            for category, notes in RETRO_NOTES.items():
                retro.items.append(
                    RetroItem(category=category, text=notes[int(rng.integers(len(notes)))])
                )
            db.session.add(retro)
            count += 1
            if day == 6:
                adjustment = Adjustment(
                    pilot=pilot,
                    retro=retro,
                    effective_date=when + timedelta(days=1),
                    title="Staff assist seniors with ordering",
                    description="A staff member at the door helps customers aged 60+ order.",
                    scope=AdjustmentScope.SELECTED_SITES,
                )
                adjustment.sites = pilot_sites[:5]
                db.session.add(adjustment)
            if day % 5 == 1:
                done = when + timedelta(days=4) <= size.last_day
                db.session.add(
                    ActionItem(
                        pilot=pilot,
                        retro=retro,
                        title=f"Follow up the day-{day + 1} problems",
                        owner=lead,
                        due_date=when + timedelta(days=3),
                        status=ActionStatus.DONE if done else ActionStatus.OPEN,
                        created_on=when,
                        closed_on=when + timedelta(days=2) if done else None,
                        outcome="Done as planned." if done else None,
                    )
                )
    db.session.flush()
    return count


# ---------------------------------------------------------------- feedback


def _make_feedback(rng, size: ChainSize, pilots: list[_PilotPlan], progress: Progress) -> int:
    """``size.responses`` responses, shared among the pilots by sites × days of feedback."""
    with_feedback = [p for p in pilots if p.first is not None]
    weights = np.array(
        [
            (len(p.pilot_ids) + len(p.control_ids)) * ((p.last - p.first).days + 1)
            for p in with_feedback
        ],
        dtype=float,
    )
    shares = np.floor(size.responses * weights / weights.sum()).astype(int)
    shares[0] += size.responses - shares.sum()
    comments = _analysed_comments()
    written = 0
    for plan, total in zip(with_feedback, shares, strict=True):
        customer = FeedbackForm(pilot=plan.pilot, audience=Audience.CUSTOMER, **customer_template())
        staff = FeedbackForm(pilot=plan.pilot, audience=Audience.STAFF, **staff_template())
        db.session.add_all([customer, staff])
        db.session.flush()
        n_staff = int(total) // 20
        for lo in range(0, int(total), RESPONSE_BLOCK):
            n = min(RESPONSE_BLOCK, int(total) - lo)
            staff_n = min(max(n_staff - lo, 0), n)
            rows, answers = _response_rows(rng, plan, customer, staff, n, staff_n, comments)
            _write_responses(rows, answers, comments)
            db.session.commit()
            written += n
            progress("responses", n)
    return written


def _analysed_comments() -> dict[str, tuple[str, list[str]]]:
    """Each catalogue comment once: its masked text and its automatic themes."""
    out = {}
    for pool in CUSTOMER_COMMENTS.values():
        for text in pool:
            masked = mask(text)
            out[text] = (masked, list(themes.analyse(masked).themes))
    return out


def _response_rows(rng, plan: _PilotPlan, customer, staff, n: int, staff_n: int, comments):
    """``n`` responses (the first ``staff_n`` from staff at pilot sites) and their answers,
    answers pointing at the position of their response in the block."""
    site_pool = np.array([*plan.pilot_ids, *plan.control_ids])
    span = (plan.last - plan.first).days + 1
    day = rng.integers(0, span, n)
    minute = rng.integers(0, 600, n)
    site = site_pool[rng.integers(0, len(site_pool), n)]
    staff_sites = np.array(plan.pilot_ids or plan.control_ids)
    site[:staff_n] = staff_sites[rng.integers(0, len(staff_sites), staff_n)]
    rating = rng.choice([1, 2, 3, 4, 5], n, p=[0.04, 0.06, 0.15, 0.4, 0.35])
    segment = rng.choice(["under_30", "30_59", "60+"], n, p=[0.35, 0.45, 0.2])
    comment_pool = [t for pool in CUSTOMER_COMMENTS.values() for t in pool]
    rows, answers = [], []
    for i in range(n):
        is_staff = i < staff_n
        form = staff if is_staff else customer
        rows.append(
            {
                "form_id": form.id,
                "pilot_id": plan.pilot.id,
                "site_id": int(site[i]),
                "audience": form.audience,
                "channel": ResponseChannel.LOGGED_IN if is_staff else ResponseChannel.QR,
                "submitted_at": datetime.combine(
                    plan.first + timedelta(days=int(day[i])), time(11), tzinfo=UTC
                )
                + timedelta(minutes=int(minute[i])),
                "segment": None if is_staff else str(segment[i]),
                "language": "zh_CN",
                "is_flagged_negative": bool(rating[i] <= 1),
            }
        )
        r = int(rating[i])
        if is_staff:
            keys = (("workload", r), ("ease", r), ("attitude", r))
            answers += [_number(i, k, QuestionType.RATING, v) for k, v in keys]
            continue
        answers += [
            _number(i, "overall", QuestionType.RATING, r),
            _number(i, "ease", QuestionType.RATING, max(1, r - 1)),
            _number(i, "recommend", QuestionType.NPS, min(10, 2 * r)),
            {**_number(i, "age_band", QuestionType.SINGLE_CHOICE, None), "value_choices": []},
        ]
        answers[-1]["value_choices"] = [str(segment[i])]
        if i % 10 < 3:
            text = comment_pool[(i * 7 + r) % len(comment_pool)]
            answers.append(
                {
                    **_number(i, "comment", QuestionType.TEXT, None),
                    "value_text": comments[text][0],
                    "raw": text,
                }
            )
    return rows, answers


def _number(position: int, key: str, kind: QuestionType, value: float | None) -> dict:
    return {
        "response_id": position,
        "question_key": key,
        "question_type": kind,
        "value_num": None if value is None else float(value),
        "value_text": None,
        "value_choices": None,
    }


def _write_responses(rows: list[dict], answers: list[dict], comments) -> None:
    """The bulk adapter: responses, answers and comment tags in three multi-row inserts."""
    responses = FeedbackResponse.__table__
    ids = (
        db.session.execute(
            responses.insert().returning(responses.c.id, sort_by_parameter_order=True), rows
        )
        .scalars()
        .all()
    )
    plain, texts = [], []
    for answer in answers:
        answer["response_id"] = ids[answer["response_id"]]
        (texts if "raw" in answer else plain).append(answer)
    table = FeedbackAnswer.__table__
    db.session.execute(table.insert(), plain)
    raw = [a.pop("raw") for a in texts]
    if not texts:
        return
    answer_ids = (
        db.session.execute(
            table.insert().returning(table.c.id, sort_by_parameter_order=True), texts
        )
        .scalars()
        .all()
    )
    tags = [
        {"answer_id": answer_id, "tag": tag, "is_automatic": True}
        for answer_id, text in zip(answer_ids, raw, strict=True)
        for tag in comments[text][1]
    ]
    if tags:
        db.session.execute(CommentTag.__table__.insert(), tags)


# ---------------------------------------------------------------- rollout


def _make_plans(size: ChainSize, pilots: list[_PilotPlan], sites, users) -> list:
    """A rollout plan over ``size.rollout_sites`` sites for each pilot rolling out; the
    first wave of each is live."""
    from analysis.planning import PlanSettings
    from app.rollout import gates
    from app.rollout.plans import GateSettings, generate_plan

    lead = users[Role.CHANGE_LEAD]
    plans = []
    for plan_number, plan in enumerate(
        p for p in pilots if p.pilot.status is PilotStatus.ROLLING_OUT
    ):
        pilot = plan.pilot
        pilot.status = PilotStatus.DECIDED  # a plan is made for a decided pilot
        taken = set(plan.pilot_ids)
        scope = [s for s in sites if s.id not in taken][: size.rollout_sites]
        rollout = generate_plan(
            pilot,
            by=lead,
            settings=PlanSettings(
                start=size.last_day - timedelta(days=10),
                sites_per_week=max(4.0, size.rollout_sites / 12),
                wave_count=6,
                randomize=True,
                holdback_share=0.1,
                seed=7 + plan_number,
                min_days_live=14,
            ),
            scope=scope,
            name=f"{pilot.name}: rollout",
            gate=GateSettings(min_days_live=14, signoff_role=Role.ANALYST.value),
        )
        gates.decide(rollout, rollout.waves[0], "start", reason=None, by=lead)
        pilot.status = PilotStatus.ROLLING_OUT
        plans.append(rollout)
    db.session.flush()
    return plans


def counts() -> dict[str, int]:
    """Rows of each kind in the database (what the chain's tests compare with its size)."""
    from app.models import Observation, RolloutPlan, WaveSite

    def count(column) -> int:
        return int(db.session.scalar(select(func.count(column))) or 0)

    return {
        "sites": count(Site.id),
        "observations": count(Observation.id),
        "responses": count(FeedbackResponse.id),
        "pilots": count(Pilot.id),
        "plans": count(RolloutPlan.id),
        "plan_sites": count(WaveSite.id),
    }


def seed_chain_command(
    *, if_empty: bool, sites: int | None, days: int | None, last_day: date
) -> bool:
    """``flask demo seed --scale chain``: build the chain with a progress bar and its timing;
    False when the database already had data (``if_empty``)."""
    import time as clock

    import click

    from app.demo.seed import database_is_empty

    if not database_is_empty():
        if if_empty:
            click.echo("demo: database already has data; nothing to do")
            return False
        raise click.ClickException("the database already has data; demo seed needs an empty one")
    try:
        size = ChainSize(sites=sites or FULL_SITES, days=days or FULL_DAYS, last_day=last_day)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    started = clock.perf_counter()
    total = size.observations + size.responses
    with click.progressbar(length=total, label="chain", show_pos=True) as bar:
        summary = seed_chain(size, progress=lambda _label, n: bar.update(n))
    click.echo(
        f"chain: {summary.sites} sites, {summary.observations} observations, "
        f"{summary.responses} feedback responses, {summary.pilots} pilots, "
        f"{summary.retros} retrospectives, {summary.plans} rollout plans over "
        f"{summary.plan_sites} sites in {clock.perf_counter() - started:.0f} s"
    )
    return True
