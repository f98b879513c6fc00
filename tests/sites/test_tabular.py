"""Reading spreadsheets the way operations teams keep them."""

import io

import pandas as pd
import pytest
from openpyxl import load_workbook

from app.core import tables as tabular
from app.core.errors import ImportFailed
from app.core.tables import map_columns, read_upload
from tests.conftest import xlsx_bytes

ALIASES = {"code": ["门店编码", "site code"], "score": ["管理评分"]}


def test_gbk_csv_from_older_excel_is_read_with_row_numbers_as_in_the_file(rctx):
    data = "门店编码,管理评分\r\nS1,80\r\n\r\nS2,abc\r\n".encode("gbk")
    frame = read_upload(data, filename="stores.csv")
    assert list(frame.columns) == ["门店编码", "管理评分"]
    # the empty line 3 is skipped, but S2 keeps the row number a user sees in Excel: 4
    assert frame.index.tolist() == [2, 4]
    assert frame.loc[4, "管理评分"] == "abc"


def test_utf8_bom_and_semicolons_are_understood(rctx):
    frame = read_upload("\ufeffcode;score\nA;1\n".encode(), filename="x.csv")
    assert frame.to_dict("records") == [{"code": "A", "score": "1"}]


def test_xlsx_cells_come_back_as_the_text_the_user_sees(rctx):
    from datetime import datetime

    data = xlsx_bytes(
        [["code", "score", "day"], ["S1", 12.0, datetime(2026, 10, 1)], [None, None, None]]
    )
    frame = read_upload(io.BytesIO(data), filename="stores.xlsx")
    assert frame.to_dict("records") == [{"code": "S1", "score": "12", "day": "2026-10-01"}]


@pytest.mark.parametrize(
    ("content", "name", "words"),
    [
        (b"", "a.csv", "empty"),
        (b"PK\x03\x04not really a zip", "a.xlsx", "Excel"),
        (b"\x00\x01\x02binary", "a.csv", "CSV"),
        (b"code\n", "a.csv", "no data rows"),
        (b"whatever", "old.xls", ".xls"),
    ],
)
def test_unreadable_files_fail_with_a_message_not_a_crash(rctx, content, name, words):
    with pytest.raises(ImportFailed) as failed:
        read_upload(content, filename=name)
    assert words in failed.value.errors[0].message


def test_columns_match_chinese_and_english_aliases_ignoring_case_and_spaces(rctx):
    frame = pd.DataFrame(columns=[" Site  Code ", "管理评分"])
    assert map_columns(frame, ALIASES, {"code"}) == {"code": " Site  Code ", "score": "管理评分"}


def test_a_missing_required_column_is_named_with_its_aliases(rctx):
    with pytest.raises(ImportFailed) as failed:
        map_columns(pd.DataFrame(columns=["x"]), ALIASES, {"code"})
    error = failed.value.errors[0]
    assert error.row == 1 and "门店编码" in error.message


def test_exports_open_in_excel_and_never_carry_formulas(app, rctx):
    frame = pd.DataFrame({"name": ['=HYPERLINK("x")', "门店"], "n": [1, 2]})
    csv = tabular.csv_response(frame, "sites.csv")
    assert csv.data.startswith("\ufeff".encode())  # BOM: Excel shows Chinese correctly
    assert "'=HYPERLINK" in csv.data.decode("utf-8-sig")
    book = load_workbook(io.BytesIO(tabular.xlsx_response(frame, "sites").data))
    assert book.active["A2"].value.startswith("'=")
    # and reading our own export back removes the protective quote again
    again = read_upload(csv.data, filename="sites.csv")
    assert again.loc[2, "name"] == '=HYPERLINK("x")'


def test_a_row_with_too_many_cells_is_named(rctx):
    with pytest.raises(ImportFailed) as failed:
        read_upload(b"a,b\n1,2\n3,4,5\n", filename="x.csv")
    error = failed.value.errors[0]
    assert (error.row, error.message) == (3, "This row has 3 cells but the header has 2.")
