"""A demo pilot's decision, taken the way a user takes it: the report code computes the
pre-registered snapshot, an analyst approves it, and the pilot records the decision -- at the
story's time, not at seed time (:func:`story_time`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta

from app.core import clock
from app.extensions import db
from app.models import Decision, Pilot, PilotStatus, Report, ReportStatus, User
from app.reports.snapshots import approve, compute_report, start_snapshot


class DemoDataError(RuntimeError):
    """The demo's generated data no longer tells the story it is meant to tell."""


@contextmanager
def story_time(moment: datetime) -> Iterator[None]:
    """Run the app's own workflows as if it were ``moment``: :func:`app.core.clock.utc_now`
    (the one place the app reads the time) answers ``moment`` inside the block, so what they
    stamp -- a report's computation and approval, a wave's start, the audit trail -- carries
    the date the story gives it. For seeding the demo history only (one thread, the CLI)."""
    real = clock.utc_now
    clock.utc_now = lambda: moment  # type: ignore[assignment]
    try:
        yield
    finally:
        clock.utc_now = real  # type: ignore[assignment]


def approved_report(
    pilot: Pilot,
    *,
    lead: User,
    analyst: User,
    decided_on: date,
    expected: Decision,
    comment: str,
) -> Report:
    """Compute ``pilot``'s pre-registered report the day after it ended, check its
    recommendation is ``expected`` and let ``analyst`` approve it with that decision on
    ``decided_on``. ``compute_report`` is the report job: it commits its own work."""
    if pilot.status is not PilotStatus.ANALYSING:
        raise DemoDataError(f"{pilot.name}: only an analysing pilot is decided by its report")
    computed_on = pilot.end_date + timedelta(days=1) if pilot.end_date else decided_on
    with story_time(at(computed_on, 10)):
        report = start_snapshot(pilot, by=lead)
        db.session.flush()
        report = compute_report(report.id, progress=lambda _percent, _step: None)
    if report.status is not ReportStatus.DRAFT:
        raise DemoDataError(f"{pilot.name}: the report failed: {report.error}")
    recommended = (report.results or {}).get("recommendation", {}).get("decision")
    if recommended != expected.value:
        raise DemoDataError(
            f"{pilot.name}: the report recommends {recommended!r}, the demo needs "
            f"{expected.value!r}"
        )
    with story_time(at(decided_on, 15)):
        approve(report, by=analyst, decision=expected, comment=comment)
        db.session.flush()
    return report


def at(day: date, hour: int = 9) -> datetime:
    """``hour`` o'clock UTC on ``day`` (an aware instant)."""
    return datetime.combine(day, time(hour, 0), tzinfo=UTC)
