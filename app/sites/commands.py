"""``flask sites import|export FILE`` and ``flask observations import FILE``."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app.core import imports
from app.core import tables as tabular
from app.core.errors import ImportFailed
from app.extensions import db
from app.models import Pilot
from app.sites import bp
from app.sites.observation_import import ObservationImport
from app.sites.registry import SiteFilters, export_frame, list_sites
from app.sites.site_import import SiteImport

observations_cli = AppGroup("observations", help="Daily observations.")


def _fail(errors) -> None:
    for error in errors[:50]:
        click.echo(str(error), err=True)
    if len(errors) > 50:
        click.echo(f"… and {len(errors) - 50} more", err=True)
    raise click.ClickException("nothing was imported")


@bp.cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Validate and report; write nothing.")
def import_sites_command(path: str, dry_run: bool) -> None:
    """Import or update sites from a CSV or Excel file (upsert by site code)."""
    kind = SiteImport()
    with current_app.test_request_context():
        try:
            plan = imports.plan_file(kind, path)
        except ImportFailed as exc:
            _fail(exc.errors)
        if not plan.ok:
            _fail(plan.errors)
        summary = (
            f"{len(plan.created)} new, {len(plan.updated)} updated, {len(plan.unchanged)} unchanged"
        )
        if dry_run:
            click.echo(f"dry run: {summary}")
            return
        imports.apply(kind, plan, by=None, filename=path)
        db.session.commit()
        click.echo(f"imported sites: {summary}")


@bp.cli.command("export")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
def export_sites_command(path: str) -> None:
    """Export all sites to a CSV or .xlsx file (by the file's extension)."""
    with current_app.test_request_context():
        frame = export_frame(list_sites(SiteFilters(active="all")))
        if path.lower().endswith(".xlsx"):
            with open(path, "wb") as out:
                out.write(tabular.xlsx_bytes(frame))
        else:
            with open(path, "wb") as out:
                out.write(tabular.csv_bytes(frame))
    click.echo(f"exported {len(frame)} sites to {path}")


@observations_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--pilot", "pilot_id", type=int, help="Check dates against this pilot.")
@click.option("--dry-run", is_flag=True, help="Validate and report; write nothing.")
@click.option("--chunk-rows", type=int, default=tabular.DEFAULT_CHUNK_ROWS, show_default=True)
def import_observations_command(path: str, pilot_id: int | None, dry_run: bool, chunk_rows: int):
    """Import daily observations (long or wide form) from a CSV or Excel file."""
    started = time.perf_counter()
    with current_app.test_request_context():
        pilot = None
        if pilot_id is not None:
            pilot = db.session.scalar(select(Pilot).where(Pilot.id == pilot_id))
            if pilot is None:
                raise click.ClickException(f"no pilot {pilot_id}")
        kind = ObservationImport(pilot)
        try:
            plan = imports.plan_file(kind, path, filename=path, chunk_rows=chunk_rows)
        except ImportFailed as exc:
            _fail(exc.errors)
        if not plan.ok:
            if plan.more_errors:
                click.echo(f"{plan.n_errors} errors in all", err=True)
            _fail(plan.errors)
        if dry_run:
            summary = ", ".join(f"{v} {k}" for k, v in plan.counts().items())
            click.echo(f"dry run: {plan.n_rows} rows ({plan.form} form): {summary}")
            return
        imports.apply(kind, plan, by=None, filename=path)
        db.session.commit()
        # the counts of the write itself (asked before it, they cost a join of their own)
        summary = ", ".join(f"{v} {k}" for k, v in plan.counts().items())
    click.echo(
        f"imported {plan.n_rows} rows ({plan.form} form): {summary} "
        f"in {time.perf_counter() - started:.1f} s"
    )


# ``flask observations …`` lives with the data intake, registered with this blueprint
bp.record_once(lambda state: state.app.cli.add_command(observations_cli))
