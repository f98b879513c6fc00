"""Reading and writing the tables people keep in spreadsheets: CSV and Excel (``.xlsx``).

Every import in Rollwise goes through here, so every import behaves the same way:

* ``read_upload`` turns an upload (a Werkzeug ``FileStorage``, a path, bytes or a binary
  file object) into a DataFrame **of strings**; the frame's index is the row number as the
  user sees it in the file (the header is row 1, the first data row is row 2), so every
  error can name the row the user will find in Excel. Empty rows are dropped, blanks are
  ``""``. CSV may be UTF-8, UTF-8 with BOM (what Excel writes) or GBK/GB18030 (what older
  Chinese Excel and point-of-sale exports write); the delimiter is sniffed (``, ; tab |``).
* ``iter_upload`` reads the same formats in chunks for very large files (memory bounded).
* ``map_columns`` finds the column for each field from a list of aliases (English and
  Chinese, case-, space- and width-insensitive).
* Problems are ``RowError(row, column, message)``; a failed import raises ``ImportFailed``
  carrying all of them, so a view can list every problem at once and write nothing.
* ``csv_response`` / ``xlsx_response`` send a frame back as a download; ``csv_bytes`` /
  ``csv_text`` write a CSV for any other download (a zip of tables, a plan). Every file a
  user downloads goes through :func:`for_export`: floats are rounded by kind of column
  (p-values to 4 decimals; shares, rates, relative effects, power and load to 3; other
  numbers to 4 significant digits), text that Excel would run as a formula is quoted, and a
  CSV starts with a UTF-8 byte-order mark so Excel shows Chinese text correctly. Our own
  imports read such files back (the BOM is recognised).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import secrets
import shutil
import tempfile
import time as time_module
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import IO, Any
from urllib.parse import quote
from xml.etree.ElementTree import ParseError

import pandas as pd
from defusedxml import DefusedXmlException
from flask import Response, current_app, has_app_context
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound

from app.core.errors import ImportFailed, RowError
from app.core.numbers import column_kind, round_for_column

#: The UTF-8 byte-order mark every downloaded CSV starts with (Excel then reads UTF-8).
BOM = "\ufeff"
#: Bytes inspected to guess the encoding and the delimiter of a CSV file.
SAMPLE_BYTES = 256 * 1024
#: Rows per chunk in ``iter_upload``.
DEFAULT_CHUNK_ROWS = 100_000
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: The name of the row-number column in the rows a :class:`StashedUpload` keeps.
ROW_LABEL = "__rollwise_row__"
#: Past any row a sheet can have: rows are read until the sheet ends (or the row limit).
EXCEL_MAX_ROW = 2**31 - 1
MB = 1024 * 1024
#: Bytes at the start of each XML part of a workbook searched for a document type.
XML_PROLOG_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """The most an upload may hold: data rows, columns, and (for a workbook, whose parts are
    compressed) bytes once uncompressed. Beyond them the upload is refused before or while
    it is read, never parsed to the end."""

    rows: int = 1_000_000
    columns: int = 200
    uncompressed_bytes: int = 200 * MB

    @classmethod
    def current(cls) -> ReadLimits:
        """The app's ``IMPORT_MAX_*`` settings (the defaults outside an app)."""
        if not has_app_context():
            return cls()
        config = current_app.config
        return cls(
            rows=int(config.get("IMPORT_MAX_ROWS") or cls.rows),
            columns=int(config.get("IMPORT_MAX_COLUMNS") or cls.columns),
            uncompressed_bytes=int(config.get("IMPORT_MAX_UNCOMPRESSED_MB") or 200) * MB,
        )

    def check_columns(self, header: list[str]) -> None:
        if len(header) > self.columns:
            raise ImportFailed(
                _(
                    "The file has %(n)s columns; at most %(max)s are read. Remove the columns "
                    "the import does not need.",
                    n=f"{len(header):,}",
                    max=f"{self.columns:,}",
                )
            )

    def check_rows(self, last_row: int, header_row: int) -> None:
        """``last_row`` (a row number of the file) is beyond the header and ``rows`` data rows."""
        if last_row - header_row > self.rows:
            raise ImportFailed(
                _(
                    "The file has more than %(max)s data rows. Split it into smaller files.",
                    max=f"{self.rows:,}",
                )
            )


