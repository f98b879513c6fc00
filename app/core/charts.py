"""Server-side charts, one setup for every area: SVG rendered with matplotlib, printable,
offline and PDF-ready.

Everything a chart shares lives here once: the backend (Agg; figures are
``matplotlib.figure.Figure``, never ``pyplot``, so concurrent requests share no state), the
style (:data:`STYLE`, the pilot/control/adjustment colours below, a CJK-capable font stack),
figure creation (:func:`figure`) and the two ways a chart leaves the server:

* :func:`inline_svg`, for a chart embedded in a page with ``|safe``: it scales to its
  container (``viewBox``, no fixed size), carries ``role="img"`` and an ``aria-label``, and
  keeps text as text, so Chinese renders in the browser's fonts and stays selectable;
* :func:`file_svg`, for a chart served as a file (an ``<img>``, the report PDF): fixed size,
  tight bounding box, text drawn as glyph outlines from a CJK font first, so Chinese renders
  without the reader's fonts.

Text from users (titles, labels, adjustment notes) is XML-escaped by matplotlib and never
read as mathtext (``$5 off, now $3`` stays as typed), so the result is safe to embed. The
charts several areas draw (the daily pilot-vs-control series, bars) live here too; an area's
own ``charts.py`` keeps only what its charts draw.
"""

from __future__ import annotations

import glob
import io
import logging
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from functools import cache
from html import escape
from typing import Any

import matplotlib
import matplotlib.dates as mdates
import pandas as pd
from flask_babel import gettext as _
from matplotlib import font_manager
from matplotlib.figure import Figure

from app.core import clock
from app.core.cache import lru_cached
from app.core.numbers import MINUS

# Figures never go through pyplot; should anything import it (pandas' .plot, a notebook
# helper), it stays headless.
matplotlib.use("Agg")

log = logging.getLogger(__name__)

PILOT_COLOUR = "#0d6efd"
CONTROL_COLOUR = "#6c757d"
HIGHLIGHT_COLOUR = "#d63384"
ADJUSTMENT_COLOUR = "#fd7e14"
PRE_PERIOD_SHADE = "#e9ecef"

