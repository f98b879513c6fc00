"""Feedback analytics: tidy frames of answers, rates by arm/segment/period, themes, summaries.

Days are local days in the app's time zone (``BABEL_DEFAULT_TIMEZONE``, Asia/Shanghai by
default): a comment written at 23:30 in a Shanghai restaurant belongs to that evening. Site
identifiers handed to ``analysis.feedback`` are site codes, and every interval there is
clustered by site (see that module).

Public helpers for other areas (retro brief, reports):

* :func:`feedback_summary` ``(pilot, day) -> dict``
* :func:`top_themes` ``(pilot, start, end, site_ids=None, *, limit=5) -> list[dict]``
* :func:`responses_frame` ``(pilot, question_key, *, audience=..., ...) -> DataFrame``
"""

from __future__ import annotations

import copy
import math
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

import cachetools
import numpy as np
import pandas as pd
from flask import current_app
from flask_babel import get_locale
from pandas.api.types import union_categoricals
from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload

from analysis import feedback as fb
from app.core.clock import day_bounds, local_day, organisation_zone
from app.core.labels import category_key, natural_order
from app.core.queries import load_sites
from app.extensions import db
from app.feedback import themes
from app.feedback.questionnaires import current_form, headline_key
from app.models import (
    Assignment,
    Audience,
    CommentTag,
    FeedbackAnswer,
    FeedbackForm,
    FeedbackResponse,
    Pilot,
    QuestionType,
    Site,
)
from app.pilots.observations import chart_marks

SENIOR_SEGMENT = "60+"
CELLS = ("pilot_pre", "pilot_post", "control_pre", "control_post")
FRAME_COLUMNS = ["response_id", "site_id", "site_pk", "arm", "date", "period", "segment", "value"]


def _arm_map(pilot: Pilot) -> dict[int, tuple[str, str]]:
    rows = db.session.execute(
        select(Assignment.site_id, Assignment.arm, Site.code)
        .join(Site, Site.id == Assignment.site_id)
        .where(Assignment.pilot_id == pilot.id)
    ).all()
    return {site_id: (code, arm.value) for site_id, arm, code in rows}


def _plain_rows(query):
    """The rows of a query of columns, read on the session's connection without the ORM's
    per-row work (pages read thousands of them); pending changes are flushed first, as
    ``Session.execute`` would."""
    db.session.flush()
    return db.session.connection().execute(query)