# ---------------------------------------------------------------- reading


def _name_of(source: Any, filename: str | None) -> str:
    if filename:
        return filename
    for attr in ("filename", "name"):
        value = getattr(source, attr, None)
        if isinstance(value, str):
            return value
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return ""


def _is_excel(name: str, head: bytes) -> bool:
    if name.lower().endswith(EXCEL_SUFFIXES):
        return True
    # an .xlsx is a zip archive; a CSV never starts with "PK\x03\x04"
    return head.startswith(b"PK\x03\x04")


def _open_binary(source: Any) -> tuple[IO[bytes], bool]:
    """A readable binary stream for ``source`` and whether we opened it (and must close it)."""
    if isinstance(source, bytes | bytearray):
        return io.BytesIO(source), True
    if isinstance(source, str | os.PathLike):
        return open(source, "rb"), True  # closed by the caller
    stream = getattr(source, "stream", source)  # Werkzeug FileStorage
    if isinstance(stream, io.TextIOBase):
        return io.BytesIO(stream.read().encode("utf-8")), True
    return stream, False


def _seekable(stream: IO[bytes]) -> IO[bytes]:
    try:
        if stream.seekable():
            return stream
    except (AttributeError, ValueError):
        pass
    return io.BytesIO(stream.read())


def _guess_encoding(sample: bytes, complete: bool) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=complete)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")().decode(sample, final=complete)
        return "gb18030"  # a superset of GBK and GB2312
    except UnicodeDecodeError as exc:
        raise ImportFailed(
            _("The file is neither UTF-8 nor GBK text. Save it as CSV (UTF-8) or as Excel .xlsx.")
        ) from exc


def _sniff_delimiter(text: str) -> str:
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _cell_text(value: Any) -> str:
    """An Excel cell as the text the user sees (dates as ISO, whole numbers without .0)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value).strip()


def _clean_header(values: Iterable[Any]) -> list[str]:
    header: list[str] = []
    seen: dict[str, int] = {}
    for i, value in enumerate(values, start=1):
        name = _cell_text(value) or f"column {i}"
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        header.append(name)
    return header


def _frame(rows: list[list[str]], header: list[str], first_row: int) -> pd.DataFrame:
    width = len(header)
    fixed = [(r + [""] * width)[:width] for r in rows]
    frame = pd.DataFrame(fixed, columns=header, dtype=object)
    frame.index = pd.RangeIndex(first_row, first_row + len(fixed), name="row")
    return _drop_empty(frame)


def _drop_empty(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    frame = frame.apply(_clean_column)
    if not all(_has_blank(column) for _name, column in frame.items()):
        return frame  # a column without a blank cell: every row has something
    keep = (frame != "").any(axis=1)
    return frame.loc[keep]


#: In a column's cells joined by NUL: a cell with space at either end, or starting with
#: the quote our exports put before a formula sign. (A NUL inside a cell can only make it
#: match when nothing needs cleaning, which costs time, never a cell left unclean.)
_UNCLEAN = re.compile(r"(?:^|\x00)(?:\s|'[=+\-@])|\s(?:\x00|$)")
_SPACE = re.compile(r"\s")


def _joined(column: pd.Series) -> str | None:
    """The column's cells joined by NUL (one C loop), or ``None`` when a cell is not text."""
    try:
        return "\x00".join(column.to_numpy(dtype=object))
    except TypeError:
        return None


def _has_blank(column: pd.Series) -> bool:
    text = _joined(column)
    if text is None:
        return True
    return text == "" or text.startswith("\x00") or text.endswith("\x00") or "\x00\x00" in text


def _clean_column(column: pd.Series) -> pd.Series:
    text = _joined(column)
    if text is not None and not (("'" in text or _SPACE.search(text)) and _UNCLEAN.search(text)):
        return column.astype(object)  # the common case, found by a scan in C
    column = column.astype(object).str.strip()
    if column.str.startswith("'").any():
        # undo the quote our exports put before text that Excel would read as a formula
        column = column.str.replace(r"^'(?=[=+\-@])", "", regex=True)
    return column


def _damaged_workbook() -> ImportFailed:
    return ImportFailed(
        _("This file could not be opened as an Excel workbook (.xlsx). Is it damaged?")
    )