#: The house style, in force while a figure is drawn and rendered.
STYLE = {
    "svg.hashsalt": "rollwise",  # stable ids: equal data, equal SVG
    "text.parse_math": False,  # "$5 off, now $3" is text, not mathtext
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
}
#: Text kept as text: layout uses DejaVu metrics; browsers and PDF renderers fall back per
#: glyph to a CJK font.
TEXT_FONTS = ("DejaVu Sans", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei")
PREFERRED_CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP")
CJK_FONT_GLOBS = (
    "/usr/share/fonts/**/NotoSansCJK*-Regular.tt[cf]",
    "/usr/share/fonts/**/NotoSansCJK*-Regular.otf",
    "/usr/share/fonts/**/NotoSansSC*-Regular.*",
    "/usr/share/fonts/**/wqy-*.tt[cf]",
    "/usr/local/share/fonts/**/*CJK*.tt[cf]",
)


@contextmanager
def figure(width: float, height: float, *, layout: str | None = "constrained") -> Iterator[Figure]:
    """A new figure (inches) in the house style: draw on it and render it inside the block.

    ``layout=None`` leaves the axes where matplotlib puts them (charts rendered by
    :func:`file_svg` are cropped to what they draw anyway).
    """
    with matplotlib.rc_context(STYLE):
        yield Figure(figsize=(width, height), dpi=100, layout=layout)


def inline_svg(fig: Figure, label: str) -> str:
    """The ``<svg>`` element of a chart for a page: scales to its container, text kept as
    text, ``role="img"`` and ``aria-label`` (``label``, escaped)."""
    text = {"svg.fonttype": "none", "font.sans-serif": _text_fonts()}
    with matplotlib.rc_context(STYLE | text):
        with warnings.catch_warnings():
            # text is kept as text, so a glyph missing from the layout font is harmless
            warnings.filterwarnings(
                "ignore", message="Glyph .* missing from font", category=UserWarning
            )
            svg = _svg(fig)
    # scale to the container (class rw-chart): drop the fixed size, keep the viewBox
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", svg, count=1)
    svg = without_css(svg)
    return svg.replace(
        "<svg", f'<svg role="img" aria-label="{escape(label, quote=True)}" class="rw-chart"', 1
    )


def without_css(svg: str) -> str:
    """The same drawing with its CSS turned into SVG presentation attributes.

    A page's Content-Security-Policy allows no inline styles, and an SVG inlined in the page
    is part of it: its ``style`` attributes and ``<style>`` element would be ignored,
    presentation attributes are not. Matplotlib's one rule, ``*{stroke-linejoin: round;
    stroke-linecap: butt}``, becomes attributes of the root, which every element inherits
    unless it sets its own, as before. A property that has no presentation attribute stays
    in ``style`` (none of the house charts draws one).
    """
    defaults = ""
    rule = _DEFAULT_RULE.search(svg)
    if rule:
        defaults = _attributes(rule.group(1))
        svg = svg[: rule.start()] + svg[rule.end() :]
    svg = _STYLE_ATTRIBUTE.sub(lambda match: _attributes(match.group(1)), svg)
    return svg.replace("<svg", f"<svg{defaults}", 1)


#: CSS properties that are also SVG presentation attributes (the ones matplotlib writes).
PRESENTATION_ATTRIBUTES = frozenset(
    {
        "clip-path", "clip-rule", "color", "dominant-baseline", "fill", "fill-opacity",
        "fill-rule", "font-family", "font-size", "font-stretch", "font-style",
        "font-variant", "font-weight", "letter-spacing", "opacity", "stroke",
        "stroke-dasharray", "stroke-dashoffset", "stroke-linecap", "stroke-linejoin",
        "stroke-miterlimit", "stroke-opacity", "stroke-width", "text-anchor",
        "text-decoration", "visibility", "word-spacing",
    }
)  # fmt: skip
_DEFAULT_RULE = re.compile(r"\s*<defs>\s*<style[^>]*>\*\{([^}<]*)\}</style>\s*</defs>")
_STYLE_ATTRIBUTE = re.compile(r' style="([^"]*)"')


def _attributes(declarations: str) -> str:
    attributes, kept = [], []
    for declaration in declarations.split(";"):
        name, _colon, value = (part.strip() for part in declaration.partition(":"))
        if not name:
            continue
        if name in PRESENTATION_ATTRIBUTES:
            attributes.append(f' {name}="{_attribute_value(value)}"')
        else:
            kept.append(f"{name}: {value}")
    if kept:
        attributes.append(f' style="{_attribute_value("; ".join(kept))}"')
    return "".join(attributes)


def _attribute_value(text: str) -> str:
    return escape(text, quote=False).replace('"', "&quot;")


def file_svg(fig: Figure) -> str:
    """A chart as an SVG file: fixed size, cropped to what it draws, text as glyph outlines
    from a CJK font first (an ``<img>`` or a PDF needs no fonts of its own)."""
    outlines = {"svg.fonttype": "path", "font.sans-serif": _outline_fonts()}
    with matplotlib.rc_context(STYLE | outlines):
        return _svg(fig, bbox_inches="tight")


def _svg(fig: Figure, **options: Any) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, **options)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]  # no XML declaration or doctype: ready to inline


def _text_fonts() -> tuple[str, ...]:
    _register_cjk_fonts()
    return TEXT_FONTS


@cache
def _outline_fonts() -> tuple[str, ...]:
    """Every installed CJK family (Noto Sans CJK SC first), then DejaVu Sans for the rest."""
    _register_cjk_fonts()
    known = {f.name for f in font_manager.fontManager.ttflist}
    cjk = sorted(n for n in known if ("CJK" in n or n.startswith("WenQuanYi")) and "Mono" not in n)
    preferred = [n for n in PREFERRED_CJK_FONTS if n in cjk]
    return (*preferred, *cjk, "DejaVu Sans")


@cache
def _register_cjk_fonts() -> None:
    """Make a CJK font known to matplotlib even when its font cache predates the font's
    installation (the cache is only rebuilt when matplotlib's version changes)."""
    known = {f.name for f in font_manager.fontManager.ttflist}
    if any("CJK" in name or name.endswith(" SC") for name in known):
        return
    for pattern in CJK_FONT_GLOBS:
        for path in sorted(glob.glob(pattern, recursive=True))[:2]:
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError) as exc:
                log.warning("CJK font %s not usable by matplotlib: %s", path, exc)


def date_format(first: date, last: date) -> str:
    """How a date axis writes its ticks: ``%m-%d`` within this year, ``%Y-%m-%d`` when the
    axis crosses a year boundary or lies in another year (the same rule as
    ``numbers.date_span``)."""
    this_year = clock.today().year
    same = pd.Timestamp(first).year == pd.Timestamp(last).year == this_year
    return "%m-%d" if same else "%Y-%m-%d"


