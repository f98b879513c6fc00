"""Report charts: SVG from matplotlib (Agg), no CDN, readable in print and in PDFs.

Report-specific charts live here (event study, forest plots, permutation distribution,
site-by-site effects). The daily pilot-vs-control series uses the shared
``app.core.charts.daily_series_svg`` when it exists and a local equivalent otherwise. Text is
drawn as paths with a CJK-capable font first, so Chinese labels render everywhere.
Snapshots are immutable, so rendered charts are cached per (report, chart, locale).
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

PILOT_COLOUR = "#d9480f"
CONTROL_COLOUR = "#495057"
GOOD = "#2b8a3e"
BAD = "#c92a2a"
NEUTRAL = "#1864ab"
RC = {
    "font.family": "sans-serif",
    "font.sans-serif": ["Noto Sans CJK SC", "Noto Sans CJK JP", "DejaVu Sans"],
    "font.size": 9,
    "svg.fonttype": "path",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.unicode_minus": True,
    "svg.hashsalt": "rollwise",
}

CJK_FONT_GLOBS = (
    "/usr/share/fonts/**/NotoSansCJK*-Regular.tt[cf]",
    "/usr/share/fonts/**/NotoSansCJK*-Regular.otf",
    "/usr/share/fonts/**/NotoSansSC*-Regular.*",
    "/usr/share/fonts/**/wqy-*.tt[cf]",
    "/usr/local/share/fonts/**/*CJK*.tt[cf]",
)
_fonts_ready = False


def ensure_cjk_font() -> None:
    """Make a CJK font known to matplotlib even when its font cache predates the font's
    installation (the cache is only rebuilt when matplotlib's version changes)."""
    global _fonts_ready
    if _fonts_ready:
        return
    from matplotlib import font_manager

    known = {f.name for f in font_manager.fontManager.ttflist}
    if not any("CJK" in name or name.endswith(" SC") for name in known):
        import glob

        for pattern in CJK_FONT_GLOBS:
            for path in sorted(glob.glob(pattern, recursive=True))[:2]:
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        known = {f.name for f in font_manager.fontManager.ttflist}
    cjk = sorted(n for n in known if ("CJK" in n or n.startswith("WenQuanYi")) and "Mono" not in n)
    preferred = [n for n in ("Noto Sans CJK SC", "Noto Sans CJK JP") if n in cjk]
    RC["font.sans-serif"] = [*preferred, *cjk, "DejaVu Sans"]
    _fonts_ready = True


_CACHE: OrderedDict[tuple, str] = OrderedDict()
_CACHE_SIZE = 256
_LOCK = threading.Lock()


def cached(key: tuple, render: Callable[[], str]) -> str:
    """Render once per key (snapshots never change); a small LRU bounded at 256 charts."""
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    svg = render()
    with _LOCK:
        _CACHE[key] = svg
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return svg


def _wrap(title: str, width: int = 58) -> str:
    """Titles wrap instead of running off the figure (CJK text has no spaces: hard wrap)."""
    import textwrap

    if " " not in title.strip():
        return "\n".join(title[i : i + width // 2] for i in range(0, len(title), width // 2))
    return textwrap.fill(title, width)


def _rc() -> dict:
    ensure_cjk_font()
    return RC


def _svg(fig) -> str:  # noqa: ANN001
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def daily_chart(
    series: dict[str, Any],
    *,
    start: date,
    adjustments: Sequence[tuple[date, str]],
    title: str,
    unit: str,
    labels: tuple[str, str, str] = ("Pilot", "Control", "Pre-period"),
    end: date | None = None,
) -> str:
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(series["dates"]),
            "pilot": pd.to_numeric(pd.Series(series["pilot"]), errors="coerce"),
            "control": pd.to_numeric(pd.Series(series["control"]), errors="coerce"),
        }
    )
    try:
        from app.core.charts import daily_series_svg  # the shared chart, once it exists
    except ImportError:
        daily_series_svg = None
    if daily_series_svg is not None:
        ensure_cjk_font()
        try:
            return daily_series_svg(
                frame,
                start=start,
                adjustments=list(adjustments),
                title=title,
                unit=unit,
                pilot_label=labels[0],
                control_label=labels[1],
                end=end,
            )
        except TypeError:  # signature still moving: fall back to the local chart
            pass
    with plt.rc_context(_rc()):
        fig, ax = plt.subplots(figsize=(7.5, 2.8))
        ax.axvspan(frame["date"].min(), pd.Timestamp(start), color="#e9ecef", lw=0)
        ax.plot(frame["date"], frame["pilot"], color=PILOT_COLOUR, lw=1.6, label=labels[0])
        ax.plot(frame["date"], frame["control"], color=CONTROL_COLOUR, lw=1.2, label=labels[1])
        ax.axvline(pd.Timestamp(start), color="#868e96", lw=0.8, ls="--")
        top = np.nanmax(frame[["pilot", "control"]].to_numpy()) if len(frame) else 0
        for when, name in adjustments:
            ax.axvline(pd.Timestamp(when), color=NEUTRAL, lw=0.8, ls=":")
            ax.annotate(
                name,
                (pd.Timestamp(when), top),
                fontsize=7,
                color=NEUTRAL,
                rotation=90,
                va="top",
                ha="right",
            )
        ax.set_title(_wrap(title), loc="left", fontsize=10)
        ax.set_ylabel(unit)
        ax.legend(frameon=False, ncol=2, loc="lower left", fontsize=8)
        fig.autofmt_xdate()
        return _svg(fig)


def event_study_chart(points: list[dict[str, Any]], *, title: str, xlabel: str) -> str:
    with plt.rc_context(_rc()):
        fig, ax = plt.subplots(figsize=(5.5, 2.6))
        weeks = [p["week"] for p in points]
        est = np.array([p.get("effect") if p.get("effect") is not None else np.nan for p in points])
        lo = np.array([p.get("ci_low") if p.get("ci_low") is not None else np.nan for p in points])
        hi = np.array(
            [p.get("ci_high") if p.get("ci_high") is not None else np.nan for p in points]
        )
        ax.axhline(0, color="#868e96", lw=0.8)
        ax.axvline(-0.5, color="#868e96", lw=0.8, ls="--")
        colours = [CONTROL_COLOUR if w < 0 else PILOT_COLOUR for w in weeks]
        ax.vlines(weeks, lo, hi, colors=colours, lw=1.5)
        ax.scatter(weeks, est, c=colours, s=18, zorder=3)
        ax.set_xticks(weeks)
        ax.set_xlabel(xlabel)
        ax.set_title(_wrap(title), loc="left", fontsize=10)
        return _svg(fig)


def forest_chart(
    rows: list[tuple[str, float, float, float, str]], *, title: str, xlabel: str, percent=False
) -> str:
    """One row per estimate: ``(label, estimate, low, high, colour)``; a line at zero."""
    with plt.rc_context(_rc()):
        fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(rows) + 0.9))
        ys = np.arange(len(rows))[::-1]
        for y, (_label, est, lo, hi, colour) in zip(ys, rows, strict=True):
            if est is None or lo is None or hi is None:
                continue
            ax.plot([lo, hi], [y, y], color=colour, lw=2)
            ax.plot([est], [y], "o", color=colour, ms=5)
        ax.axvline(0, color="#868e96", lw=0.8)
        ax.set_yticks(ys)
        ax.set_yticklabels([r[0] for r in rows])
        ax.set_xlabel(xlabel)
        if percent:
            ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_title(_wrap(title), loc="left", fontsize=10)
        return _svg(fig)


