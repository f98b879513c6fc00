"""Retros: leads and admins edit; analysts read; staff read only their site's pilot's retros
and only when the pilot shows retros to staff; an action's owner may update and close it."""

from __future__ import annotations

from datetime import date, timedelta

from app.extensions import db
from app.models import (
    ActionItem,
    Adjustment,
    AdjustmentScope,
    Arm,
    Assignment,
    Pilot,
    PilotStatus,
    RetroItem,
    Retrospective,
)
from tests.access.rules import ALL_SEEING, EDITORS, LOGGED_IN, get, post

READERS_WITH_STAFF = ALL_SEEING | {"staff"}
START = date(2026, 10, 1)
DAY = START + timedelta(days=3)


def _pilot(world, name: str, visible: bool, with_staff_site: bool) -> Pilot:
    pilot = Pilot(
        name=name,
        status=PilotStatus.RUNNING,
        pre_start=START - timedelta(days=28),
        start_date=START,
        end_date=START + timedelta(days=27),
        retros_visible_to_staff=visible,
    )
    site = world.site if with_staff_site else world.other_site
    pilot.assignments.append(Assignment(site=site, arm=Arm.PILOT))
    db.session.add(pilot)
    return pilot


def _action(retro: Retrospective, title: str, owner) -> ActionItem:
    return ActionItem(pilot=retro.pilot, retro=retro, title=title, owner=owner, created_on=DAY)


def _adjustment(retro: Retrospective) -> Adjustment:
    return Adjustment(
        pilot=retro.pilot,
        retro=retro,
        effective_date=DAY,
        title="Assist",
        scope=AdjustmentScope.ALL_PILOT_SITES,
    )


def setup(world) -> None:
    world.retro_pilot = _pilot(world, "Retros shown to staff", True, True)
    world.hidden_pilot = _pilot(world, "Retros hidden from staff", False, True)
    world.foreign_pilot = _pilot(world, "Staff site not in it", True, False)
    for name in ("retro_pilot", "hidden_pilot", "foreign_pilot"):
        pilot = getattr(world, name)
        retro = Retrospective(pilot=pilot, date=DAY, facilitator=world.users["change_lead"])
        retro.items.append(RetroItem(category="problems", text="Queue"))
        db.session.add(retro)
        setattr(world, name.replace("pilot", "retro"), retro)
    db.session.flush()
    world.lead_action = _action(world.retro_retro, "Lead's", owner=world.users["change_lead"])
    world.staff_action = _action(world.hidden_retro, "Staff's", owner=world.users["staff"])
    world.adjustment = _adjustment(world.retro_retro)
    world.hidden_adjustment = _adjustment(world.hidden_retro)
    db.session.add_all(
        [world.lead_action, world.staff_action, world.adjustment, world.hidden_adjustment]
    )
    db.session.flush()


def _reads(path):
    """One GET row per pilot: shown to staff, hidden from staff, staff site not in it."""
    return [
        get(lambda w: path(w, w.retro_pilot, w.retro_retro), READERS_WITH_STAFF),
        get(lambda w: path(w, w.hidden_pilot, w.hidden_retro), ALL_SEEING),
        get(lambda w: path(w, w.foreign_pilot, w.foreign_retro), ALL_SEEING),
    ]


RULES = {
    "retros.index": _reads(lambda w, p, r: f"/retros/pilot/{p.id}"),
    "retros.day": _reads(lambda w, p, r: f"/retros/pilot/{p.id}/day/{DAY.isoformat()}"),
    "retros.timeline": _reads(lambda w, p, r: f"/retros/pilot/{p.id}/timeline"),
    "retros.minutes": _reads(lambda w, p, r: f"/retros/{r.id}/minutes.md"),
    "retros.adjustment": [
        get(lambda w: f"/retros/adjustments/{w.adjustment.id}", READERS_WITH_STAFF),
        get(lambda w: f"/retros/adjustments/{w.hidden_adjustment.id}", ALL_SEEING),
    ],
    "retros.open_day": post(
        lambda w: f"/retros/pilot/{w.retro_pilot.id}/open",
        EDITORS,
        data=lambda w: {
            "day": (DAY + timedelta(days=1)).isoformat(),
            "retro_format": "start_stop_continue",
        },
    ),
    "retros.details": post(
        lambda w: f"/retros/{w.retro_retro.id}/details",
        EDITORS,
        data=lambda w: {
            "retro_format": "well_problems_ideas",
            "facilitator_id": "0",
            "attendees": "A, B",
            "summary": "ok",
        },
    ),
    "retros.add_item": post(
        lambda w: f"/retros/{w.retro_retro.id}/items",
        EDITORS,
        data=lambda w: {"category": "ideas", "text": "Large-print menu"},
    ),
    "retros.delete_item": post(
        lambda w: f"/retros/{w.retro_retro.id}/items/{w.retro_retro.items[0].id}/delete",
        EDITORS,
    ),
    "retros.add_action": post(
        lambda w: f"/retros/{w.retro_retro.id}/actions",
        EDITORS,
        data=lambda w: {"title": "Fix Wi-Fi", "owner_id": "0", "due_date": ""},
    ),
    "retros.new_adjustment": [
        get(lambda w: f"/retros/{w.retro_retro.id}/adjustments/new", EDITORS),
        post(
            lambda w: f"/retros/{w.retro_retro.id}/adjustments/new",
            EDITORS,
            data=lambda w: {"title": "", "scope": "all_pilot_sites"},
        ),
    ],
    # an action's owner (here: the staff user) may update and close it; so may editors
    "retros.action": [
        get(lambda w: f"/retros/actions/{w.lead_action.id}", EDITORS),
        get(lambda w: f"/retros/actions/{w.staff_action.id}", EDITORS | {"staff"}),
    ],
    "retros.close_action": [
        get(lambda w: f"/retros/actions/{w.lead_action.id}/close", EDITORS),
        get(lambda w: f"/retros/actions/{w.staff_action.id}/close", EDITORS | {"staff"}),
        post(
            lambda w: f"/retros/actions/{w.lead_action.id}/close",
            EDITORS,
            data=lambda w: {"status": "done", "outcome": ""},
        ),
    ],
    "retros.my_actions": get(lambda w: "/retros/my-actions", LOGGED_IN),
    "retros.staff_visibility": post(
        lambda w: f"/retros/pilot/{w.hidden_pilot.id}/visibility", EDITORS, data=lambda w: {}
    ),
}
