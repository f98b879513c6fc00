"""Files people download: a UTF-8 BOM first (Excel then shows Chinese), numbers rounded by
kind of column with no float tails, and our own importers read such files back."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from app.core import tables as tabular
from app.core.tables import BOM
from app.extensions import db
from app.models import Role, Site
from app.sites.site_import import plan_import

BOM_BYTES = BOM.encode("utf-8")


@pytest.fixture
def rctx(app):
    with app.test_request_context():
        yield


def test_a_csv_download_starts_with_a_bom_and_rounds_by_column(rctx):
    frame = pd.DataFrame(
        {
            "metric": ["等待时间", "=cmd"],
            "effect": [-2.942811734, 1 / 3],
            "p_value": [0.012345678, 0.00001234],
            "relative_effect": [-0.0345678, 0.1 + 0.2],
            "n_sites": [10, 12],
        }
    )
    data = tabular.csv_bytes(frame)
    assert data.startswith(BOM_BYTES)
    text = data.decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0] == "metric,effect,p_value,relative_effect,n_sites"
    assert lines[1] == "等待时间,-2.943,0.0123,-0.035,10"
    assert lines[2] == "'=cmd,0.3333,1.2e-05,0.3,12"  # no 0.30000000000000004, no formula
    # the same rounding in Excel files
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(tabular.xlsx_bytes(frame)))
    row = list(book.active.values)[1]
    assert row[1:4] == (-2.943, 0.0123, -0.035)


def test_our_reader_takes_a_bom_file_as_it_was_written(rctx):
    frame = pd.DataFrame({"code": ["东1"], "senior_share": [0.123456]})
    back = tabular.read_upload(tabular.csv_bytes(frame), filename="x.csv")
    assert list(back.columns) == ["code", "senior_share"]  # no "\ufeffcode"
    assert back.iloc[0].tolist() == ["东1", "0.123"]


def test_a_site_export_imports_back_unchanged_despite_rounding(client, auth, make_site, rctx):
    make_site(code="R1", name="东方店", senior_share=0.123456, attributes={"floor_m2": 123.456789})
    auth.login(Role.ANALYST)
    exported = client.get("/sites/export.csv?active=all")
    assert exported.data.startswith(BOM_BYTES)
    assert b"0.123456" not in exported.data and b"123.456789" not in exported.data
    plan = plan_import(tabular.read_upload(exported.data, filename="sites.csv"))
    assert plan.ok, plan.errors
    assert plan.updated == [] and "R1" in plan.unchanged
    assert db.session.get(Site, db.session.query(Site.id).filter_by(code="R1").scalar())