def _hostile_workbook() -> ImportFailed:
    return ImportFailed(
        _(
            "This workbook contains XML entity or document type declarations, which Excel "
            "never writes; it was refused for safety. Save the sheet again from Excel, or as "
            "CSV."
        )
    )


def check_workbook(stream: IO[bytes], limits: ReadLimits) -> None:
    """Refuse a workbook before parsing it: more bytes uncompressed than ``limits`` allow
    (a zip bomb), or an XML part declaring a document type (entities: XXE, billion laughs).

    Parts report their uncompressed size in the zip directory, and :mod:`zipfile` never
    inflates a part beyond it, so the sum bounds the work openpyxl can be made to do.
    """
    start = stream.tell()
    try:
        with zipfile.ZipFile(stream) as archive:
            members = archive.infolist()
            total = sum(member.file_size for member in members)
            if total > limits.uncompressed_bytes:
                raise ImportFailed(
                    _(
                        "The workbook is %(size)s MB once uncompressed; at most %(max)s MB "
                        "are read. Split it into smaller files or save it as CSV.",
                        size=f"{total / MB:,.0f}",
                        max=f"{limits.uncompressed_bytes / MB:,.0f}",
                    )
                )
            for member in members:
                if member.filename.lower().endswith((".xml", ".rels", ".vml")):
                    with archive.open(member) as part:
                        prolog = part.read(XML_PROLOG_BYTES).upper()
                    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
                        raise _hostile_workbook()
    except UNREADABLE_ZIP as exc:
        raise _damaged_workbook() from exc
    finally:
        stream.seek(start)


#: What :mod:`zipfile` raises for an archive it cannot read: damaged, truncated, a part
#: encrypted (``RuntimeError``) or compressed with a method it lacks (``NotImplementedError``).
UNREADABLE_ZIP = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    zlib.error,
    RuntimeError,
    NotImplementedError,
)


def _excel_rows(stream: IO[bytes], limits: ReadLimits) -> Iterator[list[Any]]:
    """The rows of the first sheet, streamed (openpyxl's read-only mode), at most
    ``limits.columns + 1`` cells a row (the caller stops at the row limit)."""
    from openpyxl import load_workbook

    check_workbook(stream, limits)
    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except DefusedXmlException as exc:
        raise _hostile_workbook() from exc
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, ParseError) as exc:
        raise _damaged_workbook() from exc
    try:
        sheet = workbook.worksheets[0]
        # the declared size (the sheet's <dimension>) pads every row: never beyond the caps
        declared = sheet.max_column if isinstance(sheet.max_column, int) else None
        max_col = min(declared or limits.columns + 1, limits.columns + 1)
        # an explicit last row: openpyxl would otherwise stop at the declared one, silently
        # dropping the rows of a file whose <dimension> understates them
        rows = sheet.iter_rows(values_only=True, max_col=max_col, max_row=EXCEL_MAX_ROW)
        yield from (list(row) for row in rows)
    except DefusedXmlException as exc:
        raise _hostile_workbook() from exc
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, ParseError, zlib.error) as exc:
        raise _damaged_workbook() from exc
    finally:
        workbook.close()


def _chunks_excel(stream: IO[bytes], chunk_rows: int, limits: ReadLimits) -> Iterator[pd.DataFrame]:
    rows = _excel_rows(stream, limits)
    header: list[str] | None = None
    line = 0
    for raw in rows:
        line += 1
        if any(_cell_text(v) for v in raw):
            header = _clean_header(raw)
            break
    if header is None:
        raise ImportFailed(_("The file is empty."))
    # trailing empty header cells are not columns
    while header and header[-1].startswith("column ") and len(header) > 1:
        header.pop()
    limits.check_columns(header)
    buffer: list[list[str]] = []
    first = line + 1
    last_allowed = line + limits.rows  # rows missing from the file count: they are read too
    for raw in rows:
        if first + len(buffer) > last_allowed:
            limits.check_rows(first + len(buffer), line)
        buffer.append([_cell_text(v) for v in raw])
        if len(buffer) >= chunk_rows:
            yield _frame(buffer, header, first)
            first += len(buffer)
            buffer = []
    yield _frame(buffer, header, first)


