"""A batch of observations sent to ``POST /api/v1/observations``: checked, planned, written.

The batch is ``{"pilot_id"?, "rows": [...]}`` or a bare list of rows. The checks of the batch
as a whole come first (a list, not empty, not too long, a known pilot); the rows then go
through the same import as an uploaded file (:mod:`app.sites.observation_import`), in the
long form. Every refusal is a :class:`~app.core.errors.ServiceError` in the API's one error
shape; row errors keep ``row`` as the 0-based position in ``rows`` and are named in
``fields`` as ``rows[i].column``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import gettext as _

from app.core.errors import ImportFailed, RowError, ServiceError
from app.extensions import db
from app.models import ApiToken, ImportBatch, Pilot
from app.sites.observation_import import (
    API_MAX_ROWS,
    apply_observations,
    frame_from_records,
    plan_observations,
)

#: The largest id a row can have (a 32-bit integer in PostgreSQL).
MAX_ID = 2**31 - 1

#: API rows always use the long form, with these field names.
LONG_FORM = {
    "site": "site",
    "date": "date",
    "metric": "metric",
    "value": "value",
    "denominator": "",
}


class BatchTooLarge(ServiceError):
    """More rows than one request may carry (refused before any work)."""

    code = "batch_too_large"


class RowsRejected(ImportFailed):
    """A batch with row errors: nothing was written, every listed error is in ``rows``."""

    code = "invalid_rows"

    def __init__(self, errors: Iterable[RowError], *, more: int = 0):
        super().__init__(errors)
        self.message = _(
            "%(n)s rows have errors; nothing was imported.", n=len({e.row for e in self.errors})
        )
        if more:
            self.message += " " + _("%(n)s further errors are not listed.", n=more)
        self.fields = {}
        for e in self.errors:
            key = f"rows[{e.row}].{e.column}" if e.column else f"rows[{e.row}]"
            self.fields.setdefault(key, e.message)


def batch_rows(payload: Any) -> tuple[list[Any], Pilot | None]:
    """The rows of a decoded JSON body and the pilot it names, or a ServiceError."""
    pilot = None
    if isinstance(payload, dict):
        records = payload.get("rows")
        if payload.get("pilot_id") is not None:
            pilot = _pilot(payload["pilot_id"])
    else:
        records = payload
    if not isinstance(records, list):
        raise ServiceError(
            _('Send {"rows": [...]} with one object per site, date and metric.'),
            fields={"rows": _("must be a list")},
        )
    if not records:
        raise ServiceError(_("The batch is empty."), fields={"rows": _("is empty")})
    if len(records) > API_MAX_ROWS:
        raise BatchTooLarge(
            _("At most %(n)s rows per request; split the batch.", n=API_MAX_ROWS),
            fields={"rows": _("%(n)s rows, more than %(max)s", n=len(records), max=API_MAX_ROWS)},
        )
    return records, pilot


def _pilot(pilot_id: Any) -> Pilot:
    if not isinstance(pilot_id, int) or isinstance(pilot_id, bool):
        raise ServiceError(_("pilot_id must be a number."), fields={"pilot_id": _("not a number")})
    # an id no row can have (ids are 32-bit) is unknown, not a database error
    pilot = db.session.get(Pilot, pilot_id) if abs(pilot_id) <= MAX_ID else None
    if pilot is None:
        raise ServiceError(_("There is no such pilot."), fields={"pilot_id": _("unknown pilot")})
    return pilot


def import_batch(payload: Any, *, token: ApiToken) -> ImportBatch:
    """Write a batch in the current transaction (all rows or none); the caller commits."""
    records, pilot = batch_rows(payload)
    frame, shape_errors = frame_from_records(records)
    try:
        chosen = dict(LONG_FORM, denominator="denominator" if "denominator" in frame else "")
        plan = plan_observations([frame], pilot=pilot, chosen=chosen, source="api")
    except ImportFailed as exc:
        raise RowsRejected(exc.errors) from exc
    if shape_errors or plan.errors:
        raise RowsRejected([*shape_errors, *plan.errors], more=plan.more_errors)
    return apply_observations(plan, token=token, kind="observations_api")
