"""Pilots: the dashboard for everyone involved; the design only for admins and change leads.

A staff user cannot see or change a pilot's design: the wizard, the site proposal, the
start, the data upload and the audit log all refuse them.
"""

from app.core import clock
from app.extensions import db
from app.models import Pilot, PilotStatus
from tests.access.rules import ADMIN, ALL_SEEING, EDITORS, LOGGED_IN, form_page, get, post

FAKE_TOKEN = "0-" + "0" * 32 + ".csv"
NOBODY = frozenset()


def setup(world) -> None:
    """Pilots the archive and delete rows may change without touching ``world.pilot``."""
    lead = world.users["change_lead"]
    world.spare_pilot = Pilot(name="To archive", status=PilotStatus.RUNNING)
    world.archived_pilot = Pilot(
        name="Archived", status=PilotStatus.DONE, archived_at=clock.utc_now()
    )
    world.leads_draft = Pilot(name="Lead's draft", status=PilotStatus.DRAFT, owner_id=lead.id)
    world.admins_draft = Pilot(
        name="Admin's draft", status=PilotStatus.DRAFT, owner_id=world.users["admin"].id
    )
    db.session.add_all(
        [world.spare_pilot, world.archived_pilot, world.leads_draft, world.admins_draft]
    )
    db.session.flush()


RULES = {
    "pilots.detail": [
        get(lambda w: f"/pilots/{w.pilot.id}", LOGGED_IN),
        # staff see only pilots their own site takes part in
        get(lambda w: f"/pilots/{w.other_pilot.id}", LOGGED_IN - {"staff"}),
    ],
    "pilots.create": [
        get(lambda w: "/pilots/new", EDITORS),
        post(lambda w: "/pilots/new", EDITORS),
    ],
    "pilots.wizard": [
        get(lambda w, s=step: f"/pilots/{w.pilot.id}/wizard/{s}", EDITORS) for step in range(1, 6)
    ]
    + [
        post(lambda w: f"/pilots/{w.pilot.id}/wizard/1", EDITORS),
        post(lambda w: f"/pilots/{w.other_pilot.id}/wizard/3", EDITORS),
    ],
    "pilots.propose_sites": post(lambda w: f"/pilots/{w.pilot.id}/wizard/4/propose", EDITORS),
    "pilots.apply_fix": post(lambda w: f"/pilots/{w.pilot.id}/wizard/4/fix", EDITORS),
    "pilots.swap_site": post(lambda w: f"/pilots/{w.pilot.id}/sites/swap", EDITORS),
    "pilots.define_metric": post(lambda w: f"/pilots/{w.pilot.id}/metrics/new", EDITORS),
    "pilots.add_site": post(lambda w: f"/pilots/{w.pilot.id}/sites/add", EDITORS),
    "pilots.remove_site": post(lambda w: f"/pilots/{w.pilot.id}/sites/remove", EDITORS),
    "pilots.start": post(lambda w: f"/pilots/{w.other_pilot.id}/start", EDITORS),
    "pilots.audit_log": [
        get(lambda w: f"/pilots/{w.pilot.id}/audit", ALL_SEEING),
        get(lambda w: f"/pilots/{w.other_pilot.id}/audit", ALL_SEEING),
    ],
    "pilots.import_observations": [
        get(lambda w: f"/pilots/{w.pilot.id}/data/import", EDITORS),
        post(lambda w: f"/pilots/{w.pilot.id}/data/import", EDITORS),
    ],
    "pilots.observations_preview": [
        get(
            lambda w: f"/pilots/{w.pilot.id}/data/import/{FAKE_TOKEN}",
            EDITORS,
            ok=frozenset({404}),
        ),
        post(lambda w: f"/pilots/{w.pilot.id}/data/import/{FAKE_TOKEN}", EDITORS),
    ],
    "pilots.file_pilot": [
        post(lambda w: f"/pilots/{w.spare_pilot.id}/archive", EDITORS),
        post(lambda w: f"/pilots/{w.archived_pilot.id}/restore", EDITORS),
    ],
    "pilots.delete": [
        # a draft: an admin and the change lead who owns it (a POST without the tick keeps it)
        *form_page(lambda w: f"/pilots/{w.leads_draft.id}/delete", EDITORS),
        # another lead's draft: admins only; a started pilot: nobody
        get(lambda w: f"/pilots/{w.admins_draft.id}/delete", ADMIN),
        post(lambda w: f"/pilots/{w.pilot.id}/delete", NOBODY),
        # an archived pilot is read-only, for its editors too
        get(lambda w: f"/pilots/{w.archived_pilot.id}/wizard/1", NOBODY),
    ],
}
