"""One family of errors a workflow raises when a rule of the product is broken.

A :class:`ServiceError` carries a ``code`` (for API clients and tests), a ``message`` for the
user, in their language, and ``fields`` (form field → message) when the problem is about a
field. Nothing was saved when one is raised: the caller rolls back. Each area names its own
subclass (``RetroError``, ``RolloutError`` …) so a view catches only what its workflow raises;
all of them are shown the same way:

* in a page, :func:`show_error` rolls back and puts the message on the form field it names,
  or flashes it;
* in the API, :func:`error_body` gives the one error shape
  ``{"error": {"code", "message", "fields"}}``.

Imports are different only in that they carry many problems at once: :class:`ImportFailed`
lists every :class:`RowError` (row and column as the user sees them in the file).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import flash
from flask_babel import gettext as _

from app.extensions import db


class ServiceError(Exception):
    """A request a workflow cannot honour; the message is for the user."""

    #: A stable, machine-readable name of the kind of problem.
    code = "invalid"

    def __init__(
        self,
        message: str,
        field: str | None = None,
        *,
        fields: Mapping[str, str] | None = None,
        code: str | None = None,
    ):
        super().__init__(message)
        self.message = str(message)
        self.fields: dict[str, str] = dict(fields or {})
        if field:
            self.fields.setdefault(field, self.message)
        if code:
            self.code = code

    @property
    def field(self) -> str | None:
        """The first form field at fault, if any."""
        return next(iter(self.fields), None)

    def to_dict(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.fields)


def error_body(code: str, message: str, fields: Mapping[str, Any] | None = None) -> dict:
    """The API's one error shape."""
    return {"error": {"code": code, "message": str(message), "fields": dict(fields or {})}}


def show_error(error: ServiceError, form: Any = None, *, field: str | None = None) -> None:
    """Roll back, then show ``error`` where the user looks: on the form fields it names (when
    ``form`` has them), else on ``field`` of ``form``, else as a flashed message."""
    db.session.rollback()
    placed = False
    fields = error.fields or ({field: error.message} if field else {})
    for name, message in fields.items():
        field = getattr(form, name, None) if form is not None else None
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, message]
            placed = True
    if not placed:
        flash(error.message, "danger")


# ---------------------------------------------------------------- imports


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in an upload, in the user's terms.

    ``row`` is the line number as the user sees it in the file (the header is row 1; 0 means
    the file as a whole), ``column`` the header text as written in the file ("" when the
    problem is not about one column).
    """

    row: int
    column: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}

    def __str__(self) -> str:
        parts = {"row": self.row, "column": self.column, "message": self.message}
        if self.row and self.column:
            return _("Row %(row)s, column %(column)s: %(message)s", **parts)
        if self.row:
            return _("Row %(row)s: %(message)s", **parts)
        if self.column:
            return _("Column %(column)s: %(message)s", **parts)
        return self.message


class ImportFailed(ServiceError):
    """An import that wrote nothing; ``errors`` lists every problem found."""

    code = "import_failed"

    def __init__(self, errors: Iterable[RowError] | RowError | str):
        if isinstance(errors, str):
            errors = [RowError(0, "", errors)]
        elif isinstance(errors, RowError):
            errors = [errors]
        self.errors: list[RowError] = sorted(errors, key=lambda e: (e.row, e.column))
        super().__init__("; ".join(str(e) for e in self.errors[:5]))

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["error"]["rows"] = [e.to_dict() for e in self.errors]
        return body
