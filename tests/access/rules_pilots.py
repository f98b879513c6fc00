"""Pilots: the dashboard for everyone involved; the design only for admins and change leads.

A staff user cannot see or change a pilot's design: the wizard, the site proposal, the
start, the data upload and the audit log all refuse them.
"""

from tests.access.rules import ALL_SEEING, EDITORS, LOGGED_IN, get, post

FAKE_TOKEN = "0-" + "0" * 32 + ".csv"

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
}