def _chunks_csv(stream: IO[bytes], chunk_rows: int, limits: ReadLimits) -> Iterator[pd.DataFrame]:
    stream = _seekable(stream)
    start = stream.tell()
    sample = stream.read(SAMPLE_BYTES)
    complete = len(sample) < SAMPLE_BYTES
    if not sample.strip():
        raise ImportFailed(_("The file is empty."))
    if b"\x00" in sample[:4096]:
        raise ImportFailed(
            _("This does not look like a CSV file. Upload a .csv or an Excel .xlsx file.")
        )
    encoding = _guess_encoding(sample, complete)
    stream.seek(start)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    delimiter = _sniff_delimiter(sample.decode(encoding, errors="ignore"))
    try:
        header: list[str] | None = None
        line = 0
        while header is None:
            raw_line = text.readline()
            if not raw_line:
                raise ImportFailed(_("The file is empty."))
            line += 1
            if raw_line.strip():
                header = _clean_header(next(csv.reader([raw_line], delimiter=delimiter)))
        limits.check_columns(header)
        first = line + 1
        # pandas' C parser: every physical line is a row (blank ones dropped afterwards), so
        # the index stays the line number the user sees
        reader = pd.read_csv(
            text,
            sep=delimiter,
            header=None,
            names=header,
            dtype=object,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            chunksize=chunk_rows,
            engine="c",
            index_col=False,
        )
        for chunk in reader:
            chunk = chunk.fillna("")
            chunk.index = pd.RangeIndex(first, first + len(chunk), name="row")
            first += len(chunk)
            limits.check_rows(first - 1, line)
            yield _drop_empty(chunk)
    except UnicodeDecodeError as exc:
        raise ImportFailed(
            _("The file mixes text encodings. Save it again as CSV (UTF-8) or as Excel .xlsx.")
        ) from exc
    except pd.errors.ParserError as exc:
        found = re.search(r"line (\d+), saw (\d+)", str(exc))
        if found:
            row = int(found.group(1)) + line
            raise ImportFailed(
                RowError(
                    row,
                    "",
                    _(
                        "This row has %(n)s cells but the header has %(m)s.",
                        n=found.group(2),
                        m=len(header or []),
                    ),
                )
            ) from exc
        raise ImportFailed(
            _("The CSV file could not be read: %(reason)s", reason=str(exc))
        ) from exc
    except csv.Error as exc:
        raise ImportFailed(
            _("The CSV file could not be read: %(reason)s", reason=str(exc))
        ) from exc
    finally:
        text.detach()