def responses_frame(
    pilot: Pilot,
    question_key: str | None,
    *,
    audience: Audience = Audience.CUSTOMER,
    start: date | None = None,
    end: date | None = None,
    site_ids: list[int] | None = None,
    after_id: int | None = None,
    arms: dict[int, tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """One row per response of ``audience`` with its numeric answer to ``question_key``.

    Columns: ``response_id, site_id`` (code), ``site_pk``, ``arm``, ``date`` (local day),
    ``period`` (``pre`` before the pilot start, else ``post``), ``segment``, ``value`` (NaN
    when the question was not answered; all responses when ``question_key`` is None).
    ``after_id``: only the responses with a greater id (those added since a stamp);
    ``arms``: the pilot's ``_arm_map`` when the caller has read it already.
    """
    value_col = FeedbackAnswer.value_num
    query = select(
        FeedbackResponse.id,
        FeedbackResponse.site_id,
        FeedbackResponse.submitted_at,
        FeedbackResponse.segment,
    ).where(FeedbackResponse.pilot_id == pilot.id, FeedbackResponse.audience == audience)
    if question_key is not None:
        query = query.add_columns(value_col).outerjoin(
            FeedbackAnswer,
            (FeedbackAnswer.response_id == FeedbackResponse.id)
            & (FeedbackAnswer.question_key == question_key),
        )
    if start is not None or end is not None:
        low, high = day_bounds(start or date(1970, 1, 1), end or date(9999, 12, 30))
        query = query.where(FeedbackResponse.submitted_at >= low)
        query = query.where(FeedbackResponse.submitted_at < high)
    if site_ids is not None:
        query = query.where(FeedbackResponse.site_id.in_(list(site_ids)))
    if after_id is not None:
        query = query.where(FeedbackResponse.id > after_id)
    arms = _arm_map(pilot) if arms is None else arms
    names = ["response_id", "site_pk", "submitted_at", "segment"]
    if question_key is not None:
        names.append("value")
    columns = list(zip(*_plain_rows(query).all(), strict=False)) or [()] * len(names)
    raw = pd.DataFrame(dict(zip(names, (list(c) for c in columns), strict=True)))
    raw = raw[raw["site_pk"].isin(list(arms))]  # a site no longer assigned: left out
    if raw.empty:
        frame = pd.DataFrame(columns=FRAME_COLUMNS)
        frame["value"] = frame["value"].astype(float)
        return frame
    raw = raw.reset_index(drop=True)
    site_pk = raw["site_pk"].astype("int64")
    # Local days converted at once, as ``local_day`` does one by one (naive instants are UTC).
    moments = pd.to_datetime(raw["submitted_at"], utc=True)
    midnight = moments.dt.tz_convert(organisation_zone()).dt.tz_localize(None).dt.normalize()
    period = pd.Series("post", index=raw.index, dtype=object)
    if pilot.start_date is not None:
        period = period.mask(midnight < pd.Timestamp(pilot.start_date), "pre")
    if question_key is not None:
        value = pd.to_numeric(raw["value"], errors="coerce").astype(float)
    else:
        value = pd.Series(math.nan, index=raw.index, dtype=float)
    codes = {pk: code for pk, (code, _arm) in arms.items()}
    arm_of = {pk: arm for pk, (_code, arm) in arms.items()}
    # Text columns from plain lists, so that pandas infers their types as it does for rows.
    return pd.DataFrame(
        {
            "response_id": raw["response_id"].astype("int64"),
            "site_id": pd.Series([codes[pk] for pk in site_pk.tolist()]),
            "site_pk": site_pk,
            "arm": pd.Series([arm_of[pk] for pk in site_pk.tolist()]),
            "date": pd.Series(midnight.dt.date.to_numpy(dtype=object), dtype=object),
            "period": pd.Series(period.tolist()),
            "segment": pd.Series(raw["segment"].tolist()),
            "value": value,
        },
        columns=FRAME_COLUMNS,
    )


# ------------------------------------------------------------------ plain rates


def csat(values: pd.Series) -> float | None:
    """Share of ratings 4-5 among answered ratings (None without answers)."""
    answered = values.dropna()
    return float((answered >= 4).mean()) if len(answered) else None


def mean_rating(values: pd.Series) -> float | None:
    answered = values.dropna()
    return float(answered.mean()) if len(answered) else None


def rate_row(values: pd.Series) -> dict[str, Any]:
    answered = values.dropna()
    return {"n": int(len(answered)), "csat": csat(answered), "mean": mean_rating(answered)}


# ------------------------------------------------------------------ themes


def _theme_label(tag: str) -> str:
    return themes.theme_label(tag)


def _tags_between(pilot: Pilot, start: date, end: date, *columns):
    """``select(CommentTag.tag, *columns)`` over the pilot's comment tags in local days
    ``start``..``end``, joined to their answers and responses."""
    low, high = day_bounds(start, end)
    return (
        select(CommentTag.tag, *columns)
        .join(FeedbackAnswer, FeedbackAnswer.id == CommentTag.answer_id)
        .join(FeedbackResponse, FeedbackResponse.id == FeedbackAnswer.response_id)
        .where(
            FeedbackResponse.pilot_id == pilot.id,
            FeedbackResponse.submitted_at >= low,
            FeedbackResponse.submitted_at < high,
        )
    )


def top_themes(
    pilot: Pilot,
    start: date,
    end: date,
    site_ids: list[int] | None = None,
    *,
    limit: int = 5,
    audience: Audience | None = None,
) -> list[dict[str, Any]]:
    """The most frequent comment tags (automatic themes and manual tags) in local days
    ``start``..``end``: ``[{"tag", "label", "count", "negative"}]``, most frequent first.

    ``count`` is the number of comments carrying the tag; ``negative`` how many of them come
    from responses flagged strongly negative.
    """
    query = _tags_between(
        pilot, start, end, FeedbackResponse.is_flagged_negative, func.count(CommentTag.id)
    ).group_by(CommentTag.tag, FeedbackResponse.is_flagged_negative)
    if site_ids is not None:
        query = query.where(FeedbackResponse.site_id.in_(list(site_ids)))
    if audience is not None:
        query = query.where(FeedbackResponse.audience == audience)
    counts: Counter[str] = Counter()
    negative: Counter[str] = Counter()
    for tag, flagged, n in db.session.execute(query):
        counts[tag] += n
        if flagged:
            negative[tag] += n
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [
        {"tag": tag, "label": _theme_label(tag), "count": n, "negative": negative[tag]}
        for tag, n in ranked
    ]


def themes_by_day_and_site(
    pilot: Pilot, start: date, end: date, *, per_cell: int = 3
) -> list[dict[str, Any]]:
    """Top tags per (local day, site), newest day first: ``[{"date", "site_code",
    "site_name", "themes": [(label, count), ...]}]``."""
    rows = db.session.execute(
        _tags_between(pilot, start, end, FeedbackResponse.submitted_at, Site.code, Site.name).join(
            Site, Site.id == FeedbackResponse.site_id
        )
    ).all()
    cells: dict[tuple[date, str, str], Counter[str]] = {}
    for tag, submitted, code, name in rows:
        cells.setdefault((local_day(submitted), code, name), Counter())[tag] += 1
    out = []
    ordered = sorted(cells.items(), key=lambda kv: (-kv[0][0].toordinal(), kv[0][1]))
    for (day, code, name), counter in ordered:
        ranked = sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:per_cell]
        out.append(
            {
                "date": day,
                "site_code": code,
                "site_name": name,
                "themes": [(_theme_label(t), n) for t, n in ranked],
            }
        )
    return out


def flagged_comments(
    pilot: Pilot, start: date, end: date, site_ids: list[int] | None = None, *, limit: int = 50
) -> list[dict[str, Any]]:
    """Strongly negative responses in local days ``start``..``end``, newest first."""
    low, high = day_bounds(start, end)
    query = (
        select(FeedbackResponse)
        .where(
            FeedbackResponse.pilot_id == pilot.id,
            FeedbackResponse.is_flagged_negative.is_(True),
            FeedbackResponse.submitted_at >= low,
            FeedbackResponse.submitted_at < high,
        )
        .options(
            selectinload(FeedbackResponse.answers).selectinload(FeedbackAnswer.tags),
            selectinload(FeedbackResponse.site),
            selectinload(FeedbackResponse.form),
        )
        .order_by(FeedbackResponse.submitted_at.desc(), FeedbackResponse.id.desc())
        .limit(limit)
    )
    if site_ids is not None:
        query = query.where(FeedbackResponse.site_id.in_(list(site_ids)))
    out = []
    for response in db.session.scalars(query):
        key = headline_key(response.form)
        rating = next((a.value_num for a in response.answers if a.question_key == key), None)
        texts = [a.value_text for a in response.answers if a.value_text]
        out.append(
            {
                "response_id": response.id,
                "site_id": response.site_id,
                "site_code": response.site.code,
                "site_name": response.site.name,
                "audience": response.audience.value,
                "submitted_at": response.submitted_at,
                "date": local_day(response.submitted_at),
                "rating": rating,
                "segment": response.segment,
                "text": " / ".join(texts),
                "tags": sorted({t.tag for a in response.answers for t in a.tags}),
            }
        )
    return out


# ------------------------------------------------------------------ the daily summary


def feedback_summary(pilot: Pilot, day: date) -> dict[str, Any]:
    """What the daily retro needs about feedback on local ``day``.

    ``{"date", "responses": {"customer": n, "staff": n, "total": n},
    "satisfaction": {"customer": {"n", "csat", "mean"}, "staff": {...}},
    "by_arm": {"pilot": {"n", "csat", "mean"}, "control": {...}},   # customers
    "by_segment": {segment: {"n", "csat", "mean"}},                   # customers
    "seniors": {"n", "csat", "mean"},                                 # customers 60+
    "staff_attitude": {"n", "mean"},
    "flagged": [flagged_comments rows], "top_themes": [top_themes rows]}``.
    Rates are None when nobody answered.
    """
    out: dict[str, Any] = {"date": day}
    counts = {}
    satisfaction = {}
    frames = {}
    for audience in Audience:
        form = current_form(pilot.id, audience)
        key = headline_key(form) if form is not None else None
        frame = responses_frame(pilot, key, audience=audience, start=day, end=day)
        frames[audience] = frame
        counts[audience.value] = int(len(frame))
        satisfaction[audience.value] = rate_row(frame["value"])
    counts["total"] = sum(counts.values())
    out["responses"] = counts
    out["satisfaction"] = satisfaction
    customers = frames[Audience.CUSTOMER]
    out["by_arm"] = {
        arm: rate_row(customers.loc[customers["arm"] == arm, "value"])
        for arm in ("pilot", "control")
    }
    by_segment = dict(tuple(customers.dropna(subset=["segment"]).groupby("segment")))
    out["by_segment"] = {
        str(seg): rate_row(by_segment[seg]["value"]) for seg in natural_order(by_segment)
    }
    out["seniors"] = rate_row(customers.loc[customers["segment"] == SENIOR_SEGMENT, "value"])
    attitude = responses_frame(pilot, "attitude", audience=Audience.STAFF, start=day, end=day)
    answered = attitude["value"].dropna()
    out["staff_attitude"] = {
        "n": int(len(answered)),
        "mean": float(answered.mean()) if len(answered) else None,
    }
    out["flagged"] = flagged_comments(pilot, day, day)
    out["top_themes"] = top_themes(pilot, day, day)
    return out


# ------------------------------------------------------------------ the pilot overview


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _result_dict(result: Any) -> dict[str, Any]:
    data = result.to_dict() if hasattr(result, "to_dict") else {}
    return {k: (_finite(v) if isinstance(v, float) else v) for k, v in data.items()}


def rating_questions(pilot: Pilot, audience: Audience) -> list[dict[str, Any]]:
    form = current_form(pilot.id, audience)
    if form is None:
        return []
    return [q for q in form.questions if q["type"] == QuestionType.RATING.value]


def nps_questions(pilot: Pilot, audience: Audience) -> list[dict[str, Any]]:
    form = current_form(pilot.id, audience)
    if form is None:
        return []
    return [q for q in form.questions if q["type"] == QuestionType.NPS.value]


def pilot_overview(
    pilot: Pilot, *, alpha: float | None = None, responses: tuple | None = None
) -> dict[str, Any]:
    """Everything the pilot's feedback page shows (numbers only; charts are made by the view).

    Keys: ``audiences`` (per audience: ``n``, ``rating_table`` of every rating question by arm
    and period, ``nps`` by arm with clustered intervals), ``headline`` (the customer headline
    question: ``comparison`` pilot vs control after the start, ``before_after`` at the pilot
    sites, ``segments`` by age band, ``segment_table`` of rates by segment and arm),
    ``daily`` (responses and customer CSAT per day and arm), ``sites`` (per site counts and
    rates), ``adjustments`` (``[(effective date, title)]``, the marks on the charts).
    ``responses``: the pilot's :func:`responses_stamp`, when the caller has read it already.
    """
    alpha = alpha if alpha is not None else pilot.alpha
    responses = responses or responses_stamp(pilot)
    stamp = _overview_stamp(pilot, alpha, responses)
    remembered = _remembered_overviews()
    with _REMEMBERED_LOCK:
        numbers = remembered.get(stamp)
    if numbers is None:
        out = _computed_overview(pilot, alpha, responses)
        with _REMEMBERED_LOCK:
            remembered[stamp] = copy.deepcopy(out)  # kept apart from the page's copy
    else:
        out = copy.deepcopy(numbers)  # the page's own copy: the remembered one stays as computed
    held = {site.id: site for site in load_sites(row["site_id"] for row in out["sites"])}
    out["sites"] = [{"site": held[row.pop("site_id")], **row} for row in out["sites"]]
    out["adjustments"] = chart_marks(pilot)
    return out


#: Overviews remembered per application (so that one test's database never answers for
#: another's), at most this many; each is a few hundred small numbers and two small frames.
REMEMBERED_OVERVIEWS = 32
_REMEMBERED_LOCK = threading.Lock()


def _remembered_overviews() -> cachetools.LRUCache:
    return current_app.extensions.setdefault(
        "rollwise.feedback_overviews", cachetools.LRUCache(maxsize=REMEMBERED_OVERVIEWS)
    )


def _overview_stamp(pilot: Pilot, alpha: float, responses: tuple) -> tuple:
    """Everything the overview's numbers are computed from, in a few small statements: the
    pilot's alpha and start, the organisation's time zone, its current forms (id and revision),
    its sites' arms and codes, and its responses as count, id sum, the latest id and time,
    and the flagged count. Responses are only ever added (and flagged or unflagged, or
    deleted with their pilot or site), so any change to them changes the stamp: a new
    response changes the page at once. Answers are written with their response, in its
    transaction, and never changed or deleted apart from it, so the responses stand for them
    (counting the answers too cost 118 ms at 57,000 responses)."""
    forms = db.session.execute(
        select(FeedbackForm.audience, FeedbackForm.id, FeedbackForm.revision, FeedbackForm.version)
        .where(FeedbackForm.pilot_id == pilot.id, FeedbackForm.is_current.is_(True))
        .order_by(FeedbackForm.audience, FeedbackForm.version)
    ).all()
    return (
        pilot.id,
        float(alpha),
        pilot.start_date,
        str(organisation_zone()),
        responses,
        tuple((a.value, i, r, v) for a, i, r, v in forms),
        tuple(sorted(_arm_map(pilot).items())),
    )


class ResponsesStamp(NamedTuple):
    """A pilot's responses in one row (any added, deleted or (un)flagged response changes it)."""

    count: int
    newest_id: int | None
    id_sum: int | None
    newest_at: datetime | None
    flagged: int | None
    flagged_id_sum: int | None


def responses_stamp(pilot: Pilot) -> ResponsesStamp:
    """The pilot's :class:`ResponsesStamp`, in one statement."""
    flagged = FeedbackResponse.is_flagged_negative.is_(True)
    return ResponsesStamp(
        *db.session.execute(
            select(
                func.count(FeedbackResponse.id),
                func.max(FeedbackResponse.id),
                func.sum(FeedbackResponse.id),
                func.max(FeedbackResponse.submitted_at),
                func.sum(case((flagged, 1), else_=0)),
                func.sum(case((flagged, FeedbackResponse.id), else_=0)),
            ).where(FeedbackResponse.pilot_id == pilot.id)
        ).one()
    )


def tags_stamp() -> tuple:
    """Every comment tag in one row: count, newest id, id sum (a tag is only ever added or
    removed, by a person or by retagging, so any change changes the row)."""
    return tuple(
        db.session.execute(
            select(func.count(CommentTag.id), func.max(CommentTag.id), func.sum(CommentTag.id))
        ).one()
    )


def remembered(namespace: str, stamp: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()``, or a copy of what it gave for the same ``stamp`` before (kept per
    application, so one test's database never answers for another's)."""
    cache = _remembered_overviews()
    key = (namespace, *stamp)
    with _REMEMBERED_LOCK:
        found = cache.get(key)
    if found is None:
        found = compute()
        with _REMEMBERED_LOCK:
            cache[key] = copy.deepcopy(found)
    return copy.deepcopy(found)


def overview_themes(
    pilot: Pilot,
    since: date,
    first: date,
    last: date,
    *,
    limit: int = 10,
    responses: ResponsesStamp | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The overview's comment themes: :func:`top_themes` from ``since`` to ``last`` and
    :func:`themes_by_day_and_site` from ``first`` to ``last``, remembered like the overview's
    numbers. They count comment tags, so their stamp is the tags' (count, newest id, id sum:
    a tag is only ever added or removed, by a person or by retagging; deleting a response
    deletes its tags), the pilot's flagged responses (``negative`` counts them) and the
    reader's language and the organisation's time zone (labels and local days) -- not every
    response: a new response without a tagged comment leaves the themes as they were, so a
    pilot taking ratings all day does not recount its themes on each view. ``responses``:
    the pilot's :func:`responses_stamp` when the caller has read it already (the overview
    page reads it once for both)."""
    responses = responses or responses_stamp(pilot)
    stamp = (
        pilot.id, since, first, last, limit, responses.flagged, responses.flagged_id_sum,
        tags_stamp(), str(get_locale()), str(organisation_zone()),
    )  # fmt: skip
    return remembered(
        "themes",
        stamp,
        lambda: (
            top_themes(pilot, since, last, limit=limit),
            themes_by_day_and_site(pilot, first, last),
        ),
    )


def _computed_overview(
    pilot: Pilot, alpha: float, responses: ResponsesStamp | None = None
) -> dict[str, Any]:
    """:func:`pilot_overview`'s numbers, computed from the pilot's :func:`pilot_rows` (as of
    ``responses``, its stamp, when given; its ``sites`` rows hold ``site_id``, not the site;
    no ``adjustments``)."""
    out: dict[str, Any] = {"alpha": alpha, "audiences": {}}
    forms = {audience: current_form(pilot.id, audience) for audience in Audience}  # once a page

    def questions(audience: Audience, kind: QuestionType) -> list[dict[str, Any]]:
        form = forms[audience]
        return [] if form is None else [q for q in form.questions if q["type"] == kind.value]

    form = forms[Audience.CUSTOMER]
    key = headline_key(form) if form is not None else None
    frames = _frames_of(pilot, pilot_rows(pilot, responses))
    for audience in Audience:
        section: dict[str, Any] = {"rating_table": [], "nps": []}
        base = frames(None, audience)
        section["n"] = int(len(base))
        section["n_pre"] = int((base["period"] == "pre").sum())
        section["n_post"] = int((base["period"] == "post").sum())
        masks = _cell_masks(base)  # the arm and period of each response, compared once
        for q in questions(audience, QuestionType.RATING):
            values = frames(q["key"], audience)["value"].to_numpy()
            row: dict[str, Any] = {"question": q}
            for cell in CELLS:
                row[cell] = rate_row(pd.Series(values[masks[cell]], dtype=float))
            section["rating_table"].append(row)
        for q in questions(audience, QuestionType.NPS):
            frame = frames(q["key"], audience)
            post = frame[(frame["period"] == "post")].dropna(subset=["value"])
            entry: dict[str, Any] = {"question": q}
            for arm in ("pilot", "control"):
                part = post[post["arm"] == arm]
                entry[arm] = _result_dict(fb.nps(part["value"], part["site_id"], alpha=alpha))
            section["nps"].append(entry)
        out["audiences"][audience.value] = section

    headline: dict[str, Any] = {"question": None}
    if key is not None:
        headline["question"] = next(q for q in form.questions if q["key"] == key)
        frame = frames(key, Audience.CUSTOMER).dropna(subset=["value"])
        post = frame[frame["period"] == "post"]
        headline["comparison"] = _result_dict(fb.proportion_comparison(post, alpha=alpha))
        headline["before_after"] = _result_dict(fb.before_after(frame, alpha=alpha))
        seg_frame = post.dropna(subset=["segment"])
        if len(seg_frame):
            seg = fb.by_segment(seg_frame, alpha=alpha)
            headline["segments"] = {
                "results": [_result_dict(r) for r in seg.segments],
                "heterogeneity_p_value": _finite(seg.heterogeneity_p_value),
                "error": seg.error,
            }
        else:
            headline["segments"] = {"results": [], "heterogeneity_p_value": None, "error": None}
        options = {
            o["value"]: o
            for q in form.questions
            if q.get("segment")
            for o in q.get("options") or []
        }
        order = {value: i for i, value in enumerate(options)}
        headline["segment_options"] = options
        table = []
        with_segment = frame.dropna(subset=["segment"])
        values = with_segment["value"].to_numpy()
        cells = _cell_masks(with_segment)
        positions = with_segment.groupby("segment").indices  # segment -> row positions
        for segment in sorted(
            sorted(positions), key=lambda s: (order.get(s, len(order)), category_key(s))
        ):
            in_segment = np.zeros(len(with_segment), dtype=bool)
            in_segment[positions[segment]] = True
            table.append(
                {
                    "segment": str(segment),
                    "option": options.get(str(segment)),
                    "is_senior": str(segment) == SENIOR_SEGMENT,
                    **{
                        cell: rate_row(pd.Series(values[in_segment & mask], dtype=float))
                        for cell, mask in cells.items()
                    },
                }
            )
        headline["segment_table"] = table
        daily = (
            frame.assign(ok=(frame["value"] >= 4).astype(float))
            .groupby(["date", "arm"])["ok"]
            .agg(["mean", "size"])
            .reset_index()
        )
        headline["daily_csat"] = daily
    out["headline"] = headline
    counts = frames(None, Audience.CUSTOMER)
    out["daily_counts"] = counts.groupby(["date", "arm"]).size().rename("n").reset_index()
    out["sites"] = _site_table(pilot, key, frames)
    return out


def _cell_masks(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """``{"pilot_pre": rows of the pilot arm before the start, ...}`` as boolean arrays over
    ``frame``'s rows, in the order of the page's columns: the arm and period columns are
    compared once, and every question of the frame's audience reuses the masks."""
    arm = frame["arm"].to_numpy(dtype=object)
    period = frame["period"].to_numpy(dtype=object)
    return {
        f"{a}_{p}": (arm == a) & (period == p)
        for a in ("pilot", "control")
        for p in ("pre", "post")
    }


def _frames_of(
    pilot: Pilot, rows: PilotRows | None = None
) -> Callable[[str | None, Audience], pd.DataFrame]:
    """``responses_frame`` of one pilot for one page from its :class:`PilotRows` (read now
    when not given): each question's frame is the audience's responses with that question's
    answers as ``value`` (an answer is unique per response and question, so this is the
    outer join ``responses_frame`` makes). The frames are shared, so their users copy
    before they change one."""
    rows = rows or _read_pilot_rows(pilot)
    by_key: dict[Audience, dict[str, pd.Series]] = {}
    seen: dict[tuple[str | None, Audience], pd.DataFrame] = {}

    def frame(key: str | None, audience: Audience) -> pd.DataFrame:
        if (key, audience) in seen:
            return seen[(key, audience)]
        base = rows.bases[audience]
        if key is None:
            seen[(key, audience)] = base
            return base
        if audience not in by_key:
            by_key[audience] = _answers_by_key(rows.answers[audience])
        values = by_key[audience].get(key, _NO_ANSWERS)
        seen[(key, audience)] = base.assign(value=base["response_id"].map(values).astype(float))
        return seen[(key, audience)]

    return frame


@dataclass(frozen=True, slots=True)
class PilotRows:
    """A pilot's responses (``responses_frame`` without a question, per audience) and their
    numeric answers (``key, response_id, value`` per audience), as of ``stamp``, for
    ``context`` (the pilot, its start, its sites' arms and the time zone: what the rows'
    arm, period and local day are computed from)."""

    stamp: ResponsesStamp | None
    context: tuple
    bases: dict[Audience, pd.DataFrame]
    answers: dict[Audience, pd.DataFrame]


def _rows_context(pilot: Pilot) -> tuple:
    return (
        pilot.id,
        pilot.start_date,
        str(organisation_zone()),
        tuple(sorted(_arm_map(pilot).items())),
    )


def _context_arms(context: tuple) -> dict[int, tuple[str, str]]:
    """The ``_arm_map`` a :func:`_rows_context` was made from."""
    return dict(context[-1])


def _read_pilot_rows(
    pilot: Pilot, stamp: ResponsesStamp | None = None, context: tuple | None = None
) -> PilotRows:
    """All of the pilot's responses and numeric answers, read now (two statements an
    audience, after the sites' arms)."""
    context = context or _rows_context(pilot)
    arms = _context_arms(context)
    return PilotRows(
        stamp,
        context,
        {a: responses_frame(pilot, None, audience=a, arms=arms) for a in Audience},
        {a: _numeric_answer_rows(pilot, a) for a in Audience},
    )


#: Pilots whose rows are kept per application (the rows of a 200-site pilot with 57,000
#: responses: at most 21 MB by pandas' deep count, which counts a shared string per row).
REMEMBERED_ROWS = 4


def pilot_rows(pilot: Pilot, stamp: ResponsesStamp | None = None) -> PilotRows:
    """:func:`_read_pilot_rows`, remembered per application, and on a later stamp extended by
    the responses added since instead of read again. Responses are only ever added (ids from
    a sequence) and their answers written with them and never changed; flags are not part of
    the rows. So when the pilot's count and id sum grew by exactly the count and id sum of
    its responses with an id above the remembered newest, those are all that changed: they
    are read (with their answers) and appended. Anything else -- a deleted response, one
    committed late with a lower id, another arm or start or time zone -- reads everything
    again. The rows are shared between requests: never change them."""
    stamp = stamp or responses_stamp(pilot)
    context = _rows_context(pilot)
    cache = current_app.extensions.setdefault(
        "rollwise.pilot_rows", cachetools.LRUCache(maxsize=REMEMBERED_ROWS)
    )
    with _REMEMBERED_LOCK:
        held: PilotRows | None = cache.get(pilot.id)
    if held is not None and held.context == context and held.stamp == stamp:
        return held
    if held is not None and held.context == context and _only_added(pilot, held.stamp, stamp):
        after = held.stamp.newest_id
        rows = PilotRows(
            stamp,
            context,
            {
                a: _appended(
                    held.bases[a],
                    responses_frame(
                        pilot, None, audience=a, after_id=after, arms=_context_arms(context)
                    ),
                )
                for a in Audience
            },
            {
                a: _appended(held.answers[a], _numeric_answer_rows(pilot, a, after_id=after))
                for a in Audience
            },
        )
    else:
        rows = _read_pilot_rows(pilot, stamp, context)
    with _REMEMBERED_LOCK:
        cache[pilot.id] = rows
    return rows


def _only_added(pilot: Pilot, old: ResponsesStamp | None, new: ResponsesStamp) -> bool:
    """Whether the pilot's responses went from ``old`` to ``new`` only by responses added
    with ids above ``old``'s newest (one small statement)."""
    if old is None or old.newest_id is None or new.count <= old.count:
        return False
    added, id_sum = db.session.execute(
        select(
            func.count(FeedbackResponse.id), func.coalesce(func.sum(FeedbackResponse.id), 0)
        ).where(FeedbackResponse.pilot_id == pilot.id, FeedbackResponse.id > old.newest_id)
    ).one()
    return added == new.count - old.count and id_sum == (new.id_sum or 0) - (old.id_sum or 0)


def _appended(held: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``new``'s rows after ``held``'s (a categorical column stays categorical)."""
    if new.empty:
        return held
    if held.empty:
        return new.reset_index(drop=True)
    out = pd.concat([held, new], ignore_index=True)
    for name in held.columns:
        if isinstance(held[name].dtype, pd.CategoricalDtype):
            out[name] = union_categoricals([held[name].array, new[name].array])
    return out


#: A question nobody answered: every response's value is NaN.
_NO_ANSWERS = pd.Series([], dtype=float, index=pd.Index([], dtype="int64"))


def _numeric_answer_rows(
    pilot: Pilot, audience: Audience, *, after_id: int | None = None
) -> pd.DataFrame:
    """``key, response_id, value``: the pilot's numeric answers from ``audience`` (answers
    without a number are left out: their value is NaN, as unanswered); ``after_id``: only
    those of responses with a greater id. Built in numpy: a pilot's customers give
    100,000s of answers."""
    query = (
        select(FeedbackAnswer.question_key, FeedbackAnswer.response_id, FeedbackAnswer.value_num)
        .join(FeedbackResponse, FeedbackResponse.id == FeedbackAnswer.response_id)
        .where(
            FeedbackResponse.pilot_id == pilot.id,
            FeedbackResponse.audience == audience,
            FeedbackAnswer.value_num.is_not(None),
        )
    )
    if after_id is not None:
        query = query.where(FeedbackAnswer.response_id > after_id)
    found = _plain_rows(query).all()
    keys, ids, values = zip(*found, strict=True) if found else ((), (), ())
    return pd.DataFrame(
        {
            "key": pd.Categorical(keys),  # a handful of questions: one string each, not a row
            "response_id": np.asarray(ids, dtype=np.int64),
            "value": np.asarray(values, dtype=float),
        }
    )


def _answers_by_key(rows: pd.DataFrame) -> dict[str, pd.Series]:
    """``{question key: values indexed by response id}`` of :func:`_numeric_answer_rows`."""
    out: dict[str, pd.Series] = {}
    for key, positions in rows.groupby("key", sort=False, observed=True).indices.items():
        part = rows.iloc[positions]
        out[key] = pd.Series(part["value"].to_numpy(), index=part["response_id"].to_numpy())
    return out


def _site_table(
    pilot: Pilot, key: str | None, frames: Callable[[str | None, Audience], pd.DataFrame]
) -> list[dict[str, Any]]:
    frame = frames(key, Audience.CUSTOMER)
    staff = frames(None, Audience.STAFF)
    flagged = dict(
        db.session.execute(
            select(FeedbackResponse.site_id, func.count(FeedbackResponse.id))
            .where(
                FeedbackResponse.pilot_id == pilot.id,
                FeedbackResponse.is_flagged_negative.is_(True),
            )
            .group_by(FeedbackResponse.site_id)
        ).all()
    )
    rows = []
    _sites = load_sites(a.site_id for a in pilot.assignments)  # one query, not one per row
    # One grouping per column over the whole frame, not one filter per site.
    n_customer = frame["site_pk"].value_counts()
    post = frame[frame["period"] == "post"]
    answered = post.dropna(subset=["value"])
    csat_post = (answered["value"] >= 4).groupby(answered["site_pk"]).mean()
    seniors = answered[answered["segment"] == SENIOR_SEGMENT]
    senior_csat = (seniors["value"] >= 4).groupby(seniors["site_pk"]).mean()
    n_seniors = seniors["site_pk"].value_counts()
    staff_counts = staff["site_pk"].value_counts()
    for assignment in sorted(pilot.assignments, key=lambda a: a.site.code):
        site = assignment.site
        rows.append(
            {
                "site_id": site.id,
                "arm": assignment.arm.value,
                "n_customer": int(n_customer.get(site.id, 0)),
                "n_staff": int(staff_counts.get(site.id, 0)),
                "csat_post": _share_or_none(csat_post, site.id),
                "senior_csat_post": _share_or_none(senior_csat, site.id),
                "n_seniors_post": int(n_seniors.get(site.id, 0)),
                "flagged": int(flagged.get(site.id, 0)),
            }
        )
    return rows


def _share_or_none(shares: pd.Series, site_pk: int) -> float | None:
    """A site's share from a per-site ``groupby(...).mean()`` (None when it has no answers,
    as :func:`csat` says)."""
    return float(shares[site_pk]) if site_pk in shares.index else None
