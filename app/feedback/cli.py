"""``flask feedback …``: import responses, sync the daily feedback metrics, re-tag comments."""

from __future__ import annotations

from datetime import date

import click
from flask import current_app

from app.core import clock
from app.extensions import db
from app.feedback import bp


def _pilot(pilot_id: int):
    from app.models import Pilot

    pilot = db.session.get(Pilot, pilot_id)
    if pilot is None:
        raise click.ClickException(f"no pilot with id {pilot_id}")
    return pilot


@bp.cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--pilot", "pilot_id", type=int, required=True, help="Pilot id.")
@click.option(
    "--audience", type=click.Choice(["customer", "staff"]), default="customer", show_default=True
)
@click.option(
    "--map",
    "mappings",
    multiple=True,
    metavar="FIELD=COLUMN",
    help="Column for a field, e.g. --map overall='Q1 Satisfaction'. Repeatable.",
)
def import_command(file, pilot_id, audience, mappings):
    """Import responses from another survey tool (CSV or .xlsx); all rows or none."""
    from app.core.errors import ImportFailed
    from app.core.imports import parse_mapping
    from app.feedback.import_export import import_responses
    from app.models import Audience

    pilot = _pilot(pilot_id)
    # messages of the shared import helpers are translated, which needs a request context
    with current_app.test_request_context():
        try:
            result = import_responses(
                pilot,
                file,
                audience=Audience(audience),
                mapping=parse_mapping(mappings),
                filename=file,
                by=None,
            )
        except ImportFailed as exc:
            db.session.rollback()
            for error in exc.errors:
                click.echo(str(error), err=True)
            raise click.ClickException(f"nothing imported: {len(exc.errors)} problem(s)") from None
    db.session.commit()
    click.echo(f"imported {result.inserted} responses ({result.duplicates} already there)")


@bp.cli.command("sync-metrics")
@click.option("--pilot", "pilot_id", type=int, default=None, help="One pilot (default: all).")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None)
def sync_metrics_command(pilot_id, today):
    """Write the daily feedback rates (csat, senior_csat, …) as metric observations."""
    from app.feedback.daily_metrics import MetricConflict, sync_all, sync_pilot_metrics

    day: date = today.date() if today else clock.today()
    try:
        if pilot_id is not None:
            results = {pilot_id: sync_pilot_metrics(_pilot(pilot_id), today=day)}
        else:
            results = sync_all(today=day)
    except MetricConflict as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    for pid, result in results.items():
        click.echo(f"pilot {pid}: {result.summary()}")


@bp.cli.command("retag")
@click.option("--pilot", "pilot_id", type=int, required=True)
def retag_command(pilot_id):
    """Recompute the automatic themes of every comment of a pilot (manual tags stay)."""
    from app.feedback.tagging import retag_pilot

    changed = retag_pilot(_pilot(pilot_id).id)
    db.session.commit()
    click.echo(f"re-tagged {changed} comments")
