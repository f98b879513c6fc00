"""Minutes of a retro: Markdown, plain text for a chat group, and PDF (WeasyPrint).

All three are built from :func:`minutes_data`, in the current locale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import render_template
from flask_babel import format_date
from flask_babel import gettext as _

from app.core.labels import ACTION_STATUS_LABELS, RETRO_CATEGORY_LABELS
from app.models import ActionItem, Adjustment, Retrospective
from app.retros.adjustments import describe_condition
from app.retros.meetings import (
    CarriedAction,
    carried_actions,
    categories,
    decisions_of,
)

#: The font WeasyPrint uses for the PDF (installed with fonts-noto-cjk; covers Chinese).
PDF_FONT_FAMILY = '"Noto Sans CJK SC", "Noto Sans SC", "Noto Sans", sans-serif'


@dataclass(frozen=True, slots=True)
class MinutesData:
    retro: Retrospective
    title: str
    columns: list[tuple[str, list[str]]]  # (label, notes)
    adjustments: list[Adjustment]
    actions: list[ActionItem]
    carried: list[CarriedAction]


def minutes_data(retro: Retrospective) -> MinutesData:
    pilot = retro.pilot
    day_number = pilot.day_number(retro.date)
    title = _(
        "Retro %(date)s — %(pilot)s", date=format_date(retro.date, "medium"), pilot=pilot.name
    )
    if day_number:
        title += " · " + _("Day %(n)s", n=day_number)
    columns = []
    for category in categories(retro):
        notes = [_note(item) for item in retro.items if item.category == category]
        columns.append((str(RETRO_CATEGORY_LABELS.get(category, category)), notes))
    adjustments, actions = decisions_of(retro)
    carried = [c for c in carried_actions(pilot, retro.date) if c.action.retro_id != retro.id]
    return MinutesData(retro, title, columns, adjustments, actions, carried)


def _note(item) -> str:
    extra = []
    if item.sites:
        extra.append(", ".join(s.code for s in item.sites))
    if item.responses:
        extra.append(_("%(n)s feedback comments", n=len(item.responses)))
    return item.text + (f" ({'; '.join(extra)})" if extra else "")


def _fmt(day: date | None) -> str:
    return format_date(day, "medium") if day else "—"


def _adjustment_line(adj: Adjustment) -> str:
    scope = {
        "all_pilot_sites": _("all pilot sites"),
        "selected_sites": ", ".join(s.code for s in adj.sites),
        "condition": _("sites where %(condition)s", condition=describe_condition(adj.condition)),
    }[adj.scope.value]
    line = _(
        "%(title)s — from %(date)s at %(scope)s",
        title=adj.title,
        date=_fmt(adj.effective_date),
        scope=scope,
    )
    if adj.description:
        line += f": {adj.description}"
    return line


def _action_line(action: ActionItem) -> str:
    owner = action.owner.name if action.owner else _("no owner")
    due = _fmt(action.due_date) if action.due_date else _("no due date")
    status = str(ACTION_STATUS_LABELS[action.status])
    return _(
        "%(title)s — %(owner)s, due %(due)s [%(status)s]",
        title=action.title,
        owner=owner,
        due=due,
        status=status,
    )


def _carried_line(item: CarriedAction) -> str:
    line = _action_line(item.action) + " · " + _("%(n)s days old", n=item.age_days)
    if item.overdue:
        line += " · " + _("overdue")
    return line


def minutes_markdown(retro: Retrospective) -> str:
    data = minutes_data(retro)
    r = data.retro
    lines = [f"# {data.title}", ""]
    lines.append(f"- **{_('Facilitator')}:** {r.facilitator.name if r.facilitator else '—'}")
    lines.append(f"- **{_('Attendees')}:** {r.attendees or '—'}")
    lines.append("")
    if r.summary:
        lines += [f"## {_('Summary')}", "", r.summary, ""]
    for label, notes in data.columns:
        lines += [f"## {label}", ""]
        lines += [f"- {_md(n)}" for n in notes] or [f"- {_('(none)')}"]
        lines.append("")
    lines += [f"## {_('Decisions: process adjustments')}", ""]
    lines += [f"- {_md(_adjustment_line(a))}" for a in data.adjustments] or [f"- {_('(none)')}"]
    lines += ["", f"## {_('Decisions: action items')}", ""]
    lines += [f"- [ ] {_md(_action_line(a))}" for a in data.actions] or [f"- {_('(none)')}"]
    lines += ["", f"## {_('Open actions carried forward')}", ""]
    lines += [
        f"- [{'x' if c.action.status.is_closed else ' '}] {_md(_carried_line(c))}"
        for c in data.carried
    ] or [f"- {_('(none)')}"]
    lines.append("")
    return "\n".join(lines)


def _md(text: str) -> str:
    """Keep user text from turning into Markdown structure (line breaks, headings)."""
    return " ".join(text.split()).replace("#", "\\#")


def minutes_text(retro: Retrospective) -> str:
    """Compact plain text to paste into a chat group (no Markdown)."""
    data = minutes_data(retro)
    r = data.retro
    out = [f"【{data.title}】"]
    if r.facilitator or r.attendees:
        who = r.facilitator.name if r.facilitator else "—"
        out.append(_("Facilitator: %(name)s; attendees: %(who)s", name=who, who=r.attendees or "—"))
    if r.summary:
        out.append(r.summary)
    for label, notes in data.columns:
        if notes:
            out.append(f"{label}:")
            out += [f"{i}. {' '.join(n.split())}" for i, n in enumerate(notes, 1)]
    if data.adjustments:
        out.append(_("Adjustments:"))
        out += [f"• {_adjustment_line(a)}" for a in data.adjustments]
    if data.actions:
        out.append(_("New actions:"))
        out += [f"• {_action_line(a)}" for a in data.actions]
    still_open = [c for c in data.carried if not c.action.status.is_closed]
    if still_open:
        out.append(_("Still open:"))
        out += [f"• {_carried_line(c)}" for c in still_open]
    return "\n".join(out) + "\n"


def minutes_html(retro: Retrospective) -> str:
    data = minutes_data(retro)
    return render_template(
        "retros/minutes_pdf.html",
        data=data,
        font_family=PDF_FONT_FAMILY,
        adjustment_line=_adjustment_line,
        action_line=_action_line,
        carried_line=_carried_line,
    )


def minutes_pdf(retro: Retrospective) -> bytes:
    """The minutes as a PDF; Chinese renders with the installed Noto CJK font."""
    from weasyprint import HTML  # imported lazily: heavy, and only needed here

    return HTML(string=minutes_html(retro)).write_pdf()
