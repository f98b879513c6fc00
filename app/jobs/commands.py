"""``flask jobs prune``: the jobs' daily housekeeping."""

from __future__ import annotations

import click
from flask import current_app

from app.core import jobs
from app.extensions import db
from app.jobs import bp


@bp.cli.command("prune")
@click.option(
    "--keep-days",
    type=click.IntRange(min=0),
    default=None,
    help="Days to keep finished jobs (default: JOB_KEEP_DAYS, 30).",
)
def prune_command(keep_days: int | None):
    """Mark jobs without news as failed; delete finished jobs (and their PDFs) older than
    --keep-days, keeping the newest of each kind per subject."""
    days = keep_days if keep_days is not None else current_app.config.get("JOB_KEEP_DAYS", 30)
    failed, deleted = jobs.prune(int(days))
    db.session.commit()
    click.echo(f"jobs: {failed} stalled job(s) marked failed, {deleted} old job(s) deleted")
