"""Feedback from a rollout wave's sites beside the pilot's own sites: counts, ratings, NPS, themes.

A plain description for the go/no-go gate, no inference: the gate's decision rests on the
operations metrics (``analysis.staggered``); feedback tells whether customers and staff at
the new sites see what pilot sites saw.

Input ``responses`` (one row per response):

``response_id``
    Any hashable id (joins the ``tags`` frame).
``group``
    ``"wave"`` (a site of the wave, after its go-live) or ``"pilot"`` (a pilot site during
    the pilot).
``audience``
    ``"customer"`` or ``"staff"``.
``rating``
    The form's main rating (1-5), NaN when not answered.
``nps``
    The likelihood to recommend (0-10), NaN when not answered or not asked.

Optional ``tags``: one row per (``response_id``, ``tag``) of a comment's theme.

Definitions: CSAT is the share of ratings 4 or 5 among answered ratings; NPS is
``100 * (share of 9-10 - share of 0-6)`` among answered scores; both over customer responses.
The staff rating is the mean main rating of staff responses.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.results import ResultMixin

__all__ = ["GroupFeedback", "RolloutFeedbackResult", "compare_feedback"]

GROUPS = ("wave", "pilot")
AUDIENCES = ("customer", "staff")
REQUIRED = ("response_id", "group", "audience", "rating", "nps")


@dataclass(frozen=True, slots=True)
class GroupFeedback(ResultMixin):
    """What one group of sites said."""

    group: str
    """``"wave"`` or ``"pilot"``."""
    n_responses: int
    """Responses of both audiences."""
    n_customer: int
    """Customer responses."""
    n_staff: int
    """Staff responses."""
    rating_n: int
    """Customer responses that answered the main rating."""
    rating_mean: float | None
    """Mean customer main rating (1-5); None without answers."""
    csat: float | None
    """Share of customer main ratings of 4 or 5 (0-1); None without answers."""
    nps_n: int
    """Customer responses that answered the 0-10 recommendation question."""
    nps: float | None
    """Net Promoter Score (-100 to 100); None without answers."""
    staff_rating_n: int
    """Staff responses that answered the staff form's main rating."""
    staff_rating_mean: float | None
    """Mean staff main rating (1-5); None without answers."""
    themes: tuple[tuple[str, int], ...]
    """Most frequent comment themes, ``(tag, number of responses)``, most frequent first."""


@dataclass(frozen=True, slots=True)
class RolloutFeedbackResult(ResultMixin):
    """The wave's sites against the pilot's sites."""

    wave: GroupFeedback
    pilot: GroupFeedback
    rating_difference: float | None
    """Wave minus pilot mean customer rating (None when either has no answers)."""
    csat_difference: float | None
    """Wave minus pilot CSAT share."""
    nps_difference: float | None
    """Wave minus pilot NPS (points)."""
    staff_rating_difference: float | None
    """Wave minus pilot mean staff rating."""
    error: str | None = None
    """Why nothing can be compared yet (no response from the wave's sites)."""

    def summary(self) -> str:
        """A readable sentence."""
        w, p = self.wave, self.pilot
        if self.error:
            return f"Wave feedback: {self.error}"
        parts = [
            f"{w.n_responses} responses from the wave's sites ({p.n_responses} at pilot sites)"
        ]
        if w.rating_mean is not None and p.rating_mean is not None:
            parts.append(f"customer rating {w.rating_mean:.2f} vs {p.rating_mean:.2f}")
        if w.nps is not None and p.nps is not None:
            parts.append(f"NPS {w.nps:+.0f} vs {p.nps:+.0f}")
        if w.themes:
            parts.append("top theme " + w.themes[0][0])
        return "; ".join(parts)


def _mean(values: pd.Series) -> float | None:
    return float(values.mean()) if len(values) else None


def _nps(scores: pd.Series) -> float | None:
    if not len(scores):
        return None
    return float(100.0 * ((scores >= 9).mean() - (scores <= 6).mean()))


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _group(frame: pd.DataFrame, tags: pd.DataFrame, group: str, top: int) -> GroupFeedback:
    rows = frame[frame["group"] == group]
    customer = rows[rows["audience"] == "customer"]
    staff = rows[rows["audience"] == "staff"]
    ratings = customer["rating"].dropna()
    scores = customer["nps"].dropna()
    staff_ratings = staff["rating"].dropna()
    mine = tags[tags["response_id"].isin(rows["response_id"])].drop_duplicates(
        ["response_id", "tag"]
    )
    counts = mine.groupby("tag")["response_id"].count()
    ranked = sorted(((str(t), int(n)) for t, n in counts.items()), key=lambda kv: (-kv[1], kv[0]))
    return GroupFeedback(
        group=group,
        n_responses=int(len(rows)),
        n_customer=int(len(customer)),
        n_staff=int(len(staff)),
        rating_n=int(len(ratings)),
        rating_mean=_mean(ratings),
        csat=float((ratings >= 4).mean()) if len(ratings) else None,
        nps_n=int(len(scores)),
        nps=_nps(scores),
        staff_rating_n=int(len(staff_ratings)),
        staff_rating_mean=_mean(staff_ratings),
        themes=tuple(ranked[:top]),
    )


def _checked(responses: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED if c not in responses.columns]
    if missing:
        raise ValueError(f"responses lacks the column(s): {', '.join(missing)}")
    frame = responses[list(REQUIRED)].copy()
    bad_groups = set(frame["group"].unique()) - set(GROUPS)
    if bad_groups:
        raise ValueError(f"unknown group(s) {sorted(map(str, bad_groups))}: use 'wave' or 'pilot'")
    bad_audiences = set(frame["audience"].unique()) - set(AUDIENCES)
    if bad_audiences:
        raise ValueError(
            f"unknown audience(s) {sorted(map(str, bad_audiences))}: use 'customer' or 'staff'"
        )
    for column, low, high in (("rating", 1, 5), ("nps", 0, 10)):
        values = pd.to_numeric(frame[column], errors="coerce").astype(float)
        present = values.dropna()
        if len(present) and (present.min() < low or present.max() > high):
            raise ValueError(f"{column} must lie in {low}..{high}")
        frame[column] = values
    if frame["response_id"].duplicated().any():
        raise ValueError("response_id must be unique")
    return frame


def compare_feedback(
    responses: pd.DataFrame, tags: pd.DataFrame | None = None, *, top: int = 5
) -> RolloutFeedbackResult:
    """Describe the feedback of a wave's sites beside the pilot's sites (see module docstring).

    ``ValueError`` names a missing column, an unknown group or audience, or an answer out of
    range; no response from the wave's sites gives a result carrying ``error``.
    """
    if top < 1:
        raise ValueError("top must be at least 1")
    frame = _checked(responses)
    if tags is None:
        tags = pd.DataFrame({"response_id": [], "tag": []})
    elif not {"response_id", "tag"} <= set(tags.columns):
        raise ValueError("tags needs the columns response_id and tag")
    wave = _group(frame, tags, "wave", top)
    pilot = _group(frame, tags, "pilot", top)
    error = None if wave.n_responses else "no response from the wave's sites yet"
    return RolloutFeedbackResult(
        wave=wave,
        pilot=pilot,
        rating_difference=_difference(wave.rating_mean, pilot.rating_mean),
        csat_difference=_difference(wave.csat, pilot.csat),
        nps_difference=_difference(wave.nps, pilot.nps),
        staff_rating_difference=_difference(wave.staff_rating_mean, pilot.staff_rating_mean),
        error=error,
    )
