"""Server-side SVG charts (matplotlib, Agg-free SVG backend): printable, offline, PDF-ready.

Every helper returns an ``<svg>`` string that scales to its container (``viewBox``, no fixed
size), carries ``role="img"`` and an ``aria-label``, and keeps text as text (so Chinese
labels render in the browser's fonts and stay selectable). Text from users (titles,
adjustment notes) is XML-escaped by matplotlib, so the result is safe to embed with
``|safe``. Figures are created with ``matplotlib.figure.Figure`` (never ``pyplot``), so
concurrent requests do not share state.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from html import escape
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import pandas as pd  # noqa: E402
from flask_babel import gettext as _  # noqa: E402
from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

PILOT_COLOUR = "#0d6efd"
CONTROL_COLOUR = "#6c757d"
HIGHLIGHT_COLOUR = "#d63384"
ADJUSTMENT_COLOUR = "#fd7e14"
PRE_PERIOD_SHADE = "#e9ecef"

_RC = {
    "svg.fonttype": "none",  # text stays text
    "svg.hashsalt": "rollwise",  # stable ids: equal data, equal SVG
    # layout uses DejaVu metrics; browsers and PDF renderers fall back per glyph to a CJK font
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
}


def _to_svg(figure: Figure, label: str) -> str:
    buffer = io.StringIO()
    with warnings.catch_warnings():
        # text is kept as text, so a glyph missing from the layout font is harmless
        warnings.filterwarnings(
            "ignore", message="Glyph .* missing from font", category=UserWarning
        )
        FigureCanvasSVG(figure).print_svg(buffer, metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    # scale to the container: drop the fixed size, keep the viewBox
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", svg, count=1)
    svg = svg.replace(
        "<svg",
        f'<svg role="img" aria-label="{escape(label, quote=True)}" '
        'style="width:100%;height:auto" class="rw-chart"',
        1,
    )
    return svg


def _axis_label(title: str, unit: str) -> str:
    return f"{title} ({unit})" if unit else title


def daily_series_svg(
    frame: pd.DataFrame,
    *,
    start: date | None,
    adjustments: Iterable[tuple[date, str]] = (),
    title: str,
    unit: str,
    pilot_label: str | None = None,
    control_label: str | None = None,
    end: date | None = None,
) -> str:
    """Daily pilot vs control line chart.

    ``frame`` has columns ``date, pilot, control`` (one row per day; missing days or NaN
    values leave gaps). Days before ``start`` (the pre-period) are shaded, ``start`` is a
    solid vertical line, ``end`` (planned end) a dotted one, and each adjustment
    ``(effective date, label)`` a dashed orange line numbered ①②… with its label in the
    legend.
    """
    pilot_label = pilot_label or _("Pilot sites")
    control_label = control_label or _("Control sites")
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(8, 3.8), dpi=100, layout="constrained")
        axes = figure.add_subplot()
        axes.set_title(title, loc="left")
        if frame is None or frame.empty:
            axes.text(0.5, 0.5, "—", ha="center", va="center", transform=axes.transAxes)
            axes.set_axis_off()
            return _to_svg(figure, title)
        data = frame.copy()
        data["date"] = pd.to_datetime(data["date"])
        data = data.sort_values("date").set_index("date")
        full = pd.date_range(data.index.min(), data.index.max(), freq="D")
        data = data.reindex(full)
        first, last = full[0], full[-1]
        if start is not None:
            start_ts = pd.Timestamp(start)
            if start_ts > first:
                axes.axvspan(
                    first - pd.Timedelta(hours=12),
                    min(start_ts, last) - pd.Timedelta(hours=12),
                    color=PRE_PERIOD_SHADE,
                    zorder=0,
                    label=_("Pre-period"),
                )
            if first <= start_ts <= last + pd.Timedelta(days=1):
                axes.axvline(start_ts - pd.Timedelta(hours=12), color="#212529", linewidth=1.2)
                axes.annotate(
                    _("Start"),
                    xy=(start_ts - pd.Timedelta(hours=12), 1),
                    xycoords=("data", "axes fraction"),
                    xytext=(3, -10),
                    textcoords="offset points",
                    fontsize=8,
                )
        if end is not None and first <= pd.Timestamp(end) <= last:
            axes.axvline(pd.Timestamp(end), color="#212529", linewidth=0.8, linestyle=":")
        for column, colour, label in (
            ("control", CONTROL_COLOUR, control_label),
            ("pilot", PILOT_COLOUR, pilot_label),
        ):
            if column in data.columns:
                values = pd.to_numeric(data[column], errors="coerce")
                axes.plot(
                    data.index,
                    values,
                    color=colour,
                    linewidth=1.6 if column == "pilot" else 1.2,
                    marker="o",
                    markersize=2,
                    label=label,
                )
        for number, (when, text) in enumerate(adjustments, start=1):
            when_ts = pd.Timestamp(when)
            if not first <= when_ts <= last:
                continue
            marker = _circled(number)
            axes.axvline(
                when_ts,
                color=ADJUSTMENT_COLOUR,
                linestyle="--",
                linewidth=1,
                label=f"{marker} {when_ts:%m-%d} {text}"[:80],
            )
            axes.annotate(
                marker,
                xy=(when_ts, 1),
                xycoords=("data", "axes fraction"),
                xytext=(2, -10),
                textcoords="offset points",
                color=ADJUSTMENT_COLOUR,
                fontsize=8,
            )
        axes.set_ylabel(unit or "")
        axes.grid(axis="y", color="#dee2e6", linewidth=0.6)
        axes.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=4, maxticks=10))
        axes.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
        axes.set_xlim(first - timedelta(days=1), last + timedelta(days=1))
        axes.legend(
            loc="upper left", bbox_to_anchor=(0.0, -0.12), frameon=False, fontsize=8, ncol=2
        )
        return _to_svg(figure, _axis_label(title, unit))


def _circled(number: int) -> str:
    return chr(0x2460 + number - 1) if 1 <= number <= 20 else f"({number})"


def bar_chart_svg(
    labels: Sequence[Any],
    values: Sequence[float | None],
    *,
    title: str,
    unit: str,
    highlight: Any = None,
) -> str:
    """Horizontal bars, one per label, with the value printed at the end of each bar.

    ``highlight`` is a label, or a collection of labels, drawn in the accent colour.
    Missing values (None/NaN) get no bar and a "—".
    """
    if highlight is None:
        highlighted: set[str] = set()
    elif isinstance(highlight, str) or not isinstance(highlight, Iterable):
        highlighted = {str(highlight)}
    else:
        highlighted = {str(h) for h in highlight}
    names = [str(label) for label in labels]
    numbers = [None if v is None or pd.isna(v) else float(v) for v in values]
    with matplotlib.rc_context(_RC):
        height = max(1.6, 0.3 * len(names) + 0.9)
        figure = Figure(figsize=(7, height), dpi=100, layout="constrained")
        axes = figure.add_subplot()
        axes.set_title(title, loc="left")
        if not names:
            axes.text(0.5, 0.5, "—", ha="center", va="center", transform=axes.transAxes)
            axes.set_axis_off()
            return _to_svg(figure, title)
        positions = list(range(len(names)))[::-1]
        colours = [HIGHLIGHT_COLOUR if n in highlighted else PILOT_COLOUR for n in names]
        axes.barh(positions, [v or 0.0 for v in numbers], color=colours, height=0.6)
        axes.set_yticks(positions, names)
        axes.axvline(0, color="#212529", linewidth=0.8)
        finite = [abs(v) for v in numbers if v is not None]
        span = max(finite) if finite else 1.0
        for position, value in zip(positions, numbers, strict=True):
            text = "—" if value is None else f"{value:,.3g}"
            offset = span * 0.01 if (value or 0) >= 0 else -span * 0.01
            axes.text(
                (value or 0) + offset,
                position,
                text,
                va="center",
                ha="left" if (value or 0) >= 0 else "right",
                fontsize=8,
            )
        axes.set_xlabel(unit or "")
        axes.grid(axis="x", color="#dee2e6", linewidth=0.6)
        axes.margins(x=0.15)
        return _to_svg(figure, _axis_label(title, unit))


__all__ = ["bar_chart_svg", "daily_series_svg"]
