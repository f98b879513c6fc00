"""The feedback page's charts, drawn with the shared server-side SVG helpers from the numbers
``app.feedback.analytics.pilot_overview`` read (this module only draws)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
from flask_babel import gettext as _

from app.core.charts import bar_chart_svg, daily_series_svg
from app.core.labels import ARM_WORDS, by_value
from app.models import Arm, Pilot


def _wide(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    if frame is None or frame.empty:
        return pd.DataFrame(columns=["date", "pilot", "control"])
    wide = frame.pivot_table(index="date", columns="arm", values=value, aggfunc="sum")
    wide = wide.reindex(columns=["pilot", "control"]).reset_index()
    return wide


def overview_charts(
    pilot: Pilot, overview: dict[str, Any], label: Callable[[dict], str]
) -> dict[str, str]:
    charts: dict[str, str] = {}
    adjustments = overview["adjustments"]
    counts = _wide(overview.get("daily_counts"), "n")
    charts["responses"] = daily_series_svg(
        counts,
        start=pilot.start_date,
        end=pilot.end_date,
        adjustments=adjustments,
        title=_("Customer responses per day"),
        unit=_("responses"),
    )
    headline = overview.get("headline") or {}
    daily = headline.get("daily_csat")
    if daily is not None:
        pct = daily.assign(pct=100 * daily["mean"])
        charts["csat"] = daily_series_svg(
            _wide(pct, "pct"),
            start=pilot.start_date,
            end=pilot.end_date,
            adjustments=adjustments,
            title=_("Customer satisfaction per day (share rating 4–5)"),
            unit="%",
        )
    table = headline.get("segment_table") or []
    if table:
        labels, values, seniors = [], [], []
        for row in table:
            for arm, arm_label in by_value(Arm, labels=ARM_WORDS).items():
                name = label(row["option"]) if row.get("option") else row["segment"]
                label_text = f"{name} · {arm_label}"
                rate = row[f"{arm}_post"]["csat"]
                labels.append(label_text)
                values.append(None if rate is None else 100 * rate)
                if row["is_senior"]:
                    seniors.append(label_text)
        charts["segments"] = bar_chart_svg(
            labels,
            values,
            title=_("Satisfaction by age band since the start (seniors highlighted)"),
            unit="%",
            highlight=seniors,
        )
    return charts