def date_axis(axis: Any, first: date, last: date, *, minticks: int = 3, maxticks: int = 10) -> str:
    """Ticks of a date ``axis`` spanning ``first`` … ``last``, with years when it crosses a
    year; returns the format used."""
    fmt = date_format(first, last)
    axis.set_major_locator(mdates.AutoDateLocator(minticks=minticks, maxticks=maxticks))
    axis.set_major_formatter(mdates.DateFormatter(fmt))
    return fmt


def _axis_label(title: str, unit: str) -> str:
    return f"{title} ({unit})" if unit else title


def daily_series_svg(frame: pd.DataFrame, **options: Any) -> str:
    """:func:`draw_daily_series` remembered for equal data, options and language: drawing
    takes matplotlib a few hundred milliseconds, and a dashboard draws the same charts again
    and again until new data arrives."""
    options["adjustments"] = tuple(options.get("adjustments") or ())
    return _remembered_series(frame, **options)


def _series_key(frame: pd.DataFrame | None, **options: Any) -> tuple:
    from flask_babel import get_locale

    digest = (
        None
        if frame is None
        else (tuple(frame.columns), int(pd.util.hash_pandas_object(frame).sum()), len(frame))
    )
    return digest, tuple(sorted(options.items())), str(get_locale())


@lru_cached(64, key=_series_key)
def _remembered_series(frame: pd.DataFrame, **options: Any) -> str:
    return draw_daily_series(frame, **options)


def draw_daily_series(
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
    with figure(8, 3.8) as chart:
        axes = chart.add_subplot()
        axes.set_title(title, loc="left")
        if frame is None or frame.empty:
            axes.text(0.5, 0.5, "—", ha="center", va="center", transform=axes.transAxes)
            axes.set_axis_off()
            return inline_svg(chart, title)
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
                label=f"{marker} {when_ts.strftime(date_format(first, last))} {text}"[:80],
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
        date_axis(axes.xaxis, first, last, minticks=4)
        axes.set_xlim(first - timedelta(days=1), last + timedelta(days=1))
        axes.legend(
            loc="upper left", bbox_to_anchor=(0.0, -0.12), frameon=False, fontsize=8, ncol=2
        )
        return inline_svg(chart, _axis_label(title, unit))


def _circled(number: int) -> str:
    return chr(0x2460 + number - 1) if 1 <= number <= 20 else f"({number})"


def _bar_key(labels: Sequence[Any], values: Sequence[float | None], **options: Any) -> str:
    from flask_babel import get_locale

    return repr((list(labels), list(values), sorted(options.items()), str(get_locale())))


@lru_cached(64, key=_bar_key)
def bar_chart_svg(labels: Sequence[Any], values: Sequence[float | None], **options: Any) -> str:
    """:func:`draw_bar_chart`, remembered for equal labels, values, options and language."""
    return draw_bar_chart(labels, values, **options)


def draw_bar_chart(
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
    with figure(7, max(1.6, 0.3 * len(names) + 0.9)) as chart:
        axes = chart.add_subplot()
        axes.set_title(title, loc="left")
        if not names:
            axes.text(0.5, 0.5, "—", ha="center", va="center", transform=axes.transAxes)
            axes.set_axis_off()
            return inline_svg(chart, title)
        positions = list(range(len(names)))[::-1]
        colours = [HIGHLIGHT_COLOUR if n in highlighted else PILOT_COLOUR for n in names]
        axes.barh(positions, [v or 0.0 for v in numbers], color=colours, height=0.6)
        axes.set_yticks(positions, names)
        axes.axvline(0, color="#212529", linewidth=0.8)
        finite = [abs(v) for v in numbers if v is not None]
        span = max(finite) if finite else 1.0
        for position, value in zip(positions, numbers, strict=True):
            text = "—" if value is None else f"{value:,.3g}".replace("-", MINUS)
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
        return inline_svg(chart, _axis_label(title, unit))


__all__ = [
    "date_axis",
    "date_format",
    "ADJUSTMENT_COLOUR",
    "CONTROL_COLOUR",
    "HIGHLIGHT_COLOUR",
    "PILOT_COLOUR",
    "PRE_PERIOD_SHADE",
    "STYLE",
    "bar_chart_svg",
    "daily_series_svg",
    "figure",
    "file_svg",
    "inline_svg",
    "without_css",
]
