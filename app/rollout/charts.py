"""The plan's timeline chart: waves as bars, go-lives as dots, weekly load against capacity.

Rendered server-side with matplotlib (Agg, ``Figure`` never ``pyplot``) as a scalable SVG
that keeps its text as text, like every Rollwise chart.
"""

from __future__ import annotations

import io
import re
import warnings
from datetime import date, timedelta
from html import escape

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
from flask_babel import gettext as _  # noqa: E402
from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from app.models import RolloutPlan, WaveStatus  # noqa: E402
from app.rollout.plans import capacity_use, wave_summary  # noqa: E402

STATUS_COLOURS = {
    WaveStatus.PLANNED: "#6c757d",
    WaveStatus.LIVE: "#0d6efd",
    WaveStatus.PASSED: "#198754",
    WaveStatus.HELD: "#fd7e14",
    WaveStatus.FAILED: "#dc3545",
}
_RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "rollwise-rollout",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _svg(figure: Figure, label: str) -> str:
    buffer = io.StringIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing", category=UserWarning)
        FigureCanvasSVG(figure).print_svg(buffer, metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", svg, count=1)
    return svg.replace(
        "<svg",
        f'<svg role="img" aria-label="{escape(label, quote=True)}" '
        'style="width:100%;height:auto" class="rw-chart"',
        1,
    )


def timeline_svg(plan: RolloutPlan, today: date | None = None) -> str:
    """Gantt of the waves (go-live window solid, wait for the gate hatched) and weekly load."""
    title = _("Rollout timeline")
    waves = list(plan.waves)
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(8, 1.6 + 0.45 * max(len(waves), 1)), dpi=100, layout="constrained")
        top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[max(len(waves), 1), 2])
        top.set_title(title, loc="left", fontsize=10, fontweight="bold")
        if not waves:
            top.text(0.5, 0.5, "—", ha="center", va="center", transform=top.transAxes)
            top.set_axis_off()
            bottom.set_axis_off()
            return _svg(figure, title)
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
                    y, gate_width, left=gate_left, height=0.55, color="white",
                    edgecolor=colour, hatch="///", linewidth=0.8,
                )  # fmt: skip
            top.plot(
                [mdates.date2num(ws.go_live_date) for ws in s["sites"] if ws.go_live_date],
                [y] * sum(1 for ws in s["sites"] if ws.go_live_date),
                "o", color="black", markersize=3,
            )  # fmt: skip
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
        bottom.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
        bottom.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=10))
        return _svg(figure, title)
