"""Routes of the pilots area."""

from __future__ import annotations

from flask import render_template

from app.auth.permissions import get_pilot_or_404
from app.models import Arm
from app.pilots import bp


@bp.route("/<int:pilot_id>")
def detail(pilot_id: int):
    pilot = get_pilot_or_404(pilot_id)
    return render_template(
        "pilots/detail.html",
        pilot=pilot,
        pilot_sites=pilot.sites_in(Arm.PILOT),
        control_sites=pilot.sites_in(Arm.CONTROL),
    )