def iter_upload(
    source: Any,
    *,
    filename: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    limits: ReadLimits | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield the upload as frames of at most ``chunk_rows`` rows (same shape as ``read_upload``).

    Memory stays bounded by the chunk size for CSV; Excel is read with openpyxl's read-only
    (streaming) mode. Every chunk has the same columns; the index is the file's row number.
    An upload beyond ``limits`` (default: the app's ``IMPORT_MAX_*`` settings) fails with
    ``ImportFailed``, as does a workbook with XML entities. A :class:`StashedUpload` is read
    from the rows its first reading kept.
    """
    limits = limits or ReadLimits.current()
    if isinstance(source, StashedUpload):
        yield from source.chunks(chunk_rows, limits)
        return
    stream, owned = _open_binary(source)
    try:
        stream = _seekable(stream)
        head = stream.read(8)
        stream.seek(stream.tell() - len(head))
        if not head:
            raise ImportFailed(_("The file is empty."))
        name = _name_of(source, filename)
        if name.lower().endswith(".xls"):
            raise ImportFailed(
                _("Old Excel files (.xls) are not supported. Save the sheet as .xlsx or CSV.")
            )
        if _is_excel(name, head):
            yield from _chunks_excel(stream, chunk_rows, limits)
        else:
            yield from _chunks_csv(stream, chunk_rows, limits)
    finally:
        if owned:
            stream.close()


def read_upload(source: Any, *, filename: str | None = None) -> pd.DataFrame:
    """The whole upload as one DataFrame of stripped strings, indexed by file row number."""
    return whole(iter_upload(source, filename=filename))


def whole(chunks: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The chunks of ``iter_upload`` as one frame; a file without data rows fails."""
    chunks = list(chunks)
    frame = chunks[0] if len(chunks) == 1 else pd.concat(chunks)
    if frame.empty:
        raise ImportFailed(_("The file has a header row but no data rows."))
    return frame


# ---------------------------------------------------------------- columns


def normalise_header(text: str) -> str:
    """Casefolded, full-width folded to half-width, without spaces, ``_``, ``-`` or ``.``."""
    folded = unicodedata.normalize("NFKC", str(text)).casefold()
    return "".join(ch for ch in folded if not ch.isspace() and ch not in "_-.·:：")


def map_columns(
    frame: pd.DataFrame,
    aliases: dict[str, list[str]],
    required: set[str],
    *,
    chosen: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, str]:
    """``{field: column}`` for every field whose column is found.

    A field matches a column when the normalised header equals the field name or one of its
    aliases. ``chosen`` holds the user's own choices from a preview (``""`` = ignore the
    field), which win over aliases. A required field without a column, or a column claimed
    by two fields, raises ``ImportFailed`` naming them (``labels`` gives the fields' names
    as the user knows them).
    """
    labels = labels or {}
    columns = [str(c) for c in frame.columns]
    lookup: dict[str, str] = {}
    for column in columns:
        lookup.setdefault(normalise_header(column), column)
    mapping: dict[str, str] = {}
    errors: list[RowError] = []
    chosen = chosen or {}
    for field, names in aliases.items():
        if field in chosen:
            choice = chosen[field]
            if choice:
                if choice not in columns:
                    errors.append(
                        RowError(1, choice, _("There is no column with this name in the file."))
                    )
                else:
                    mapping[field] = choice
            continue
        for candidate in [field, *names]:
            column = lookup.get(normalise_header(candidate))
            if column is not None:
                mapping[field] = column
                break
    claimed: dict[str, str] = {}
    for field, column in mapping.items():
        if column in claimed:
            errors.append(
                RowError(
                    1,
                    column,
                    _(
                        "This column is mapped to both %(a)s and %(b)s.",
                        a=labels.get(claimed[column], claimed[column]),
                        b=labels.get(field, field),
                    ),
                )
            )
        claimed[column] = field
    for field in sorted(required - set(mapping)):
        examples = ", ".join([field, *aliases.get(field, [])][:4])
        errors.append(
            RowError(
                1,
                "",
                _(
                    "No column for %(field)s. Name a column one of: %(examples)s.",
                    field=labels.get(field, field),
                    examples=examples,
                ),
            )
        )
    if errors:
        raise ImportFailed(errors)
    return mapping


# ---------------------------------------------------------------- cell values

_THOUSANDS = r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$"


def parse_numbers(column: pd.Series, *, percent: bool = False) -> tuple[pd.Series, pd.Series]:
    """``(values, bad)``: floats for the cells of ``column`` and a mask of non-numbers.

    Accepts thousands separators (``1,234.5``), full-width digits and, with ``percent``,
    ``35%`` (as 0.35). Blank cells are NaN and not bad; ``inf``/``nan`` text is bad.
    """
    text = column.astype(str).str.strip()
    fast = pd.to_numeric(text, errors="coerce")
    if fast.notna().all():  # the common case: every cell a plain number
        values = fast.astype(float)
        finite = values.abs() < float("inf")
        return values.where(finite), ~finite
    if text.str.contains(r"[^\x00-\x7f]", regex=True).any():
        text = text.map(lambda v: unicodedata.normalize("NFKC", v))
    blank = text == ""
    grouped = text.str.match(_THOUSANDS)
    if grouped.any():
        text = text.where(~grouped, text.str.replace(",", "", regex=False))
    divisor = pd.Series(1.0, index=text.index)
    if percent:
        pct = text.str.endswith("%")
        if pct.any():
            text = text.where(~pct, text.str[:-1].str.strip())
            divisor = divisor.where(~pct, 100.0)
    values = pd.to_numeric(text.where(~blank, None), errors="coerce").astype(float) / divisor
    finite = values.abs() < float("inf")
    bad = ~blank & ~finite
    return values.where(finite), bad


def parse_dates(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``(dates, bad)``: ``datetime64`` days and a mask of cells that are not dates.

    Accepts ``2026-10-01``, ``2026/10/1``, ``2026.10.01``, ``20261001``, ``2026年10月1日`` and a
    date with a midnight time (what Excel exports). Day-first or month-first forms such as
    ``01/10/2026`` are ambiguous and refused.
    """
    text = column.astype(str).str.strip()
    fast = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    if fast.notna().all():  # the common case: ISO dates throughout
        return fast, pd.Series(False, index=text.index)
    blank = text == ""
    text = text.str.replace(r"[年月/.]", "-", regex=True).str.replace("日", "", regex=False)
    text = text.str.replace(r"[ T]00:00(:00(\.0+)?)?$", "", regex=True)
    compact = text.str.fullmatch(r"\d{8}")
    if compact.any():
        text = text.where(~compact, text.str[:4] + "-" + text.str[4:6] + "-" + text.str[6:])
    shaped = text.str.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}")
    parsed = pd.to_datetime(text.where(shaped, None), format="%Y-%m-%d", errors="coerce")
    bad = ~blank & parsed.isna()
    return parsed, bad


# ---------------------------------------------------------------- writing


def _disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "ignore").decode() or "export"
    ascii_name = ascii_name.replace('"', "")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def for_export(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as a download holds it: floats rounded by kind of column, no formula text."""

    def column(name: Any, col: pd.Series) -> pd.Series:
        kind = column_kind(name)
        if pd.api.types.is_float_dtype(col):
            return col.map(lambda v: round_for_column(v, kind))
        if pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col):
            return col.map(lambda v: _csv_safe(round_for_column(v, kind)))
        return col

    out = frame.copy()
    for i, name in enumerate(frame.columns):
        out.isetitem(i, column(name, frame.iloc[:, i]))
    return out


def csv_text(frame: pd.DataFrame, headers: Iterable[str] | None = None) -> str:
    """The CSV text of a download: BOM first, rounded cells, Windows line ends.

    The columns' names decide the rounding; ``headers`` (the words people read, in their
    language) replace them in the file's first row.
    """
    out = for_export(frame)
    if headers is not None:
        out.columns = [str(h) for h in headers]
    return BOM + out.to_csv(index=False, lineterminator="\r\n")


def csv_bytes(frame: pd.DataFrame, headers: Iterable[str] | None = None) -> bytes:
    return csv_text(frame, headers).encode("utf-8")


def csv_response(frame: pd.DataFrame, filename: str) -> Response:
    """A CSV download in UTF-8 with BOM, so Excel shows Chinese text correctly."""
    if not filename.lower().endswith(".csv"):
        filename += ".csv"
    return Response(
        csv_bytes(frame),
        mimetype="text/csv",
        headers={"Content-Disposition": _disposition(filename)},
    )


def xlsx_bytes(frame: pd.DataFrame, sheet_name: str = "Sheet1") -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=sheet_name[:31])
    sheet.append([str(c) for c in frame.columns])
    for row in for_export(frame).itertuples(index=False, name=None):
        sheet.append([None if _is_missing(v) else _excel_value(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _excel_value(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.replace(tzinfo=None)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") and not _numberlike(value):
        return "'" + value  # never let a cell be read as a formula
    return value


def _csv_safe(value: Any) -> Any:
    return _excel_value(value) if isinstance(value, str) else value


def _numberlike(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def download(frame: pd.DataFrame, name: str, fmt: str) -> Response:
    """``frame`` as ``name.csv`` or ``name.xlsx``; any other format is Not Found."""
    if fmt == "csv":
        return csv_response(frame, name)
    if fmt == "xlsx":
        return xlsx_response(frame, name)
    raise NotFound()


def xlsx_response(frame: pd.DataFrame, filename: str) -> Response:
    from app.core.labels import DATA_SHEET_LABEL

    if not filename.lower().endswith(".xlsx"):
        filename += ".xlsx"
    return Response(
        xlsx_bytes(frame, sheet_name=str(DATA_SHEET_LABEL)),
        mimetype=XLSX_MIME,
        headers={"Content-Disposition": _disposition(filename)},
    )


__all__ = [
    "ImportFailed",
    "RowError",
    "BOM",
    "csv_bytes",
    "csv_response",
    "csv_text",
    "for_export",
    "download",
    "iter_upload",
    "map_columns",
    "normalise_header",
    "parse_dates",
    "parse_numbers",
    "drop_stash",
    "read_upload",
    "stash_upload",
    "stashed_path",
    "ReadLimits",
    "StashedUpload",
    "whole",
    "xlsx_bytes",
    "xlsx_response",
]


# ---------------------------------------------------------------- stashed uploads


def _stash_dir() -> str:
    from flask import current_app

    folder = current_app.config.get("UPLOAD_STASH_DIR") or os.path.join(
        tempfile.gettempdir(), "rollwise-uploads"
    )
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return folder


def stash_upload(storage: Any, *, owner: int | None) -> str:
    """Keep an uploaded file until the user confirms the import; returns an opaque token.

    Files older than a day are removed on the way. The token names the owner, so one user
    cannot confirm another user's upload.
    """
    folder = _stash_dir()
    cutoff = time_module.time() - 86400
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        try:
            if os.path.getmtime(path) < cutoff:
                os.remove(path)
        except OSError:
            pass
    filename = _name_of(storage, None) or "upload"
    suffix = ".xlsx" if filename.lower().endswith(EXCEL_SUFFIXES) else ".csv"
    token = f"{owner or 0}-{secrets.token_hex(16)}{suffix}"
    stream, owned = _open_binary(storage)
    try:
        with open(os.path.join(folder, token), "wb") as out:
            shutil.copyfileobj(stream, out, 1024 * 1024)
    finally:
        if owned:
            stream.close()
    return token


def stashed_path(token: str, *, owner: int | None) -> str | None:
    """The stored file for ``token`` if it exists and belongs to ``owner``."""
    if not re.fullmatch(r"\d+-[0-9a-f]{32}\.(csv|xlsx)", token or ""):
        return None
    if not token.startswith(f"{owner or 0}-"):
        return None
    path = os.path.join(_stash_dir(), token)
    return path if os.path.exists(path) else None


def drop_stash(token: str) -> None:
    """Remove a stashed upload and what its first reading kept."""
    path = os.path.join(_stash_dir(), token)
    for name in (path, path + StashedUpload.ROWS_SUFFIX, path + StashedUpload.FAILED_SUFFIX):
        try:
            os.remove(name)
        except FileNotFoundError:
            pass


class StashedUpload:
    """A stashed upload that is parsed once: the first reading keeps its rows (or why it
    could not be read) next to the file, and every later page of the preview reads those.

    The rows are kept as UTF-8 CSV with the file's row numbers in the first column, as
    cleaned strings: reading them back is pandas' C parser over plain text, fast even for a
    workbook that took openpyxl a minute. The CSV is written to a temporary name and renamed,
    so a reader never sees half of it.
    """

    ROWS_SUFFIX = ".rows.csv"
    FAILED_SUFFIX = ".failed.json"

    def __init__(self, path: str, filename: str | None = None):
        self.path = path
        self.filename = filename
        self.rows_path = path + self.ROWS_SUFFIX
        self.failed_path = path + self.FAILED_SUFFIX

    def chunks(self, chunk_rows: int, limits: ReadLimits) -> Iterator[pd.DataFrame]:
        if os.path.exists(self.failed_path):
            with open(self.failed_path, encoding="utf-8") as failed:
                raise ImportFailed([RowError(**error) for error in json.load(failed)])
        if not os.path.exists(self.rows_path):
            self._keep_rows(limits)
        yield from self._read_rows(chunk_rows)

    def _keep_rows(self, limits: ReadLimits) -> None:
        partial = f"{self.rows_path}.{secrets.token_hex(4)}.part"
        try:
            chunks = iter_upload(self.path, filename=self.filename, limits=limits)
            with open(partial, "w", encoding="utf-8", newline="") as out:
                for number, chunk in enumerate(chunks):
                    chunk.to_csv(out, header=number == 0, index=True, index_label=ROW_LABEL)
            os.replace(partial, self.rows_path)
        except ImportFailed as failure:
            with open(self.failed_path, "w", encoding="utf-8") as failed:
                json.dump([error.to_dict() for error in failure.errors], failed)
            raise
        finally:
            if os.path.exists(partial):
                os.remove(partial)

    def _read_rows(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        options = {"dtype": object, "keep_default_na": False, "na_filter": False, "index_col": 0}
        reader = pd.read_csv(self.rows_path, encoding="utf-8", chunksize=chunk_rows, **options)
        yielded = False
        with reader:
            for chunk in reader:
                chunk.index = pd.Index(chunk.index.astype("int64"), name="row")
                yielded = True
                yield chunk
        if not yielded:  # a header without data rows: the columns alone
            empty = pd.read_csv(self.rows_path, encoding="utf-8", nrows=0, **options)
            empty.index = pd.Index(empty.index.astype("int64"), name="row")
            yield empty
