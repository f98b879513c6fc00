"""The organisation's clock: its time zone, today, and its calendar days as stored instants.

Pilots, business days, retros and feedback days are the organisation's local days: a Shanghai
store's Monday starts eight hours before a UTC server's. Times are stored in UTC (naive, in
``timestamp without time zone`` columns). Everything that turns an instant into a day, or a
day into instants, goes through here, with one setting (``BABEL_DEFAULT_TIMEZONE``) and one
fallback (:data:`DEFAULT_ZONE`), so two pages never disagree about which day it is.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

#: The zone used when the app has none configured, or outside an app (scripts, notebooks).
DEFAULT_ZONE = "Asia/Shanghai"


def utc_now() -> datetime:
    """The current instant, aware, in UTC (the one place tests move time)."""
    return datetime.now(UTC)


def organisation_zone() -> ZoneInfo:
    """The organisation's time zone: the app's setting, else :data:`DEFAULT_ZONE`."""
    name = current_app.config.get("BABEL_DEFAULT_TIMEZONE") if has_app_context() else None
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (KeyError, ValueError):  # an unknown or malformed name: the documented default
        return ZoneInfo(DEFAULT_ZONE)


def today() -> date:
    """Today in the organisation's time zone, not the server's."""
    return utc_now().astimezone(organisation_zone()).date()


def local_day(moment: datetime, zone: ZoneInfo | None = None) -> date:
    """The organisation's calendar day of an instant (naive instants are UTC, as stored).

    ``zone`` (from :func:`organisation_zone`) saves looking the zone up again when a caller
    converts many instants."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone or organisation_zone()).date()


def day_bounds(first: date, last: date | None = None) -> tuple[datetime, datetime]:
    """Local days ``first`` to ``last`` (inclusive; ``last`` defaults to ``first``) as naive
    UTC instants ``[low, high)``, to compare with stored times such as ``submitted_at``."""
    zone = organisation_zone()
    last = last or first
    low = datetime.combine(first, time.min, tzinfo=zone).astimezone(UTC)
    high = datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    return low.replace(tzinfo=None), high.replace(tzinfo=None)
