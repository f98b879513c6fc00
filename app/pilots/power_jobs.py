"""Power by simulation for the wizard's sites and review steps, as a background job.

Simulating power (``analysis.design_power``, 2,000 placebo pilots over the primary metric's
whole stored history) takes seconds on a chain's history, too long for a page. The steps
show balance at once and hand power to a job (``app.core.jobs``): :func:`power_inputs`
sums up what the simulation depends on (the selection, the design's pairs and pool, the
metric, the planned days, the history's last day, alpha, the minimum effect, the seed), and
its :meth:`PowerInputs.key` names the job. A page finds the newest job with its key
(:func:`job_for`) and shows its progress or its result; only a changed selection or setting
(or a new day: the history ends the day before the start or today) starts a new one, so
every view of an unchanged selection reuses the finished simulation. A failed job is shown
once with its words; the next view starts again.

:func:`simulate` does the work for both the job and the benchmark: read the history, then
``design_power`` with the arguments the wizard has always used.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from analysis.design_power import DesignPower, design_power
from analysis.results import Reason
from app.core import clock
from app.core import jobs as core_jobs
from app.core.i18n import N_
from app.extensions import db
from app.models import Arm, Job, JobStatus, Pilot
from app.models.pilot import DesignMethod
from app.pilots import proposal as design

KIND = "design_power"
#: Power the minimum detectable effect is defined by.
TARGET_POWER = 0.8
#: Days before and after the start assumed for power while the pilot has no dates.
DEFAULT_PRE_DAYS = DEFAULT_POST_DAYS = 28
POWER_SIMULATIONS = 2000
#: Jobs of a pilot looked through for one with the same key (newest first).
RECENT_JOBS = 50
log = logging.getLogger(__name__)

#: Stored in English, shown in the reader's language (``core_jobs.status_of``).
ENGINE_FAILED = N_("Power could not be simulated for this selection.")
GONE = N_("That pilot no longer exists.")
CHANGED = N_("The selection changed; power is simulated for the new one.")


@dataclass(frozen=True, slots=True)
class PowerInputs:
    """Everything the power simulation of a selection depends on (JSON-ready)."""

    metric: str
    history_end: str
    pilots: tuple[str, ...]
    controls: tuple[str, ...]
    pairs: tuple[tuple[str, ...], ...] | None
    design: dict[str, Any] | None
    pre_days: int
    post_days: int
    min_effect: float | None
    alpha: float
    seed: int
    n_sims: int

    @property
    def paired(self) -> bool:
        return self.pairs is not None

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    def key(self) -> str:
        """A short hash of the inputs: equal inputs, equal key."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def planned_days(pilot: Pilot) -> tuple[int, int]:
    """Days before and after the start: the pilot's dates, or 4 + 4 weeks without them."""
    if pilot.pre_start and pilot.start_date and pilot.end_date:
        return (pilot.start_date - pilot.pre_start).days, (
            pilot.end_date - pilot.start_date
        ).days + 1
    return DEFAULT_PRE_DAYS, DEFAULT_POST_DAYS


def history_end(pilot: Pilot) -> date:
    """The last day of the history power is simulated on (as ``proposal.long_history``)."""
    return (pilot.start_date or clock.today()) - timedelta(days=1)


def power_inputs(pilot: Pilot) -> PowerInputs | str:
    """The inputs of the pilot's power simulation, or why there is none: ``"no_metric"``,
    ``"too_few_sites"``."""
    metric = pilot.primary_metric
    if metric is None:
        return "no_metric"
    pilots = tuple(sorted(a.site.code for a in pilot.assignments if a.arm is Arm.PILOT))
    controls = tuple(sorted(a.site.code for a in pilot.assignments if a.arm is Arm.CONTROL))
    groups = pilot.pairs if pilot.design_method is DesignMethod.PAIRED else []
    rule = design.stored_design(pilot) if len(groups) >= 2 else None
    if rule is None and (len(pilots) < 2 or len(controls) < 2):
        return "too_few_sites"
    stored = pilot.design_settings or {}
    pre_days, post_days = planned_days(pilot)
    return PowerInputs(
        metric=metric.key,
        history_end=history_end(pilot).isoformat(),
        pilots=pilots,
        controls=controls,
        pairs=tuple(tuple(g) for g in groups) if rule is not None else None,
        design=(
            {
                "settings": stored.get("settings"),
                "pool": stored.get("pool"),
                "problem_metric": stored.get("problem_metric"),
            }  # fmt: skip
            if rule is not None
            else None
        ),
        pre_days=pre_days,
        post_days=post_days,
        min_effect=abs(pilot.min_effect) if pilot.min_effect else None,
        alpha=float(pilot.alpha),
        seed=int(pilot.design_seed or 0),
        n_sims=POWER_SIMULATIONS,
    )


