"""Report charts: the event study, forest plots, the permutation distribution and each site's
change, drawn in the shared style of ``app.core.charts`` and served as SVG files (the page's
``<img>`` and the PDF), so their text is drawn as glyph outlines and Chinese renders everywhere.

The daily pilot-vs-control series is the shared ``app.core.charts.daily_series_svg``.
Snapshots are immutable, so ``app.reports.context.chart_svg`` renders each chart once per
(report, chart, locale).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from app.core import charts
from app.core.charts import CONTROL_COLOUR, PILOT_COLOUR, daily_series_svg

#: Verdict colours: better, worse, no meaningful difference, inconclusive.
GOOD = "#2b8a3e"
BAD = "#c92a2a"
NEUTRAL = "#1864ab"
INCONCLUSIVE = "#495057"
REFERENCE = "#868e96"  # zero and reference lines


def _wrap(title: str, width: int = 58) -> str:
    """Titles wrap instead of running off the figure (CJK text has no spaces: hard wrap)."""
    if " " not in title.strip():
        return "\n".join(title[i : i + width // 2] for i in range(0, len(title), width // 2))
    return textwrap.fill(title, width)


def _title(ax: Axes, title: str) -> None:
    ax.set_title(_wrap(title), loc="left", fontweight="normal")


def daily_chart(
    series: dict[str, Any],
    *,
    start: date,
    adjustments: Sequence[tuple[date, str]],
    title: str,
    unit: str,
    end: date | None = None,
) -> str:
    """A snapshot's daily series (``{dates, pilot, control}``) as the shared daily chart."""
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(series["dates"]),
            "pilot": pd.to_numeric(pd.Series(series["pilot"]), errors="coerce"),
            "control": pd.to_numeric(pd.Series(series["control"]), errors="coerce"),
        }
    )
    return daily_series_svg(
        frame, start=start, adjustments=list(adjustments), title=title, unit=unit, end=end
    )


def event_study_chart(points: list[dict[str, Any]], *, title: str, xlabel: str) -> str:
    with charts.figure(5.5, 2.6, layout=None) as fig:
        ax = fig.subplots()
        weeks = [p["week"] for p in points]
        est = np.array([p.get("effect") if p.get("effect") is not None else np.nan for p in points])
        lo = np.array([p.get("ci_low") if p.get("ci_low") is not None else np.nan for p in points])
        hi = np.array(
            [p.get("ci_high") if p.get("ci_high") is not None else np.nan for p in points]
        )
        ax.axhline(0, color=REFERENCE, lw=0.8)
        ax.axvline(-0.5, color=REFERENCE, lw=0.8, ls="--")
        colours = [CONTROL_COLOUR if w < 0 else PILOT_COLOUR for w in weeks]
        ax.vlines(weeks, lo, hi, colors=colours, lw=1.5)
        ax.scatter(weeks, est, c=colours, s=18, zorder=3)
        ax.set_xticks(weeks)
        ax.set_xlabel(xlabel)
        _title(ax, title)
        return charts.file_svg(fig)


def forest_chart(
    rows: list[tuple[str, float, float, float, str]], *, title: str, xlabel: str, percent=False
) -> str:
    """One row per estimate: ``(label, estimate, low, high, colour)``; a line at zero."""
    with charts.figure(6.5, 0.45 * len(rows) + 0.9, layout=None) as fig:
        ax = fig.subplots()
        ys = np.arange(len(rows))[::-1]
        for y, (_label, est, lo, hi, colour) in zip(ys, rows, strict=True):
            if est is None or lo is None or hi is None:
                continue
            ax.plot([lo, hi], [y, y], color=colour, lw=2)
            ax.plot([est], [y], "o", color=colour, ms=5)
        ax.axvline(0, color=REFERENCE, lw=0.8)
        ax.set_yticks(ys)
        ax.set_yticklabels([r[0] for r in rows])
        ax.set_xlabel(xlabel)
        if percent:
            ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        _title(ax, title)
        return charts.file_svg(fig)


def permutation_chart(
    distribution: Sequence[float], observed: float, *, title: str, xlabel: str, observed_label: str
) -> str:
    with charts.figure(5.5, 2.4, layout=None) as fig:
        ax = fig.subplots()
        values = np.asarray([v for v in distribution if v is not None], dtype=float)
        if values.size:
            ax.hist(values, bins=40, color="#adb5bd")
        ax.axvline(observed, color=PILOT_COLOUR, lw=2, label=observed_label)
        ax.legend(frameon=False, fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_yticks([])
        _title(ax, title)
        return charts.file_svg(fig)


def site_effects_chart(
    rows: list[dict[str, Any]], *, title: str, xlabel: str, labels: tuple[str, str]
) -> str:
    """Each site's change (post minus pre mean) relative to the control sites' average."""
    height = max(2.2, 0.16 * len(rows) + 0.8)
    with charts.figure(6.0, min(height, 9.0), layout=None) as fig:
        ax = fig.subplots()
        ordered = sorted(rows, key=lambda r: r["effect"] if r["effect"] is not None else 0)
        ys = np.arange(len(ordered))
        colours = [PILOT_COLOUR if r["arm"] == "pilot" else CONTROL_COLOUR for r in ordered]
        ax.hlines(ys, 0, [r["effect"] or 0 for r in ordered], colors=colours, lw=1.5)
        ax.scatter([r["effect"] or 0 for r in ordered], ys, c=colours, s=10, zorder=3)
        ax.axvline(0, color=REFERENCE, lw=0.8)
        ax.set_yticks(ys)
        ax.set_yticklabels([r["site"] for r in ordered], fontsize=6)
        ax.set_xlabel(xlabel)
        ax.legend(
            [Line2D([0], [0], color=PILOT_COLOUR), Line2D([0], [0], color=CONTROL_COLOUR)],
            list(labels),
            frameon=False,
            fontsize=8,
            loc="lower right",
        )
        _title(ax, title)
        return charts.file_svg(fig)
