"""``flask`` commands, grouped by area: ``flask users …``, ``flask demo …``."""

from __future__ import annotations

from datetime import date

import click
from flask import Flask
from flask.cli import AppGroup

from app.extensions import db
from app.models import Role

users_cli = AppGroup("users", help="Manage accounts.")
demo_cli = AppGroup("demo", help="Demo data.")
maintenance_cli = AppGroup("maintenance", help="Housekeeping to run from a daily timer.")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", "role_name", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--site", "site_code", help="Site code (required for staff).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user_command(email, name, role_name, site_code, password):
    """Create an account."""
    from sqlalchemy import select

    from app.auth.accounts import AccountError, create_user
    from app.models import Site, User

    if len(password) < 10:
        raise click.BadParameter("use at least 10 characters", param_hint="--password")
    if db.session.scalar(select(User).where(User.email == email.strip().lower())):
        raise click.ClickException(f"an account with e-mail {email} already exists")
    site_id = None
    if site_code:
        site = db.session.scalar(select(Site).where(Site.code == site_code))
        if site is None:
            raise click.ClickException(f"no site with code {site_code}")
        site_id = site.id
    try:
        user = create_user(email, name, Role(role_name), password, site_id)
    except AccountError as exc:
        raise click.ClickException(exc.message) from exc
    db.session.commit()
    click.echo(f"created {user.email} ({user.role.value})")


@users_cli.command("list")
def list_users_command():
    """List accounts."""
    from sqlalchemy import select

    from app.models import User

    for user in db.session.scalars(select(User).order_by(User.email)):
        click.echo(f"{user.email}\t{user.role.value}\t{'active' if user.is_active else 'disabled'}")


@demo_cli.command("seed")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has sites.")
@click.option("--seed", "seed_value", default=20261122, show_default=True)
@click.option(
    "--last-day",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Last day with data (default: yesterday in the organisation's time zone).",
)
@click.option(
    "--scale",
    type=click.Choice(["demo", "chain"]),
    default="demo",
    show_default=True,
    help="demo: 60 sites; chain: 2,000 sites × 730 days (see app/demo/chain.py).",
)
@click.option("--sites", type=click.IntRange(min=30), default=None, help="Chain scale: sites.")
@click.option("--days", type=click.IntRange(min=56), default=None, help="Chain scale: days.")
def seed_command(if_empty: bool, seed_value: int, last_day, scale: str, sites, days):
    """Create the demo restaurant chain, its QR-ordering pilot and demo users."""
    day: date | None = last_day.date() if last_day else None
    if scale == "chain":
        from app.demo.chain import seed_chain_command
        from app.demo.seed import default_last_day, emptied_if_it_fails

        with emptied_if_it_fails():
            seeded = seed_chain_command(
                if_empty=if_empty, sites=sites, days=days, last_day=day or default_last_day()
            )
        if seeded:
            _print_logins()
        return
    if sites is not None or days is not None:
        raise click.UsageError("--sites and --days go with --scale chain")
    if _seed_demo(if_empty=if_empty, seed_value=seed_value, last_day=day):
        _print_logins()


@demo_cli.command("prepare")
def prepare_command():
    """What `make run` needs in one start-up: migrate, seed an empty database, print logins."""
    from flask_migrate import upgrade

    upgrade()
    _seed_demo(if_empty=True)
    _print_logins()


@demo_cli.command("logins")
def logins_command():
    """Print the demo accounts (when the demo data is loaded)."""
    _print_logins()


def _seed_demo(*, if_empty: bool, **options) -> bool:
    """Seed the demo into an empty database; False when it already had data (``if_empty``)."""
    from app.demo.seed import database_is_empty, emptied_if_it_fails, seed

    if not database_is_empty():
        if if_empty:
            click.echo("demo: database already has data; nothing to do")
            return False
        raise click.ClickException("the database already has data; demo seed needs an empty one")
    with emptied_if_it_fails():
        summary = seed(**options)  # the seed's own defaults unless the command gave values
        db.session.commit()
    click.echo(
        f"demo: {summary.sites} sites, {summary.observations} observations, "
        f"{summary.responses} feedback responses, {summary.retros} retrospectives"
    )
    return True


def _print_logins() -> None:
    from sqlalchemy import select

    from app.demo.seed import DEMO_PASSWORD, DEMO_USERS
    from app.models import User

    emails = [email for email, _name, _role in DEMO_USERS]
    found = set(db.session.scalars(select(User.email).where(User.email.in_(emails))))
    if not found:
        click.echo("no demo accounts in this database")
        return
    click.echo(f"Rollwise demo logins (password '{DEMO_PASSWORD}'):")
    for email, _name, role in DEMO_USERS:
        if email in found:
            click.echo(f"  {role.value:12s} {email}")


@maintenance_cli.command("purge")
def purge_command():
    """Forget expired one-time keys of back-office forms (older than FORM_SUBMISSION_KEY_HOURS)."""
    from app.core import once

    purged = once.purge_expired()
    db.session.commit()
    click.echo(f"purged {purged} expired form submission key(s)")


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(maintenance_cli)
