"""The site proposal of the pilot wizard as a background job (``app.core.jobs``).

Proposing reads every site's history and searches designs, which can take a while on a big
chain: the sites step submits :func:`proposal_job` and shows its progress; when it is done
the step shows what was proposed (the counts and the engine's warnings, kept in the result).
"""

from __future__ import annotations

import logging
from typing import Any

from flask_babel import gettext as _

from app.core import jobs as core_jobs
from app.core.i18n import N_
from app.core.labels import PROPOSAL_ERRORS
from app.extensions import db
from app.models import Arm, Job, Pilot, User
from app.pilots import lifecycle as svc
from app.pilots import proposal as pilot_design

KIND = "site_proposal"
#: Stored in English, shown in the reader's language (the catalogue has it).
ENGINE_FAILED = N_(
    "The proposal could not be computed for these settings. Try others, or choose the sites "
    "by hand."
)
log = logging.getLogger(__name__)


def submit_proposal(
    pilot: Pilot, settings: pilot_design.ProposalSettings, *, by: Any, reason: str | None
) -> Job:
    return core_jobs.submit(
        KIND,
        "app.pilots.proposal_jobs:proposal_job",
        by=by,
        subject=("pilot", pilot.id),
        pilot=pilot,
        pilot_id=pilot.id,
        settings=settings.to_dict(),
        user_id=getattr(by, "id", None),
        reason=reason,
    )


def proposal_job(
    progress: core_jobs.Progress,
    pilot_id: int,
    settings: dict[str, Any],
    user_id: int | None,
    reason: str | None,
) -> dict[str, Any]:
    """Work function: propose, store the sites (audited), and say what happened."""
    pilot = db.session.get(Pilot, pilot_id)
    if pilot is None:
        raise core_jobs.JobError(N_("That pilot no longer exists."))
    chosen = pilot_design.ProposalSettings.from_dict(settings)
    progress(10, N_("reading the sites and their history"))
    try:
        proposal = pilot_design.propose(pilot, chosen)
    except ValueError as exc:  # the engine's words for a setting that cannot work
        raise core_jobs.JobError(_("No proposal: %(reason)s", reason=str(exc))) from exc
    except Exception as exc:  # logged with its traceback; the user gets plain words
        log.exception("site proposal failed for pilot %s", pilot_id)
        raise core_jobs.JobError(ENGINE_FAILED) from exc
    if proposal.error and not proposal.pilots:
        message = str(PROPOSAL_ERRORS[proposal.error])
        if proposal.error != "pool_too_small":
            raise core_jobs.JobError(message)
    progress(80, N_("assigning the sites"))
    user = db.session.get(User, user_id) if user_id else None
    svc.save_design(
        pilot,
        lambda: pilot_design.apply_proposal(pilot, proposal, chosen),
        by=user,
        reason=reason,
    )
    svc.advance(pilot, 4)
    return {
        "endpoint": "pilots.wizard",
        "values": {"pilot_id": pilot_id, "step": 4, "proposal_job": progress.job_id},
        "pilots": len(pilot.sites_in(Arm.PILOT)),
        "controls": len(pilot.sites_in(Arm.CONTROL)),
        "warnings": [str(note) for note in proposal.warnings],
    }
