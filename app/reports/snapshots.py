"""Report snapshots: compute, store immutably, check staleness, review and decide.

A snapshot holds everything the report page, the exports and the reproducible bundle need,
so a snapshot renders the same way forever, whatever happens to the data later:

* ``parameters`` -- exactly what was passed to :func:`analysis.compare` (JSON-safe);
* ``data_fingerprint`` -- :func:`app.core.frames.data_fingerprint` of the inputs;
* ``engine_version`` -- ``analysis.__version__``;
* ``results`` -- the engine's ``ComparisonReport.to_dict()`` plus the report's own sections
  (daily series, site changes, segment effects, sequential status, feedback, power for an
  extension, the recommendation, deviations and adjustments known at the time);
* ``inputs_archive`` -- a zip of the exact ``observations.csv`` and ``sites.csv``.

Language-dependent text (sentences, recommendation wording) is *not* stored: the stored
numbers and codes are rendered in the reader's language (:mod:`app.reports.sentences`).
Workflows add and flush; the caller commits -- except :func:`compute_report`, which runs in a
background job and commits its own progress.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

import analysis
from analysis.power import days_for_power_by_se
from analysis.power import power as power_fn
from analysis.results import to_jsonable
from analysis.segments import segment_effects
from analysis.sequential import monitor
from app.auth.permissions import can_review_report
from app.core import audit, clock
from app.core.clock import day_bounds
from app.core.errors import ServiceError
from app.core.frames import PilotInputs, data_fingerprint, pilot_inputs
from app.core.i18n import N_
from app.core.queries import newest_first_of_pilot
from app.extensions import db
from app.feedback.analytics import top_themes as area_top_themes
from app.feedback.themes import detect_themes
from app.models import (
    Adjustment,
    AuditEvent,
    Decision,
    FeedbackAnswer,
    FeedbackResponse,
    Pilot,
    PilotStatus,
    QuestionType,
    Report,
    ReportStatus,
    Site,
    User,
)

#: Estimators an analyst may pick for an exploration (``auto`` = the pre-registered rule).
EXPLORATION_METHODS = ("auto", "did", "ancova", "welch", "permutation")
#: Site attributes the segment (heterogeneous-effect) section reports on the primary metric.
SEGMENT_ATTRIBUTES = ("digital_readiness", "senior_share")
#: Target power used for "N more weeks give 80 % power".
TARGET_POWER = 0.8
MAX_EXTENSION_WEEKS = 12
#: A job still "computing" after this long has died (server restart): it is marked failed.
STALLED_AFTER = timedelta(minutes=15)
DEFAULT_PERMUTATIONS = 10_000
DEFAULT_SEED = 0


class ReportError(ServiceError):
    """A workflow rule was broken (the message is shown to the user)."""

    code = "report"


# --------------------------------------------------------------------------------------------
# Creating and computing snapshots


def compare_options(
    pilot: Pilot,
    inputs: PilotInputs,
    *,
    method: str = "auto",
    metrics: list[str] | None = None,
    seed: int = DEFAULT_SEED,
    n_permutations: int = DEFAULT_PERMUTATIONS,
) -> dict[str, Any]:
    """The keyword arguments of :func:`analysis.compare` for the pre-registered analysis,
    optionally narrowed to ``metrics`` and with another headline ``method`` (explorations)."""
    options = dict(inputs.options)
    if metrics is not None:
        keep = [m for m in options["metrics"] if m in set(metrics)]
        options["metrics"] = keep
        options["guardrails"] = [g for g in options["guardrails"] if g in keep]
        if options.get("min_effect"):
            options["min_effect"] = {k: v for k, v in options["min_effect"].items() if k in keep}
        if options.get("margins"):
            options["margins"] = {k: v for k, v in options["margins"].items() if k in keep}
        options["directions"] = {k: v for k, v in options["directions"].items() if k in keep}
    options.update(method=method, seed=seed, n_permutations=n_permutations)
    return options


def start_snapshot(
    pilot: Pilot,
    *,
    by: User | None,
    exploration: bool = False,
    method: str = "auto",
    metrics: list[str] | None = None,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = DEFAULT_SEED,
) -> Report:
    """Add a ``computing`` report for ``pilot`` (flush only); a job computes it afterwards."""
    if pilot.start_date is None or not pilot.assignments or pilot.primary_metric is None:
        raise ReportError(_l("The pilot needs a start date, sites and a primary metric first."))
    if method not in EXPLORATION_METHODS:
        raise ReportError(_l("Unknown estimator %(method)s.", method=method))
    all_keys = [link.metric.key for link in pilot.metric_links]
    if metrics is not None:
        unknown = sorted(set(metrics) - set(all_keys))
        if unknown:
            raise ReportError(_l("Unknown metric(s): %(keys)s.", keys=", ".join(unknown)))
        if pilot.primary_metric.key not in metrics:
            raise ReportError(_l("An exploration keeps the pre-registered primary metric."))
    if not exploration and (method != "auto" or metrics is not None):
        raise ReportError(_l("The pre-registered analysis uses the pre-registered settings."))
    report = Report(
        pilot=pilot,
        created_by_id=getattr(by, "id", None),
        is_exploration=exploration,
        status=ReportStatus.COMPUTING,
        parameters={
            "requested": {
                "method": method,
                "metrics": metrics,
                "seed": seed,
                "n_permutations": n_permutations,
            }
        },
        progress=0,
        progress_step="queued",
    )
    audit.add_and_record(
        "report.create",
        report,
        by=by,
        pilot_id=pilot.id,
        after={"exploration": exploration, "method": method, "metrics": metrics},
    )
    return report


ProgressFn = Callable[[int, str], None]


def _commit_progress(report: Report) -> ProgressFn:
    def progress(percent: int, step: str) -> None:
        report.progress, report.progress_step = percent, step
        db.session.commit()

    return progress


def compute_report(report_id: int, progress: ProgressFn | None = None) -> Report:
    """Compute a ``computing`` report and store the snapshot (commits).

    Any exception marks the report ``failed`` with the message; nothing is half-stored.
    """
    report = db.session.get(Report, report_id)
    if report is None:
        raise LookupError(f"no report {report_id}")
    if report.status is not ReportStatus.COMPUTING:
        return report
    progress = progress or _commit_progress(report)
    # Progress commits must not expire the pilot, its sites and metrics: reloading them after
    # every step costs seconds at 40 sites x 10 metrics.
    session = db.session()
    expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
    try:
        snapshot = build_snapshot(report.pilot, report.parameters["requested"], progress)
    except Exception as exc:
        session.expire_on_commit = expire_on_commit
        db.session.rollback()
        report = db.session.get(Report, report_id)
        report.status = ReportStatus.FAILED
        report.error = f"{type(exc).__name__}: {exc}"[:2000]
        report.finished_at = clock.utc_now()
        db.session.commit()
        return report
    report.parameters = snapshot["parameters"]
    report.results = snapshot["results"]
    report.data_fingerprint = snapshot["fingerprint"]
    report.engine_version = analysis.__version__
    report.results_digest = results_digest(snapshot["results"])
    report.inputs_archive = snapshot["archive"]
    report.status = ReportStatus.DRAFT
    report.progress, report.progress_step = 100, "done"
    report.finished_at = clock.utc_now()
    session.expire_on_commit = expire_on_commit
    db.session.commit()
    return report


def results_digest(results: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``results`` (shown in exports; proves integrity)."""
    text = json.dumps(results, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def inputs_archive(inputs: PilotInputs) -> bytes:
    """Zip of ``observations.csv`` and ``sites.csv`` exactly as handed to the engine."""
    buffer = io.BytesIO()
    obs = inputs.observations.copy()
    obs["date"] = obs["date"].dt.strftime("%Y-%m-%d")
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("observations.csv", obs.to_csv(index=False))
        archive.writestr("sites.csv", inputs.sites.to_csv(index=False))
    return buffer.getvalue()


def read_inputs(report: Report) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The snapshot's own inputs back as frames (as the CLI would read them)."""
    with zipfile.ZipFile(io.BytesIO(report.inputs_archive or b"")) as archive:
        obs = pd.read_csv(archive.open("observations.csv"), dtype={"site_id": str})
        sites = pd.read_csv(archive.open("sites.csv"), dtype={"site_id": str})
    return obs, sites


def build_snapshot(
    pilot: Pilot, requested: dict[str, Any], progress: ProgressFn | None = None
) -> dict[str, Any]:
    """Run the engine and the report's own analyses; returns the snapshot's parts."""
    step = progress or (lambda _p, _s: None)
    lap = _Stopwatch()

    step(5, N_("loading data"))
    signature = data_signature(pilot)  # before loading: a change in between shows as stale
    inputs = pilot_inputs(pilot)
    options = compare_options(
        pilot,
        inputs,
        method=requested.get("method") or "auto",
        metrics=requested.get("metrics"),
        seed=int(requested.get("seed", DEFAULT_SEED)),
        n_permutations=int(requested.get("n_permutations", DEFAULT_PERMUTATIONS)),
    )
    if pilot.pairs:  # randomized within matched pairs: the paired analysis (issue 19)
        options.update(pairs=pilot.pairs, strata=None)
    fingerprint = data_fingerprint(inputs.observations, inputs.sites)
    lap("load")
    if inputs.observations.empty:
        raise ReportError(_l("There are no observations for this pilot yet."))
    step(15, N_("comparing pilot and control sites"))

    def by_metric(metric: str, index: int, count: int) -> None:  # 15 % .. 45 %, metric by metric
        step(15 + 30 * index // max(count, 1), f"comparing pilot and control sites: {metric}")

    comp = analysis.compare(
        inputs.observations, inputs.sites, **options, on_metric=by_metric
    ).to_dict()
    lap("compare")
    obs, sites = inputs.observations, inputs.sites
    keys = list(comp["metrics"])
    primary = comp["parameters"].get("primary")
    results: dict[str, Any] = {"comparison": comp, "metrics_meta": metrics_meta(pilot)}

    step(45, N_("daily series and site changes"))
    results["daily"] = daily_series(obs, sites, keys)
    results["site_effects"] = site_effects(obs, sites, pd.Timestamp(pilot.start_date), keys)
    lap("series")
    step(55, N_("segment effects"))
    results["segments"] = _segment_sections(pilot, obs, sites, primary, options) if primary else {}
    lap("segments")
    step(65, N_("sequential monitoring"))
    results["sequential"] = _sequential_section(pilot, obs, sites, primary, options)
    lap("sequential")
    step(75, N_("feedback"))
    results["feedback"] = feedback_results(pilot, alpha=pilot.alpha)
    lap("feedback")
    step(85, N_("recommendation"))
    results["recommendation"] = recommend(comp, pilot, obs, sites)
    lap("recommendation")
    results.update(
        deviations=deviations(pilot),
        adjustments=adjustments(pilot),
        design=_design(pilot),
        timings=lap.timings,
        data_signature=signature,
    )
    step(95, N_("saving the snapshot"))
    archive = inputs_archive(inputs)
    lap("archive")
    parameters = {
        "requested": requested,
        "compare": to_jsonable(options),
        "exploration": bool(
            requested.get("metrics") is not None or requested.get("method") not in (None, "auto")
        ),
    }
    return {
        "parameters": parameters,
        "results": to_jsonable(results),
        "fingerprint": fingerprint,
        "archive": archive,
    }


class _Stopwatch:
    """Seconds spent per step of a snapshot, kept in the snapshot for the bench and support."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._last, 3)
        self._last = now


def _segment_sections(
    pilot: Pilot, obs: pd.DataFrame, sites: pd.DataFrame, primary: str, options: dict[str, Any]
) -> dict[str, Any]:
    """The primary metric's effect per segment, for each attribute with enough sites."""
    return {
        by: _safe(
            lambda by=by: segment_effects(
                obs, sites, pilot.start_date, primary, by, end=options["end"], alpha=pilot.alpha
            ).to_dict()
        )
        for by in SEGMENT_ATTRIBUTES
        if by in sites.columns and sites[by].notna().sum() >= 4
    }


def _sequential_section(
    pilot: Pilot,
    obs: pd.DataFrame,
    sites: pd.DataFrame,
    primary: str | None,
    options: dict[str, Any],
) -> dict[str, Any] | None:
    """The sequential monitor of the primary metric (valid however often people look)."""
    if not primary:
        return None
    return _safe(
        lambda: monitor(
            obs,
            sites,
            pilot.start_date,
            primary,
            alpha=pilot.alpha,
            min_effect=(options.get("min_effect") or {}).get(primary),
            planned_end=pilot.end_date,
            direction=options["directions"].get(primary, "increase"),
        ).to_dict()
    )


def _design(pilot: Pilot) -> dict[str, Any]:
    return {
        "pilot_name": pilot.name,
        "pre_start": pilot.pre_start,
        "start": pilot.start_date,
        "end": pilot.end_date,
        "alpha": pilot.alpha,
        "hypothesis": pilot.hypothesis,
        "design_locked_at": pilot.design_locked_at,
    }


def _safe(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """An optional section that fails carries its error instead of failing the snapshot."""
    try:
        return fn()
    except (ValueError, np.linalg.LinAlgError, ZeroDivisionError) as exc:
        return {"error": str(exc)}


def metrics_meta(pilot: Pilot) -> dict[str, dict[str, Any]]:
    return {
        link.metric.key: {
            "name": link.metric.name,
            "name_zh": link.metric.name_zh,
            "unit": link.metric.unit,
            "kind": link.metric.kind.value,
            "role": link.role.value,
            "margin": link.margin,
            "min_effect": link.min_effect,
        }
        for link in pilot.metric_links
    }


def daily_series(obs: pd.DataFrame, sites: pd.DataFrame, keys: list[str]) -> dict[str, Any]:
    """Mean per day and arm, per metric: ``{key: {dates, pilot, control}}``."""
    arms = sites.set_index("site_id")["arm"]
    frame = obs[obs["metric"].isin(keys)].assign(arm=lambda f: f["site_id"].map(arms))
    table = frame.groupby(["metric", "date", "arm"])["value"].mean().unstack("arm")
    out: dict[str, Any] = {}
    for key in keys:
        if key not in table.index.get_level_values(0):
            continue
        part = table.loc[key]
        out[key] = {
            "dates": [d.strftime("%Y-%m-%d") for d in part.index],
            "pilot": part.get("pilot", pd.Series(np.nan, index=part.index)).tolist(),
            "control": part.get("control", pd.Series(np.nan, index=part.index)).tolist(),
        }
    return out


def site_effects(
    obs: pd.DataFrame, sites: pd.DataFrame, start: pd.Timestamp, keys: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """Per site: post-period mean minus pre-period mean, minus the control sites' average
    change (so a pilot site's value reads as its own DiD effect)."""
    arms = sites.set_index("site_id")["arm"]
    frame = obs[obs["metric"].isin(keys)].assign(post=lambda f: f["date"] >= start)
    means = frame.groupby(["metric", "site_id", "post"])["value"].mean().unstack("post")
    out: dict[str, list[dict[str, Any]]] = {}
    for key in keys:
        if key not in means.index.get_level_values(0):
            continue
        part = means.loc[key]
        if True not in part.columns or False not in part.columns:
            continue
        change = (part[True] - part[False]).dropna()
        arm = change.index.map(arms)
        control_mean = change[arm == "control"].mean()
        rows = [
            {"site": site, "arm": arms.get(site), "change": value, "effect": value - control_mean}
            for site, value in change.sort_values().items()
        ]
        out[key] = rows
    return out


# --------------------------------------------------------------------------------------------
# The pre-registered decision rule


def guardrail_state(result: dict[str, Any]) -> str:
    """``breached`` (harm beyond the margin shown), ``cleared`` (harm beyond the margin
    excluded) or ``unclear``; without a margin, a ``worse`` verdict is a breach."""
    low, high = _good_side(result)
    if low is None:
        return "unclear"
    margin = result.get("margin")
    if margin is None:
        if result.get("verdict") == "worse":
            return "breached"
        return "cleared" if result.get("verdict") in ("better", "equivalent") else "unclear"
    if high < -margin:
        return "breached"
    if low > -margin:
        return "cleared"
    return "unclear"


def _good_side(result: dict[str, Any]) -> tuple[float | None, float | None]:
    lo, hi = result.get("ci_low"), result.get("ci_high")
    if lo is None or hi is None:
        return None, None
    sign = 1.0 if result.get("direction", "increase") == "increase" else -1.0
    a, b = sorted((sign * lo, sign * hi))
    return a, b


def recommend(
    comp: dict[str, Any], pilot: Pilot, obs: pd.DataFrame, sites: pd.DataFrame
) -> dict[str, Any]:
    """Roll out / extend / stop from the pre-registered rule (see docs/reports.md).

    1. **stop** -- the primary metric is significantly worse; or a guardrail's harm beyond its
       margin is shown; or the primary's whole interval lies below the smallest effect worth
       acting on (a real but too small effect, or an ``equivalent`` verdict).
    2. **roll out** -- the primary metric is significantly better (adjusted p below alpha, the
       interval on the good side) and every guardrail has harm beyond its margin excluded.
    3. **extend** -- anything else; with the weeks more that give 80 % power when that can be
       computed.
    """
    metrics = comp["metrics"]
    primary_key = comp["parameters"].get("primary")
    primary = metrics.get(primary_key) if primary_key else None
    guards = {k: guardrail_state(r) for k, r in metrics.items() if r.get("role") == "guardrail"}
    breached = sorted(k for k, s in guards.items() if s == "breached")
    unclear = sorted(k for k, s in guards.items() if s == "unclear")
    out: dict[str, Any] = {
        "primary": primary_key,
        "guardrails": guards,
        "breached": breached,
        "unclear": unclear,
        "reasons": [],
        "extension": None,
    }
    if primary is None or primary.get("error"):
        out.update(decision=Decision.EXTEND.value, reasons=["primary_missing"])
        return out
    low, high = _good_side(primary)
    min_effect = primary.get("min_effect")
    verdict = primary.get("verdict")
    if verdict == "worse":
        out.update(decision=Decision.STOP.value, reasons=["primary_worse"])
    elif breached:
        out.update(decision=Decision.STOP.value, reasons=["guardrail_breached"])
    elif verdict == "equivalent" or (
        min_effect is not None and high is not None and high < min_effect
    ):
        out.update(decision=Decision.STOP.value, reasons=["too_small"])
    elif verdict == "better" and not unclear:
        out.update(decision=Decision.ROLL_OUT.value, reasons=["primary_better"])
        if min_effect is not None and low is not None and low < min_effect:
            out["reasons"].append("below_min_effect_possible")
    else:
        reasons = ["guardrail_unclear"] if verdict == "better" else ["primary_inconclusive"]
        out.update(decision=Decision.EXTEND.value, reasons=reasons)
        focus = unclear[0] if verdict == "better" and unclear else primary_key
        out["extension"] = extension_power(pilot, metrics[focus], obs, sites)
    return out


def extension_power(
    pilot: Pilot, result: dict[str, Any], obs: pd.DataFrame, sites: pd.DataFrame
) -> dict[str, Any]:
    """How many more weeks give 80 % power for the metric's smallest effect of interest.

    With enough history before the start, :func:`analysis.power.power` estimates the power of
    the extended design from pseudo windows (``method="analytic"``). Otherwise the headline SE
    is scaled by ``sqrt(T / (T + 7k))`` -- an approximation that assumes the SE shrinks with
    the square root of the pilot's length, said so on the page.
    """
    key = result["metric"]
    target = result.get("min_effect") or result.get("margin")
    out: dict[str, Any] = {"metric": key, "effect": target, "weeks": None, "method": None}
    if not target:
        out["method"] = "no_min_effect"
        return out
    start = pd.Timestamp(pilot.start_date)
    metric_obs = obs[obs["metric"] == key]
    post_days = int(metric_obs.loc[metric_obs["date"] >= start, "date"].nunique())
    pre_days = int(metric_obs.loc[metric_obs["date"] < start, "date"].nunique())
    n_p = int((sites["arm"] == "pilot").sum())
    n_c = int((sites["arm"] == "control").sum())
    history = _history_before(pilot, key, metric_obs, start)
    by_power = _weeks_by_power(
        history, key, abs(target), pilot.alpha, n_p, n_c, pre_days, post_days
    )
    if by_power is not None:
        out.update(method="power", **by_power)
        return out
    se = result.get("se")
    if not se or post_days < 1:
        out["method"] = "not_computable"
        return out
    needed_days = days_for_power_by_se(se, post_days, target, pilot.alpha, TARGET_POWER)
    weeks = max(0, math.ceil((needed_days - post_days) / 7))
    out.update(method="se_scaling", weeks=weeks if weeks <= 52 else None, needed_days=needed_days)
    return out


# --------------------------------------------------------------------------------------------
# Context known at the time of the snapshot


def _weeks_by_power(
    history: pd.DataFrame,
    key: str,
    effect: float,
    alpha: float,
    n_p: int,
    n_c: int,
    pre_days: int,
    post_days: int,
) -> dict[str, Any] | None:
    """More weeks needed for ``TARGET_POWER`` by simulation over the history (``weeks`` None
    beyond ``MAX_EXTENSION_WEEKS``); None when the history cannot support the simulation."""
    for weeks in range(0, MAX_EXTENSION_WEEKS + 1):
        days = post_days + 7 * weeks
        if pre_days < 2 or n_p < 2 or days + pre_days > history["date"].nunique():
            return None
        try:
            res = power_fn(
                history,
                n_p,
                n_c,
                pre_days,
                days,
                effect=effect,
                alpha=alpha,
                power=None,
                metric=key,
            )
        except ValueError:  # the engine's refusal: a design it cannot simulate
            return None
        if res.error:
            return None
        if res.power >= TARGET_POWER:
            return {"weeks": weeks, "power": res.power}
    return {"weeks": None}


def _history_before(
    pilot: Pilot, key: str, metric_obs: pd.DataFrame, start: pd.Timestamp
) -> pd.DataFrame:
    """All observations of ``key`` at the pilot's sites before the start -- including days
    before the pre-period, which is what makes longer pseudo designs estimable."""
    if isinstance(pilot, Pilot):
        from app.core.frames import observations_frame

        site_ids = [a.site_id for a in pilot.assignments]
        history = observations_frame(site_ids, [key], None, pilot.start_date - timedelta(days=1))
        if len(history):
            return history
    return metric_obs[metric_obs["date"] < start]


def deviations(pilot: Pilot) -> list[dict[str, Any]]:
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.pilot_id == pilot.id, AuditEvent.is_deviation.is_(True))
        .order_by(AuditEvent.at, AuditEvent.id)
    ).all()
    return [
        {
            "at": e.at,
            "action": e.action,
            "user": e.user.name if e.user else None,
            "reason": e.reason,
            "before": e.before,
            "after": e.after,
        }
        for e in events
    ]


def adjustments(pilot: Pilot) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(Adjustment)
        .where(Adjustment.pilot_id == pilot.id)
        .order_by(Adjustment.effective_date)
    ).all()
    return [{"date": a.effective_date, "title": a.title, "n_sites": len(a.sites)} for a in rows]


# --------------------------------------------------------------------------------------------
# Feedback


def feedback_frame(pilot: Pilot) -> pd.DataFrame:
    """One row per numeric answer: response, site code, arm, audience, segment, period (pre /
    post the start, local days as in the feedback area), question key and type, value.

    Enum columns are read as plain strings and the period is decided in SQL: converting
    40,000 rows in Python costs seconds.
    """
    from sqlalchemy import String, case, type_coerce

    arms = {a.site_id: a.arm.value for a in pilot.assignments}
    start = period_start(pilot)
    query = (
        select(
            FeedbackResponse.id,
            FeedbackResponse.site_id,
            Site.code,
            type_coerce(FeedbackResponse.audience, String),
            FeedbackResponse.segment,
            case((FeedbackResponse.submitted_at >= start, "post"), else_="pre"),
            FeedbackAnswer.question_key,
            type_coerce(FeedbackAnswer.question_type, String),
            FeedbackAnswer.value_num,
        )
        .join(FeedbackAnswer, FeedbackAnswer.response_id == FeedbackResponse.id)
        .join(Site, Site.id == FeedbackResponse.site_id)
        .where(
            FeedbackResponse.pilot_id == pilot.id,
            FeedbackAnswer.question_type.in_([QuestionType.RATING, QuestionType.NPS]),
            FeedbackAnswer.value_num.is_not(None),
        )
    )
    columns = ["response_id", "site_pk", "site_id", "audience", "segment", "period", "key",
               "type", "value"]  # fmt: skip
    frame = pd.DataFrame(db.session.execute(query).all(), columns=columns)
    if frame.empty:
        return frame.assign(arm=[])
    frame["arm"] = frame["site_pk"].map(arms)
    frame = frame[frame["arm"].notna()].copy()
    for column in ("audience", "type"):  # stored lower-case (str_enum); be lenient anyway
        frame[column] = frame[column].astype(str).str.lower()
    frame["value"] = frame["value"].astype(float)
    return frame.drop(columns=["site_pk"])


def _satisfaction_key(frame: pd.DataFrame) -> str | None:
    ratings = frame.loc[frame["type"] == "rating", "key"]
    if ratings.empty:
        return None
    return "overall" if "overall" in set(ratings) else str(ratings.value_counts().index[0])


def feedback_results(pilot: Pilot, alpha: float = 0.05) -> dict[str, Any]:
    """Satisfaction (share rating >= 4) and NPS, pilot vs control (post-period) and before vs
    after (within arm), overall and by segment, site-clustered (:mod:`analysis.feedback`);
    and the top comment themes."""
    from analysis import feedback as fb

    frame = feedback_frame(pilot)
    out: dict[str, Any] = {"audiences": {}, "themes": top_themes(pilot)}
    if frame.empty:
        return out
    for audience in sorted(frame["audience"].unique()):
        part = frame[frame["audience"] == audience]
        section: dict[str, Any] = {
            "n_responses": int(part["response_id"].nunique()),
            "n_sites": int(part["site_id"].nunique()),
        }
        key = _satisfaction_key(part)
        if key:
            rating = part[part["key"] == key]
            post = rating[rating["period"] == "post"]
            section["satisfaction"] = {
                "question": key,
                "pilot_vs_control": _safe(
                    lambda post=post: fb.proportion_comparison(post, alpha=alpha).to_dict()
                ),
                "before_after": {
                    arm: _safe(
                        lambda arm=arm, rating=rating: fb.before_after(
                            rating, alpha=alpha, arm=arm
                        ).to_dict()
                    )
                    for arm in ("pilot", "control")
                },
                "by_segment": _safe(
                    lambda post=post: fb.by_segment(
                        post[post["segment"].notna()], alpha=alpha
                    ).to_dict()
                )
                if post["segment"].notna().any()
                else None,
            }
        nps_rows = part[part["type"] == "nps"]
        if not nps_rows.empty:
            section["nps"] = _nps_section(fb, nps_rows, alpha)
        out["audiences"][audience] = section
    return out


def _nps_section(fb, rows: pd.DataFrame, alpha: float) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    results: dict[str, Any] = {}
    for arm in ("pilot", "control"):
        for period in ("pre", "post"):
            part = rows[(rows["arm"] == arm) & (rows["period"] == period)]
            if len(part):
                name = f"{arm}_{period}"
                try:
                    results[name] = fb.nps(part["value"], part["site_id"], alpha=alpha)
                except ValueError as exc:
                    cells[name] = {"error": str(exc)}
                else:
                    cells[name] = results[name].to_dict()
    out: dict[str, Any] = {"question": str(rows["key"].iloc[0]), "cells": cells}
    pilot, control = results.get("pilot_post"), results.get("control_post")
    if pilot and control and not pilot.error and not control.error:
        out["difference"] = fb.nps_difference(pilot, control, alpha=alpha)
    return out


def top_themes(pilot: Pilot, limit: int = 8) -> list[dict[str, Any]]:
    """Most frequent comment themes during the pilot, counted at pilot and at control sites.

    Uses the feedback area's :func:`app.feedback.analytics.top_themes` (local days,
    automatic themes and manual tags). Labels are rendered at read time (``theme_label``),
    so only tags are stored.
    """
    end = pilot.end_date or clock.today()
    arms = {"pilot": [], "control": []}
    for a in pilot.assignments:
        arms[a.arm.value].append(a.site_id)
    counts: dict[str, dict[str, int]] = {}
    for arm, site_ids in arms.items():
        for row in area_top_themes(pilot, pilot.start_date, end, site_ids, limit=limit * 2):
            counts.setdefault(row["tag"], {"pilot": 0, "control": 0})[arm] += int(row["count"])
    if not counts:  # comments never tagged (e.g. imported in bulk): detect themes now
        for arm, site_ids in arms.items():
            for tag, n in _detected_theme_counts(pilot, site_ids):
                counts.setdefault(tag, {"pilot": 0, "control": 0})[arm] += n
    totals = {arm: _comment_count(pilot, site_ids) for arm, site_ids in arms.items()}
    ranked = sorted(counts.items(), key=lambda kv: (-(kv[1]["pilot"] + kv[1]["control"]), kv[0]))
    return [
        {
            "tag": tag,
            "pilot": c["pilot"],
            "control": c["control"],
            "total": c["pilot"] + c["control"],
            # arms differ in size: the share of each arm's comments is what compares
            "pilot_share": c["pilot"] / totals["pilot"] if totals["pilot"] else None,
            "control_share": c["control"] / totals["control"] if totals["control"] else None,
        }
        for tag, c in ranked[:limit]
    ]


MAX_COMMENTS_FOR_THEMES = 5000


def _comment_count(pilot: Pilot, site_ids: list[int]) -> int:
    from sqlalchemy import func

    return int(
        db.session.scalar(_pilot_comments(func.count(FeedbackAnswer.id), pilot, site_ids)) or 0
    )


def _pilot_comments(column, pilot: Pilot, site_ids: list[int]):
    """``select(column)`` over the free-text answers at ``site_ids`` since the pilot started."""
    return (
        select(column)
        .join(FeedbackResponse, FeedbackResponse.id == FeedbackAnswer.response_id)
        .where(
            FeedbackResponse.pilot_id == pilot.id,
            FeedbackResponse.site_id.in_(site_ids),
            FeedbackResponse.submitted_at >= period_start(pilot),
            FeedbackAnswer.question_type == QuestionType.TEXT,
            FeedbackAnswer.value_text.is_not(None),
        )
    )


def _detected_theme_counts(pilot: Pilot, site_ids: list[int]) -> list[tuple[str, int]]:
    """Themes of the (latest 5,000) untagged comments during the pilot, detected with the
    feedback area's ``themes.detect_themes``."""
    texts = db.session.scalars(
        _pilot_comments(FeedbackAnswer.value_text, pilot, site_ids)
        .order_by(FeedbackResponse.submitted_at.desc())
        .limit(MAX_COMMENTS_FOR_THEMES)
    ).all()
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(set(detect_themes(text)))
    return list(counts.items())


def period_start(pilot: Pilot) -> datetime:
    """The instant the pilot starts for feedback: local midnight of the start date (as the
    feedback area counts days), naive UTC as stored."""
    low, _high = day_bounds(pilot.start_date)
    return low


# --------------------------------------------------------------------------------------------
# Reading snapshots: staleness, stalled jobs


def current_fingerprint(pilot: Pilot) -> str:
    return pilot_inputs(pilot).fingerprint


def data_signature(pilot: Pilot) -> str:
    """A cheap SQL-aggregate signature of the pilot's analysis inputs.

    The full :func:`data_fingerprint` needs every row in Python (about a second for 40 sites x
    180 days x 10 metrics); rendering a report must stay well under that. The signature --
    counts, sums, sums of squares and site-, metric- and date-weighted sums of the values,
    plus the assignments and the date range -- changes whenever a value, a row, a site's arm or
    the period changes. The page's stale banner uses it; approval re-checks the full
    fingerprint.
    """
    from sqlalchemy import func

    from app.models import Assignment, Observation

    site_ids = [a.site_id for a in pilot.assignments]
    metric_ids = [link.metric_id for link in pilot.metric_links]
    v = Observation.value
    query = select(
        func.count(Observation.id),
        func.sum(v),
        func.sum(v * v),
        func.sum(v * (Observation.site_id % 97 + 1)),
        func.sum(v * (Observation.metric_id % 89 + 1)),
        func.min(Observation.date),
        func.max(Observation.date),
    ).where(Observation.site_id.in_(site_ids), Observation.metric_id.in_(metric_ids))
    if pilot.pre_start is not None:
        query = query.where(Observation.date >= pilot.pre_start)
    if pilot.end_date is not None:
        query = query.where(Observation.date <= pilot.end_date)
    row = db.session.execute(query).one()
    arms = db.session.execute(
        select(Assignment.site_id, Assignment.arm)
        .where(Assignment.pilot_id == pilot.id)
        .order_by(Assignment.site_id)
    ).all()
    parts = [
        str(row[0]),
        *(f"{float(x or 0):.9g}" for x in row[1:5]),
        str(row[5]),
        str(row[6]),
        ";".join(f"{sid}:{arm.value}" for sid, arm in arms),
        str(pilot.pre_start),
        str(pilot.start_date),
        str(pilot.end_date),
        ",".join(sorted(str(m) for m in metric_ids)),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def looks_stale(report: Report) -> bool:
    """Fast staleness check for the page (see :func:`data_signature`)."""
    stored = (report.results or {}).get("data_signature")
    if stored is None:
        return is_stale(report)
    return stored != data_signature(report.pilot)


def is_stale(report: Report, fingerprint: str | None = None) -> bool:
    """The data the snapshot was computed from have changed since."""
    if report.data_fingerprint is None:
        return False
    return (fingerprint or current_fingerprint(report.pilot)) != report.data_fingerprint


def fail_if_stalled(report: Report, now: datetime | None = None) -> bool:
    """Mark a job that has been computing for too long as failed (flush); True if done."""
    if report.status is not ReportStatus.COMPUTING:
        return False
    now = now or clock.utc_now()
    created = report.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    if now - created < STALLED_AFTER:
        return False
    report.status = ReportStatus.FAILED
    report.error = "The computation stopped (the server restarted?). Create the report again."
    report.finished_at = now
    return True


def latest_preregistered(pilot: Pilot) -> Report | None:
    return db.session.scalars(
        select(Report)
        .where(
            Report.pilot_id == pilot.id,
            Report.is_exploration.is_(False),
            Report.status.in_(
                [ReportStatus.DRAFT, ReportStatus.APPROVED, ReportStatus.CHANGES_REQUESTED]
            ),
        )
        .order_by(Report.created_at.desc(), Report.id.desc())
    ).first()


def pilot_reports(pilot: Pilot) -> list[Report]:
    return newest_first_of_pilot(Report, pilot.id)


# --------------------------------------------------------------------------------------------
# Review and decision


def review_refusal(user: Any, report: Report, fingerprint: str | None = None) -> str | None:
    """Why ``user`` may not review ``report`` now (None when they may)."""
    if report.is_exploration:
        return _l("Explorations cannot be approved; create the pre-registered report.")
    if report.status is ReportStatus.APPROVED:
        return _l("This report is approved and read-only.")
    if report.status not in (ReportStatus.DRAFT, ReportStatus.CHANGES_REQUESTED):
        return _l("Only a computed report can be reviewed.")
    if not can_review_report(user, report):
        return _l("Only an analyst who does not own the pilot may review its report.")
    if is_stale(report, fingerprint):
        return _l("The data have changed since this snapshot; create a new report and review that.")
    return None


def approve(
    report: Report,
    *,
    by: User,
    decision: Decision,
    comment: str,
    fingerprint: str | None = None,
) -> Report:
    """Approve ``report`` and record the pilot's decision against it (flush)."""
    refusal = review_refusal(by, report, fingerprint)
    if refusal:
        raise ReportError(refusal)
    recommended = (report.results or {}).get("recommendation", {}).get("decision")
    overrides = recommended is not None and decision.value != recommended
    if overrides and not comment.strip():
        raise ReportError(_l("Explain in the comment why the decision differs from the rule."))
    now = clock.utc_now()
    report.status = ReportStatus.APPROVED
    report.reviewer_id = by.id
    report.reviewed_at = now
    report.review_comment = comment.strip() or None
    pilot = report.pilot
    before = {
        "decision": pilot.decision.value if pilot.decision else None,
        "decision_report_id": pilot.decision_report_id,
        "status": pilot.status.value,
    }
    pilot.decision = decision
    pilot.decision_note = comment.strip() or None
    pilot.decided_at = now
    pilot.decision_report_id = report.id
    if pilot.status in (PilotStatus.RUNNING, PilotStatus.ANALYSING):
        pilot.status = PilotStatus.DECIDED
    audit.record(
        "report.approve",
        report,
        by=by,
        pilot_id=pilot.id,
        reason=comment or None,
        after={"status": "approved", "fingerprint": report.data_fingerprint},
    )
    audit.record(
        "pilot.decide",
        pilot,
        by=by,
        pilot_id=pilot.id,
        before=before,
        after={
            "decision": decision.value,
            "decision_report_id": report.id,
            "recommended": recommended,
            "status": pilot.status.value,
        },
        reason=comment or None,
        is_deviation=overrides,
    )
    return report


def request_changes(report: Report, *, by: User, comment: str) -> Report:
    # staleness is no obstacle here: asking for a re-run is what a stale report needs
    refusal = review_refusal(by, report, fingerprint=report.data_fingerprint)
    if refusal:
        raise ReportError(refusal)
    if not comment.strip():
        raise ReportError(_l("Say what should change."))
    before = {"status": report.status.value}
    report.status = ReportStatus.CHANGES_REQUESTED
    report.reviewer_id = by.id
    report.reviewed_at = clock.utc_now()
    report.review_comment = comment.strip()
    audit.record(
        "report.request_changes",
        report,
        by=by,
        pilot_id=report.pilot_id,
        reason=comment,
        before=before,
        after={"status": "changes_requested"},
    )
    return report