def permutation_chart(
    distribution: Sequence[float], observed: float, *, title: str, xlabel: str, observed_label: str
) -> str:
    with plt.rc_context(_rc()):
        fig, ax = plt.subplots(figsize=(5.5, 2.4))
        values = np.asarray([v for v in distribution if v is not None], dtype=float)
        if values.size:
            ax.hist(values, bins=40, color="#adb5bd")
        ax.axvline(observed, color=PILOT_COLOUR, lw=2, label=observed_label)
        ax.legend(frameon=False, fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_yticks([])
        ax.set_title(_wrap(title), loc="left", fontsize=10)
        return _svg(fig)


def site_effects_chart(
    rows: list[dict[str, Any]], *, title: str, xlabel: str, labels: tuple[str, str]
) -> str:
    """Each site's change (post minus pre mean) relative to the control sites' average."""
    with plt.rc_context(_rc()):
        height = max(2.2, 0.16 * len(rows) + 0.8)
        fig, ax = plt.subplots(figsize=(6.0, min(height, 9.0)))
        ordered = sorted(rows, key=lambda r: r["effect"] if r["effect"] is not None else 0)
        ys = np.arange(len(ordered))
        colours = [PILOT_COLOUR if r["arm"] == "pilot" else CONTROL_COLOUR for r in ordered]
        ax.hlines(ys, 0, [r["effect"] or 0 for r in ordered], colors=colours, lw=1.5)
        ax.scatter([r["effect"] or 0 for r in ordered], ys, c=colours, s=10, zorder=3)
        ax.axvline(0, color="#868e96", lw=0.8)
        ax.set_yticks(ys)
        ax.set_yticklabels([r["site"] for r in ordered], fontsize=6)
        ax.set_xlabel(xlabel)
        from matplotlib.lines import Line2D

        ax.legend(
            [Line2D([0], [0], color=PILOT_COLOUR), Line2D([0], [0], color=CONTROL_COLOUR)],
            list(labels),
            frameon=False,
            fontsize=8,
            loc="lower right",
        )
        ax.set_title(_wrap(title), loc="left", fontsize=10)
        return _svg(fig)
