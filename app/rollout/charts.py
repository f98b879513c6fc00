"""The plan's timeline chart: waves as bars, go-lives as dots, weekly load against capacity.

Drawn and rendered with the shared setup of ``app.core.charts`` (an inline, scalable SVG that
keeps its text as text, like every chart on a page).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import matplotlib.dates as mdates
from flask_babel import gettext as _

from app.core import charts
from app.core.cache import lru_cached
from app.models import RolloutPlan, WaveStatus
from app.rollout.plans import capacity_use, wave_summary

STATUS_COLOURS = {
    WaveStatus.PLANNED: "#6c757d",
    WaveStatus.LIVE: "#0d6efd",
    WaveStatus.PASSED: "#198754",
    WaveStatus.HELD: "#fd7e14",
    WaveStatus.FAILED: "#dc3545",
}


@dataclass(frozen=True, slots=True)
class _WaveBar:
    number: int
    status: WaveStatus
    start: date
    end: date
    last_go_live: date | None
    go_lives: tuple[date, ...]
    n_sites: int


@dataclass(frozen=True, slots=True)
class _Timeline:
    """Everything the chart shows, hashable: equal timelines draw the same SVG."""

    waves: tuple[_WaveBar, ...]
    weeks: tuple[tuple[date, float, bool], ...]
    sites_per_week: float
    today: date | None


def timeline_svg(
    plan: RolloutPlan,
    today: date | None = None,
    *,
    summaries: Sequence[dict[str, Any]] | None = None,
    capacity: Sequence[dict[str, Any]] | None = None,
) -> str:
    """Gantt of the waves (go-live window solid, wait for the gate hatched) and weekly load;
    remembered for an equal timeline and language (matplotlib takes most of a second to draw
    it, and the plan page shows the same timeline until a wave or a site moves).
    ``summaries`` (:func:`wave_summaries`, one per wave) and ``capacity``
    (:func:`capacity_use`) are used when the page has them already."""
    if summaries is None:
        summaries = [wave_summary(plan, wave) for wave in plan.waves]
    bars = []
    for wave, s in zip(plan.waves, summaries, strict=True):
        bars.append(
            _WaveBar(
                number=wave.number,
                status=wave.status,
                start=wave.start_date,
                end=wave.end_date,
                last_go_live=s["last_go_live"],
                go_lives=tuple(ws.go_live_date for ws in s["sites"] if ws.go_live_date),
                n_sites=len(s["sites"]),
            )
        )
    if capacity is None:
        capacity = capacity_use(plan)
    weeks = tuple((r["week"], r["load"], r["over"]) for r in capacity)
    return _remembered_timeline(_Timeline(tuple(bars), weeks, plan.sites_per_week, today))


def _timeline_key(timeline: _Timeline) -> tuple:
    from flask_babel import get_locale

    return timeline, str(get_locale())


@lru_cached(32, key=_timeline_key)
def _remembered_timeline(timeline: _Timeline) -> str:
    return draw_timeline(timeline)


def draw_timeline(timeline: _Timeline) -> str:
    """The timeline chart itself (not remembered)."""
    title = _("Rollout timeline")
    waves = timeline.waves
    today = timeline.today
    with charts.figure(8, 1.6 + 0.45 * max(len(waves), 1)) as fig:
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[max(len(waves), 1), 2])
        top.set_title(title, loc="left")
        if not waves:
            top.text(0.5, 0.5, "—", ha="center", va="center", transform=top.transAxes)
            top.set_axis_off()
            bottom.set_axis_off()
            return charts.inline_svg(fig, title)
        labels = []
        for row, wave in enumerate(waves):
            y = len(waves) - 1 - row
            last = wave.last_go_live or wave.start
            colour = STATUS_COLOURS[wave.status]
            start = mdates.date2num(wave.start)
            window = mdates.date2num(last + timedelta(days=7)) - start
            top.barh(y, window, left=start, height=0.55, color=colour, alpha=0.85)
            gate_left = start + window
            gate_width = mdates.date2num(wave.end + timedelta(days=1)) - gate_left
            if gate_width > 0:
                top.barh(
                    y,
                    gate_width,
                    left=gate_left,
                    height=0.55,
                    color="white",
                    edgecolor=colour,
                    hatch="///",
                    linewidth=0.8,
                )
            top.plot(
                [mdates.date2num(d) for d in wave.go_lives],
                [y] * len(wave.go_lives),
                "o",
                color="black",
                markersize=3,
            )
            top.plot([mdates.date2num(wave.end)], [y], marker="D", color=colour, markersize=6)
            labels.append(_("Wave %(n)s (%(count)s)", n=wave.number, count=wave.n_sites))
        top.set_yticks(range(len(waves)))
        top.set_yticklabels(list(reversed(labels)))
        if today is not None:
            for ax in (top, bottom):
                ax.axvline(mdates.date2num(today), color="#d63384", linestyle="--", linewidth=1)
        if timeline.weeks:
            bottom.bar(
                [mdates.date2num(week) for week, _load, _over in timeline.weeks],
                [load for _week, load, _over in timeline.weeks],
                width=5,
                align="edge",
                color=["#dc3545" if over else "#0d6efd" for _w, _l, over in timeline.weeks],
            )
        bottom.axhline(timeline.sites_per_week, color="black", linestyle=":", linewidth=1)
        bottom.set_ylabel(_("Load per week"))
        first = min(wave.start for wave in waves)
        last = max(wave.end for wave in waves)
        charts.date_axis(bottom.xaxis, first, last)
        return charts.inline_svg(fig, title)
