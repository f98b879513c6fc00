"""The plan's timeline chart: waves as bars, go-lives as dots, weekly load against capacity.

Drawn and rendered with the shared setup of ``app.core.charts`` (an inline, scalable SVG that
keeps its text as text, like every chart on a page).
"""

from __future__ import annotations

from datetime import date, timedelta

import matplotlib.dates as mdates
from flask_babel import gettext as _

from app.core import charts
from app.models import RolloutPlan, WaveStatus
from app.rollout.plans import capacity_use, wave_summary

STATUS_COLOURS = {
    WaveStatus.PLANNED: "#6c757d",
    WaveStatus.LIVE: "#0d6efd",
    WaveStatus.PASSED: "#198754",
    WaveStatus.HELD: "#fd7e14",
    WaveStatus.FAILED: "#dc3545",
}


def timeline_svg(plan: RolloutPlan, today: date | None = None) -> str:
    """Gantt of the waves (go-live window solid, wait for the gate hatched) and weekly load."""
    title = _("Rollout timeline")
    waves = list(plan.waves)
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
            s = wave_summary(plan, wave)
            y = len(waves) - 1 - row
            last = s["last_go_live"] or wave.start_date
            colour = STATUS_COLOURS[wave.status]
            start = mdates.date2num(wave.start_date)
            window = mdates.date2num(last + timedelta(days=7)) - start
            top.barh(y, window, left=start, height=0.55, color=colour, alpha=0.85)
            gate_left = start + window
            gate_width = mdates.date2num(wave.end_date + timedelta(days=1)) - gate_left
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
                [mdates.date2num(ws.go_live_date) for ws in s["sites"] if ws.go_live_date],
                [y] * sum(1 for ws in s["sites"] if ws.go_live_date),
                "o",
                color="black",
                markersize=3,
            )
            top.plot([mdates.date2num(wave.end_date)], [y], marker="D", color=colour, markersize=6)
            labels.append(_("Wave %(n)s (%(count)s)", n=wave.number, count=len(s["sites"])))
        top.set_yticks(range(len(waves)))
        top.set_yticklabels(list(reversed(labels)))
        if today is not None:
            for ax in (top, bottom):
                ax.axvline(mdates.date2num(today), color="#d63384", linestyle="--", linewidth=1)
        rows = capacity_use(plan)
        if rows:
            bottom.bar(
                [mdates.date2num(r["week"]) for r in rows],
                [r["load"] for r in rows],
                width=5,
                align="edge",
                color=["#dc3545" if r["over"] else "#0d6efd" for r in rows],
            )
        bottom.axhline(plan.sites_per_week, color="black", linestyle=":", linewidth=1)
        bottom.set_ylabel(_("Load per week"))
        first = min(wave.start_date for wave in waves)
        last = max(wave.end_date for wave in waves)
        charts.date_axis(bottom.xaxis, first, last)
        return charts.inline_svg(fig, title)
