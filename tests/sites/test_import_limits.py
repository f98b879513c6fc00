"""Uploads are capped (rows, columns, uncompressed size), hostile workbooks are refused, an
upload is parsed once however often its preview is shown, and values are held to their
metric's bounds with the row and column named."""

from __future__ import annotations

import io
import os
import zipfile
from datetime import date

import openpyxl
import pytest

from app.core import tables
from app.core.errors import ImportFailed
from app.core.tables import ReadLimits, StashedUpload
from app.models import MetricKind, Role
from app.sites.observation_import import plan_observations
from tests.conftest import post_file, xlsx_bytes

SMALL = ReadLimits(rows=3, columns=2, uncompressed_bytes=10 * 1024 * 1024)
LOL = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
        for n in range(1, 10)
    )
    + b"]>"
)
XXE = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'


def rewrite(data: bytes, member: str, change) -> bytes:
    """The workbook ``data`` with one part changed."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            target.writestr(info, change(content) if info.filename == member else content)
    return out.getvalue()


def with_prolog(prolog: bytes, entity: bytes):
    def change(content: bytes) -> bytes:
        return prolog + content.replace(b"<t>S1</t>", b"<t>" + entity + b"</t>")

    return change


WORKBOOK = xlsx_bytes([["code", "name"], ["S1", "one"]])
SHEET = "xl/worksheets/sheet1.xml"


def read(data: bytes, filename: str, limits: ReadLimits = SMALL):
    return tables.whole(tables.iter_upload(data, filename=filename, limits=limits))


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"a,b\n1,2\n3,4\n5,6\n7,8\n", "many.csv"),
        (xlsx_bytes([["a", "b"], [1, 2], [3, 4], [5, 6], [7, 8]]), "many.xlsx"),
    ],
)
def test_more_rows_than_allowed_are_refused(rctx, data, filename):
    with pytest.raises(ImportFailed, match="more than 3 data rows. Split it"):
        read(data, filename)
    assert len(read(data, filename, ReadLimits(rows=4))) == 4


@pytest.mark.parametrize(
    ("data", "filename"),
    [(b"a,b,c\n1,2,3\n", "wide.csv"), (xlsx_bytes([["a", "b", "c"], [1, 2, 3]]), "wide.xlsx")],
)
def test_more_columns_than_allowed_are_refused(rctx, data, filename):
    with pytest.raises(ImportFailed, match="The file has 3 columns; at most 2 are read"):
        read(data, filename)


def test_a_workbook_too_large_uncompressed_is_refused_before_parsing(rctx, monkeypatch):
    padded = rewrite(WORKBOOK, "docProps/app.xml", lambda c: c + b" " * 3_000_000)
    assert len(padded) < 100_000  # a small upload …
    monkeypatch.setattr(openpyxl, "load_workbook", pytest.fail)  # … never handed to openpyxl
    with pytest.raises(ImportFailed, match="once uncompressed; at most 2 MB"):
        read(padded, "bomb.xlsx", ReadLimits(uncompressed_bytes=2 * 1024 * 1024))


def test_rows_far_below_the_last_one_count_towards_the_limit(rctx):
    """A sheet whose only other row is numbered 50,000,000 stops at the limit (openpyxl fills
    the gap with empty rows), instead of keeping a worker busy."""
    far = rewrite(
        WORKBOOK,
        SHEET,
        lambda c: c.replace(
            b"</sheetData>",
            b'<row r="50000000"><c r="A50000000" t="inlineStr"><is><t>x</t></is></c></row>'
            b"</sheetData>",
        ),
    )
    with pytest.raises(ImportFailed, match="more than 1,000 data rows"):
        read(far, "far.xlsx", ReadLimits(rows=1000))


def test_a_declared_size_smaller_than_the_sheet_drops_no_row(rctx):
    extra = b'<row r="3"><c r="A3" t="inlineStr"><is><t>S2</t></is></c></row></sheetData>'
    understated = rewrite(WORKBOOK, SHEET, lambda c: c.replace(b"</sheetData>", extra))
    assert list(read(understated, "x.xlsx", ReadLimits())["code"]) == ["S1", "S2"]


def test_a_declared_size_far_wider_than_the_caps_pads_rows_only_to_the_caps(rctx):
    wide = rewrite(
        WORKBOOK,
        SHEET,
        lambda c: c.replace(b'<dimension ref="A1:B2"/>', b'<dimension ref="A1:XFD2"/>'),
    )
    frame = read(wide, "x.xlsx", ReadLimits())
    assert list(frame.columns) == ["code", "name"]


@pytest.mark.parametrize(
    ("member", "prolog", "entity"),
    [
        (SHEET, LOL, b"&lol9;"),
        (SHEET, XXE, b"&x;"),
        ("xl/workbook.xml", LOL, b""),
        ("[Content_Types].xml", XXE, b""),
        ("_rels/.rels", b"<!DOCTYPE r>\n", b""),
    ],
)
def test_a_workbook_with_xml_entities_is_refused_with_a_clear_message(rctx, member, prolog, entity):
    hostile = rewrite(WORKBOOK, member, with_prolog(prolog, entity))
    with pytest.raises(ImportFailed, match="XML entity or document type declarations"):
        read(hostile, "hostile.xlsx", ReadLimits())


def test_openpyxl_itself_refuses_entities_through_defusedxml():
    """The second wall: openpyxl parses worksheets with defusedxml when it is installed."""
    from defusedxml import DefusedXmlException

    assert openpyxl.DEFUSEDXML is True
    hostile = rewrite(WORKBOOK, SHEET, with_prolog(LOL, b"&lol9;"))
    with pytest.raises(ValueError) as refused:
        workbook = openpyxl.load_workbook(io.BytesIO(hostile), read_only=True)
        list(workbook.worksheets[0].iter_rows(values_only=True))
    cause = refused.value if isinstance(refused.value, DefusedXmlException) else None
    cause = cause or refused.value.__cause__ or refused.value.__context__
    assert isinstance(cause, DefusedXmlException)


def test_a_hostile_workbook_uploaded_to_the_page_is_shown_as_an_error_not_a_500(
    client, auth, app, tmp_path
):
    app.config["UPLOAD_STASH_DIR"] = str(tmp_path)
    auth.login(Role.CHANGE_LEAD)
    hostile = rewrite(WORKBOOK, SHEET, with_prolog(LOL, b"&lol9;"))
    upload = post_file(client, "/sites/import", hostile, "stores.xlsx")
    page = client.get(upload.headers["Location"])
    assert page.status_code == 200
    assert "refused for safety" in page.get_data(as_text=True)


# ---------------------------------------------------------------- parsed once


def test_a_stashed_upload_is_parsed_once_and_read_back_identically(rctx, tmp_path, monkeypatch):
    rows = [["code", "name", "note"], ["S1", "two\nlines", "'=1+2"], ["S2", '逗号, "引号"', ""]]
    rows += [[None, None, None], ["S3", "  padded  ", "12345678901234567890"]]
    path = tmp_path / "1-upload.xlsx"
    path.write_bytes(xlsx_bytes(rows))
    direct = read(path.read_bytes(), "u.xlsx", ReadLimits())
    calls = []
    real = openpyxl.load_workbook
    monkeypatch.setattr(openpyxl, "load_workbook", lambda *a, **k: calls.append(1) or real(*a, **k))
    stashed = StashedUpload(str(path), "u.xlsx")
    for _ in range(3):
        again = tables.whole(tables.iter_upload(stashed))
        assert again.equals(direct)
        assert list(again.index) == [2, 3, 5]
    assert len(calls) == 1
    head = next(iter(tables.iter_upload(stashed, chunk_rows=1)))
    assert list(head.index) == [2] and list(head.columns) == ["code", "name", "note"]


def test_a_failed_reading_is_kept_too(rctx, tmp_path, monkeypatch):
    path = tmp_path / "1-upload.csv"
    path.write_bytes(b"a,b,c\n1,2,3\n")
    stashed = StashedUpload(str(path), "u.csv")
    for _ in range(2):
        with pytest.raises(ImportFailed, match="3 columns"):
            tables.whole(tables.iter_upload(stashed, limits=SMALL))
    monkeypatch.setattr(tables, "_chunks_csv", pytest.fail)  # the verdict is read back
    with pytest.raises(ImportFailed, match="3 columns"):
        tables.whole(tables.iter_upload(stashed))


def test_a_header_without_data_rows_is_still_refused_from_the_kept_rows(rctx, tmp_path):
    path = tmp_path / "1-upload.csv"
    path.write_bytes(b"code,name\n")
    stashed = StashedUpload(str(path), "u.csv")
    for _ in range(2):
        with pytest.raises(ImportFailed, match="header row but no data rows"):
            tables.whole(tables.iter_upload(stashed))


def test_the_preview_pages_parse_the_workbook_once_and_confirming_drops_it(
    client, auth, app, tmp_path, monkeypatch, make_site, make_metric
):
    app.config["UPLOAD_STASH_DIR"] = str(tmp_path)
    make_site(code="A1")
    make_metric("wait")
    auth.login(Role.CHANGE_LEAD)
    body = xlsx_bytes([["site", "date", "metric", "value"], ["A1", "2026-10-01", "wait", 5]])
    calls = []
    real = openpyxl.load_workbook
    monkeypatch.setattr(openpyxl, "load_workbook", lambda *a, **k: calls.append(1) or real(*a, **k))
    url = post_file(client, "/sites/data/import", body, "pos.xlsx").headers["Location"]
    for _ in range(3):
        assert "1 new value" in client.get(url).get_data(as_text=True)
    assert client.post(url, data={}).status_code == 302
    assert len(calls) == 1
    assert os.listdir(tmp_path) == []  # the upload and its kept rows are gone


# ---------------------------------------------------------------- bounds


def test_values_outside_a_metrics_bounds_are_refused_with_row_and_column(
    rctx, make_site, make_metric
):
    make_site(code="A1")
    make_metric("wait", min_value=0.0, max_value=1440.0)
    make_metric("share", min_value=0.0, max_value=1.0, kind=MetricKind.PROPORTION)
    wide = (
        "site,date,wait,share\nA1,2026-10-01,-2,0.5\nA1,2026-10-02,3,1.2\nA1,2026-10-03,1e308,0\n"
    )
    chunks = tables.iter_upload(wide.encode(), filename="wide.csv")
    plan = plan_observations(chunks, today=date(2026, 11, 1))
    assert [(e.row, e.column, e.message) for e in plan.errors] == [
        (2, "wait", "-2 is below 0, the smallest value of wait."),
        (3, "share", "1.2 is above 1, the largest value of share."),
        (4, "wait", "1e308 is too large to be a daily value."),
    ]
    assert str(plan.errors[0]) == "Row 2, column wait: -2 is below 0, the smallest value of wait."