def simulate(pilot: Pilot, inputs: PowerInputs, progress=None) -> DesignPower | None:
    """Read the history and simulate power for ``inputs``; None without any history."""
    if progress is not None:
        progress(10, N_("reading the history"))
    hist = design.long_history(pilot, inputs.metric)
    if hist.empty:
        return None
    if progress is not None:
        progress(40, N_("simulating placebo pilots"))
    rule = design.stored_design(pilot) if inputs.paired else None
    return design_power(
        hist,
        rule,
        n_pilot=None if inputs.paired else len(inputs.pilots),
        n_control=None if inputs.paired else len(inputs.controls),
        pre_days=inputs.pre_days,
        post_days=inputs.post_days,
        metric=inputs.metric,
        min_effect=inputs.min_effect,
        alpha=inputs.alpha,
        power=TARGET_POWER,
        registry=design.registry() if inputs.paired else None,
        n_sims=inputs.n_sims,
        seed=inputs.seed,
    )


def power_from_dict(data: dict[str, Any]) -> DesignPower:
    """A :class:`DesignPower` back from its ``to_dict()`` (JSON turns NaN into None)."""
    values = dict(data)
    for name in ("mde", "relative_mde", "se", "placebo_rejection"):
        if values.get(name) is None:
            values[name] = float("nan")
    values["advice"] = tuple(
        Reason(a["code"], a.get("params") or {}, a.get("text", "")) for a in data["advice"]
    )
    values["warnings"] = tuple(data.get("warnings") or ())
    return DesignPower(**values)


# ---------------------------------------------------------------- the job


def submit_power(pilot: Pilot, inputs: PowerInputs, *, by: Any, step: int) -> Job:
    return core_jobs.submit(
        KIND,
        "app.pilots.power_jobs:power_job",
        by=by,
        subject=("pilot", pilot.id),
        pilot=pilot,
        pilot_id=pilot.id,
        key=inputs.key(),
        step=step,
    )


def job_for(pilot: Pilot, key: str) -> Job | None:
    """The pilot's power job for inputs with ``key``: the newest finished one, else the
    newest of any state (None: there is none)."""
    jobs = db.session.scalars(
        select(Job)
        .where(Job.kind == KIND, Job.subject == "pilot", Job.subject_id == pilot.id)
        .order_by(Job.id.desc())
        .limit(RECENT_JOBS)
    )
    same = [job for job in jobs if (job.arguments or {}).get("key") == key]
    return next((job for job in same if job.status is JobStatus.DONE), same[0] if same else None)


def power_job(
    progress: core_jobs.Progress, pilot_id: int, key: str, step: int = 4
) -> dict[str, Any]:
    """Work function: simulate power for the pilot's selection as it was when submitted."""
    pilot = db.session.get(Pilot, pilot_id)
    if pilot is None:
        raise core_jobs.JobError(GONE)
    inputs = power_inputs(pilot)
    if not isinstance(inputs, PowerInputs) or inputs.key() != key:
        # the selection changed meanwhile: the page starts a job for the new one
        raise core_jobs.JobError(CHANGED)
    try:
        result = simulate(pilot, inputs, progress)
    except Exception as exc:  # logged with its traceback; the user gets plain words
        log.exception("power simulation failed for pilot %s", pilot_id)
        raise core_jobs.JobError(ENGINE_FAILED) from exc
    return {
        "endpoint": "pilots.wizard",
        "values": {"pilot_id": pilot_id, "step": step},
        "key": key,
        "power": None if result is None else result.to_dict(),
    }


def unfinished(job: Job | None) -> bool:
    return job is not None and job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
