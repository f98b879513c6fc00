"""One import flow for every kind of file: upload → preview → map columns → validate → apply.

Sites, daily observations and feedback responses are imported the same way; each is an
:class:`ImportKind` that says what is specific to it:

* its **fields**: name, label, the header aliases people use (English and Chinese) and
  which are required (:class:`Field`);
* how a file is **planned**: the frames of strings from :mod:`app.core.tables` (indexed by
  the row number the user sees) are mapped, every row is validated and the changes are
  worked out, writing nothing. The result is an :class:`ImportPlan` whose ``errors`` are
  :class:`~app.core.errors.RowError` (row and column as in the file);
* how a valid plan is **applied** atomically in the caller's transaction (the view, command
  or API handler commits once);
* the words of its preview: title, summary template, confirm label, the message when done.

The steps here are the same for every kind: :func:`read_head` (the first rows of a stashed
upload, for the preview table), :func:`propose_mapping` (columns found from the aliases,
overridden by the user's choices), :func:`plan_file` (validate all rows), :func:`preview`
(all three for the preview page) and :func:`apply`. The page glue that reads the request
is :mod:`app.core.import_pages`; the command-line flags are parsed by :func:`parse_mapping`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from flask_babel import gettext as _

from app.core import tables
from app.core.errors import ImportFailed, RowError

#: Rows of the file shown on the preview page.
PREVIEW_ROWS = 8
#: Errors listed in a plan; the rest are counted.
MAX_LISTED_ERRORS = 200


@dataclass(frozen=True, slots=True)
class Field:
    """One field an import fills from a column of the file."""

    name: str
    label: str
    aliases: tuple[str, ...] = ()
    required: bool = False


@dataclass
class ImportPlan:
    """What an import would do. The base of every kind's plan; ``ok`` means it may be applied.

    Problems are added with :meth:`add_error` / :meth:`add_errors`: all are counted
    (``n_errors``), the first ``max_errors`` are listed (``errors``).
    """

    mapping: dict[str, str] = field(default_factory=dict)
    n_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    n_errors: int = 0
    max_errors: int = MAX_LISTED_ERRORS

    @property
    def ok(self) -> bool:
        return self.n_errors == 0

    @property
    def more_errors(self) -> int:
        return self.n_errors - len(self.errors)

    def add_error(self, row: Any, column: str, message: str) -> None:
        self.add_errors([row], column, [message])

    def add_errors(self, rows: Iterable[Any], column: str, messages: Iterable[str] | str) -> None:
        """Problems of ``column`` in ``rows``: one message for all, or one per row."""
        rows = list(rows)
        if not rows:
            return
        self.n_errors += len(rows)
        room = self.max_errors - len(self.errors)
        if room <= 0:
            return
        if isinstance(messages, str):
            messages = [messages] * len(rows)
        for row, message in list(zip(rows, messages, strict=False))[:room]:
            self.errors.append(RowError(int(row), column, message))

    def sort_errors(self) -> None:
        self.errors.sort(key=lambda e: (e.row, e.column))


class ImportKind(ABC):
    """A kind of file to import: its fields, how it is planned and applied, its words.

    An instance carries its context (the pilot a file is for, the feedback form's audience),
    so the generic steps need nothing else.
    """

    #: Stable name (``sites``, ``observations``, ``responses``).
    name: str = ""
    #: ``True``: :meth:`plan` reads the file chunk by chunk (memory bounded), else whole.
    streams: bool = False
    #: Template of the kind's lines in the preview summary (gets ``plan`` and ``kind``).
    summary_template: str = ""
    #: A hint shown above the column choices, if any.
    mapping_hint: str | None = None

    @property
    @abstractmethod
    def title(self) -> str:
        """The heading of the upload and preview pages."""

    @property
    def subject(self) -> str | None:
        """What the import is for (a pilot's name), shown beside the title."""
        return None

    @abstractmethod
    def fields(self) -> list[Field]:
        """The fields, in the order the preview shows them."""

    @abstractmethod
    def plan(
        self,
        chunks: Iterable[pd.DataFrame],
        chosen: Mapping[str, str] | None = None,
        *,
        source: str | None = None,
    ) -> ImportPlan:
        """Map, validate every row and work out the changes. Writes nothing.

        Raises :class:`ImportFailed` when the file as a whole cannot be read (no data, a
        required column missing); row problems go into the plan.
        """

    @abstractmethod
    def apply(self, plan: Any, *, by: Any, filename: str | None) -> Any:
        """Write a valid plan in the current transaction (the caller commits)."""

    @abstractmethod
    def confirm_label(self, plan: Any) -> str:
        """The words of the import button."""

    @abstractmethod
    def done_message(self, outcome: Any) -> str:
        """What the user is told once :meth:`apply` has run and the import is committed."""


# ---------------------------------------------------------------- the steps


@dataclass(frozen=True, slots=True)
class Head:
    """The first rows of a file: header and ``(row number, cells)``."""

    columns: list[str]
    rows: list[tuple[int, list[str]]]


def read_head(source: Any, *, filename: str | None = None, rows: int = PREVIEW_ROWS) -> Head:
    """The columns and first ``rows`` rows of an upload (a stashed path, bytes or a stream)."""
    with closing(tables.iter_upload(source, filename=filename, chunk_rows=rows)) as chunks:
        for chunk in chunks:  # the first chunk only: the file is closed at once
            cells = chunk.values.tolist()
            first = [(int(i), list(r)) for i, r in zip(chunk.index, cells, strict=True)]
            return Head(list(chunk.columns), first)
    return Head([], [])


def propose_mapping(
    fields: Sequence[Field],
    columns: Iterable[Any],
    chosen: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``{field: column}``: found from the fields' aliases, overridden by ``chosen``.

    ``chosen`` holds the user's own choices (``""`` = the field is not in the file). A
    choice for a field the kind does not have, a required field without a column or a
    column claimed by two fields raise :class:`ImportFailed` naming them.
    """
    known = {f.name for f in fields}
    unknown = sorted(set(chosen or {}) - known)
    if unknown:
        raise ImportFailed(
            [
                RowError(0, "", _("Unknown field %(field)s in the mapping.", field=f))
                for f in unknown
            ]
        )
    return tables.map_columns(
        pd.DataFrame(columns=list(columns)),
        {f.name: list(f.aliases) for f in fields},
        {f.name for f in fields if f.required},
        chosen=chosen,
        labels={f.name: str(f.label) for f in fields},
    )


def parse_mapping(pairs: Iterable[str] | str) -> dict[str, str]:
    """``field = column`` pairs (``:`` works too; a text has one a line) into ``{field: column}``
    (a command line's ``--map`` options)."""
    if isinstance(pairs, str):
        pairs = pairs.splitlines()
    mapping = {}
    for number, line in enumerate(pairs, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        sep = "=" if "=" in line else ":" if ":" in line else None
        if sep is None:
            raise ImportFailed(
                RowError(0, "", _("Mapping line %(n)s needs the form field = column.", n=number))
            )
        name, column = (part.strip() for part in line.split(sep, 1))
        mapping[name] = column
    return mapping


def plan_file(
    kind: ImportKind,
    source: Any,
    chosen: Mapping[str, str] | None = None,
    *,
    filename: str | None = None,
    chunk_rows: int = tables.DEFAULT_CHUNK_ROWS,
) -> ImportPlan:
    """Read ``source`` (chunk by chunk for a kind that streams) and plan it."""
    chunks = tables.iter_upload(source, filename=filename, chunk_rows=chunk_rows)
    if not kind.streams:
        chunks = iter([tables.whole(chunks)])
    return kind.plan(chunks, chosen, source=filename)


@dataclass
class Preview:
    """What the preview page shows: the file's head, the plan or why there is none."""

    head: Head
    plan: ImportPlan | None
    errors: list[RowError]
    mapping: dict[str, str]

    @property
    def ok(self) -> bool:
        return self.plan is not None and self.plan.ok

    @property
    def more_errors(self) -> int:
        return self.plan.more_errors if self.plan is not None else 0


def preview(
    kind: ImportKind,
    source: Any,
    chosen: Mapping[str, str] | None = None,
    *,
    filename: str | None = None,
) -> Preview:
    """The head of the file and its plan with the proposed (or chosen) mapping."""
    head = Head([], [])
    try:
        head = read_head(source, filename=filename)
        plan = plan_file(kind, source, chosen, filename=filename)
    except ImportFailed as exc:
        return Preview(head, None, exc.errors, dict(chosen or {}))
    return Preview(head, plan, plan.errors, plan.mapping)


def apply(kind: ImportKind, plan: ImportPlan, *, by: Any, filename: str | None) -> Any:
    """Apply a valid plan (the caller commits); a plan with errors raises ``ImportFailed``
    (with the listed errors, and how many more there are)."""
    if not plan.ok:
        errors = list(plan.errors)
        if plan.more_errors:
            errors.append(
                RowError(0, "", _("%(n)s further errors are not listed.", n=plan.more_errors))
            )
        raise ImportFailed(errors)
    return kind.apply(plan, by=by, filename=filename)


def run(
    kind: ImportKind,
    source: Any,
    chosen: Mapping[str, str] | None = None,
    *,
    by: Any = None,
    filename: str | None = None,
) -> Any:
    """Plan and apply in one go (commands, scripts); any error raises ``ImportFailed``."""
    return apply(kind, plan_file(kind, source, chosen, filename=filename), by=by, filename=filename)
