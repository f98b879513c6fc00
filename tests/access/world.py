"""The objects every access rule can point at, created once per test."""

from __future__ import annotations

from types import SimpleNamespace

from app.extensions import db
from app.models import Role


def build_world(make_site, make_user, make_pilot) -> SimpleNamespace:
    """A staff user's site takes part in ``pilot``; ``other_pilot`` does not involve it."""
    world = SimpleNamespace()
    world.site = make_site()
    world.other_site = make_site()
    world.pilot = make_pilot(sites=[world.site])
    world.other_pilot = make_pilot(sites=[world.other_site])
    world.users = {
        "admin": make_user(Role.ADMIN),
        "change_lead": make_user(Role.CHANGE_LEAD),
        "staff": make_user(Role.STAFF, site=world.site),
        "analyst": make_user(Role.ANALYST),
    }
    db.session.commit()
    return world
