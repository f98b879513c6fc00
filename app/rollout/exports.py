"""A rollout plan as CSV, Excel and iCalendar files.

* CSV: one row per site, UTF-8 with a byte-order mark so Excel opens Chinese names correctly.
* Excel: sheets "Sites", "Waves" and "Capacity", with a frozen header row.
* iCalendar (RFC 5545): per wave an all-day event for the go-live window and one for the gate
  review, with stable UIDs so re-importing updates the calendar instead of duplicating it.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from app.core import clock
from app.core import tables as tabular
from app.core.labels import READINESS_TIER_WORDS, ROLLOUT_EXPORT_COLUMNS, by_value
from app.core.numbers import column_kind, round_for_column
from app.models import RolloutPlan, SizeTier
from app.rollout.plans import (
    _,
    _mentor_label,
    capacity_use,
    checklist_progress,
    wave_summary,
)


def site_rows(plan: RolloutPlan) -> list[dict[str, Any]]:
    mentors = {p.mentee_site_id: _mentor_label(p) for p in plan.mentor_pairs}
    sizes = by_value(SizeTier)
    rows = []
    ordered = sorted(
        plan.sites,
        key=lambda ws: (
            ws.is_holdback,
            ws.wave.number if ws.wave else 0,
            ws.go_live_date or datetime.max.date(),
            ws.site.code,
        ),
    )
    for ws in ordered:
        done, total = checklist_progress([ws])
        adaptations = [i["title"] for i in ws.checklist or [] if i.get("source") == "adaptation"]
        rows.append(
            {
                "wave": ws.wave.number if ws.wave else None,
                "holdback": ws.is_holdback,
                "site_code": ws.site.code,
                "site_name": ws.site.name,
                "region": ws.site.region,
                "size_tier": str(sizes[ws.site.size_tier.value]),
                "readiness": round(ws.readiness_score, 1)
                if ws.readiness_score is not None
                else None,
                "tier": str(READINESS_TIER_WORDS.get(ws.readiness_tier, ws.readiness_tier or "")),
                "load": ws.capacity_load,
                "go_live": ws.go_live_date,
                "wave_start": ws.wave.start_date if ws.wave else None,
                "gate_due": ws.wave.end_date if ws.wave else None,
                "mentor": mentors.get(ws.site_id) or "",
                "predicted_effect": ws.predicted_effect,
                "predicted_low": ws.predicted_low,
                "predicted_high": ws.predicted_high,
                "extrapolation": ws.is_extrapolation,
                "adaptations": "; ".join(adaptations),
                "checklist_done": done,
                "checklist_total": total,
            }
        )
    return rows


def _headers() -> dict[str, str]:
    return {key: str(text) for key, text in ROLLOUT_EXPORT_COLUMNS.items()}


def _cell(value: Any, key: str) -> Any:
    if isinstance(value, bool):
        return _("yes") if value else ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return "" if value is None else round_for_column(value, column_kind(key))


def to_csv(plan: RolloutPlan) -> bytes:
    """One row per site; written like every download (``tabular.csv_bytes``: BOM, rounding)."""
    headers = _headers()
    frame = pd.DataFrame(
        [[_cell(row[k], k) for k in headers] for row in site_rows(plan)],
        columns=list(headers),
        dtype=object,
    )
    return tabular.csv_bytes(frame, headers.values())


def to_xlsx(plan: RolloutPlan) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = _("Sites")[:31]
    headers = _headers()
    sheet.append(list(headers.values()))
    for row in site_rows(plan):
        values = []
        for key in headers:
            value = row[key]
            if isinstance(value, bool):
                value = _("yes") if value else ""
            values.append(round_for_column(value, column_kind(key)))
        sheet.append(values)
    for column, key in enumerate(headers, start=1):
        if key in ("go_live", "wave_start", "gate_due"):
            for cells in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
                cells[0].number_format = "yyyy-mm-dd"
    waves = book.create_sheet(_("Waves")[:31])
    waves.append(
        [
            _("Wave"),
            _("Start"),
            _("Gate due"),
            _("Status"),
            _("Sites"),
            _("Capacity load"),
            _("Go-live weeks"),
            _("Predicted effect"),
            _("Interval low"),
            _("Interval high"),
        ]
    )
    for wave in plan.waves:
        s = wave_summary(plan, wave)
        p = s["prediction"] or {}
        waves.append(
            [
                wave.number,
                wave.start_date,
                wave.end_date,
                wave.status.value,
                len(s["sites"]),
                round_for_column(s["load"], "share"),
                s["weeks"],
                round_for_column(p.get("effect"), "number"),
                round_for_column(p.get("low"), "number"),
                round_for_column(p.get("high"), "number"),
            ]
        )
    capacity = book.create_sheet(_("Capacity")[:31])
    capacity.append([_("Week of"), _("Load"), _("Capacity"), _("Sites")])
    for row in capacity_use(plan):
        load, cap = (round_for_column(row[k], "share") for k in ("load", "capacity"))
        capacity.append([row["week"], load, cap, ", ".join(row["sites"])])
    for ws in book.worksheets:
        ws.freeze_panes = "A2"
        for cell in ws[1]:
            cell.font = Font(bold=True)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def to_ics(plan: RolloutPlan, host: str = "rollwise") -> bytes:
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", "-//Rollwise//Rollout plan//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", plan.name)
    stamp = clock.utc_now().replace(microsecond=0)
    for wave in plan.waves:
        s = wave_summary(plan, wave)
        codes = ", ".join(ws.site.code for ws in s["sites"])
        last = s["last_go_live"] or wave.start_date
        window = Event()
        window.add("uid", f"plan-{plan.id}-wave-{wave.number}@{host}")
        window.add("dtstamp", stamp)
        window.add("summary", _("%(plan)s: wave %(n)s go-live", plan=plan.name, n=wave.number))
        window.add("dtstart", wave.start_date)
        window.add("dtend", last + timedelta(days=1))
        window.add(
            "description",
            _("Sites: %(sites)s. Gate review due on %(day)s.", sites=codes, day=wave.end_date),
        )
        window.add("categories", ["Rollwise", "rollout"])
        cal.add_component(window)
        gate = Event()
        gate.add("uid", f"plan-{plan.id}-wave-{wave.number}-gate@{host}")
        gate.add("dtstamp", stamp)
        gate.add("summary", _("%(plan)s: wave %(n)s gate review", plan=plan.name, n=wave.number))
        gate.add("dtstart", wave.end_date)
        gate.add("dtend", wave.end_date + timedelta(days=1))
        gate.add(
            "description",
            _(
                "Go/no-go decision for wave %(n)s (%(count)s sites).",
                n=wave.number,
                count=len(s["sites"]),
            ),
        )
        cal.add_component(gate)
        for ws in s["sites"]:
            if ws.go_live_date is None:
                continue
            event = Event()
            event.add("uid", f"plan-{plan.id}-site-{ws.site.code}@{host}")
            event.add("dtstamp", stamp)
            event.add(
                "summary",
                _(
                    "%(site)s goes live (wave %(n)s)",
                    site=f"{ws.site.code} {ws.site.name}",
                    n=wave.number,
                ),
            )
            event.add("dtstart", ws.go_live_date)
            event.add("dtend", ws.go_live_date + timedelta(days=1))
            cal.add_component(event)
    return cal.to_ical()
