"""Pages of a list that can grow: one way to cut a query into pages."""

from __future__ import annotations

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select

from app.extensions import db

#: Beyond this page number nobody is reading: the page is clamped rather than asking the
#: database for an offset that overflows.
MAX_PAGE = 100_000


def paginate(query: Select, page: int | None, per_page: int) -> Pagination:
    """Page ``page`` (from 1, clamped to ``1..MAX_PAGE``) of ``query``; a page past the end
    is empty rather than an error."""
    page = min(max(page or 1, 1), MAX_PAGE)
    return db.paginate(query, page=page, per_page=per_page, error_out=False, max_per_page=None)
