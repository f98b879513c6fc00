"""Pages of a list that can grow: one way to cut a query into pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select

from app.extensions import db

T = TypeVar("T")

#: Beyond this page number nobody is reading: the page is clamped rather than asking the
#: database for an offset that overflows.
MAX_PAGE = 100_000


def paginate(query: Select, page: int | None, per_page: int) -> Pagination:
    """Page ``page`` (from 1, clamped to ``1..MAX_PAGE``) of ``query``; a page past the end
    is empty rather than an error."""
    page = min(max(page or 1, 1), MAX_PAGE)
    return db.paginate(query, page=page, per_page=per_page, error_out=False, max_per_page=None)


@dataclass(frozen=True, slots=True)
class ListPage(Generic[T]):
    """One page of a list already in memory (a table whose rows were computed together)."""

    items: list[T]
    page: int
    pages: int


def page_of(items: Sequence[T], page: int | None, per_page: int) -> ListPage[T]:
    """Page ``page`` (from 1, clamped to the pages there are; at least one, maybe empty) of
    ``items``, ``per_page`` a page."""
    pages = max(1, -(-len(items) // per_page))
    page = min(max(page or 1, 1), pages)
    return ListPage(list(items[(page - 1) * per_page : page * per_page]), page, pages)
