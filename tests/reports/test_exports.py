"""Exports: the reproducible bundle reproduces, CSV tables hold every table, PDF renders Chinese."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from codecs import BOM_UTF8
from pathlib import Path

import pytest
from numpy.testing import assert_allclose

from app.core.numbers import column_kind, round_for_column
from app.extensions import db
from app.models import Observation, Role
from tests.reports.conftest import create_report

ROOT = Path(__file__).resolve().parents[2]
NUMBERS = ("effect", "se", "ci_low", "ci_high", "p_value", "p_adjusted")


def test_the_reproducible_bundle_reproduces_the_numbers(client, auth, report_pilot, tmp_path):
    pilot = report_pilot()
    auth.login(Role.ANALYST)
    report = create_report(client, pilot)
    # the bundle holds the snapshot's data, even after the data change
    db.session.scalars(db.select(Observation).limit(1)).first().value += 5
    db.session.commit()

    response = client.get(f"/reports/{report.id}/bundle.zip")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.data)) as bundle:
        assert {
            "observations.csv",
            "sites.csv",
            "command.sh",
            "command.json",
            "expected.json",
            "README.md",
        } <= set(bundle.namelist())
        bundle.extractall(tmp_path)
    args = json.loads((tmp_path / "command.json").read_text())
    assert args[:4] == ["python", "-m", "analysis", "compare"]
    assert " ".join(args[:4]) in (tmp_path / "command.sh").read_text()
    command = [sys.executable, *args[1:]]  # the bundle's command, with this interpreter
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    actual = json.loads(run.stdout)
    expected = json.loads((tmp_path / "expected.json").read_text())
    assert expected == report.results["comparison"]
    for key, want in expected["metrics"].items():
        got = actual["metrics"][key]
        for field in NUMBERS:
            assert_allclose(got[field], want[field], rtol=1e-12, err_msg=f"{key}.{field}")
        assert got["verdict"] == want["verdict"]
        assert got["method"] == want["method"]


def test_csv_export_has_every_table_with_the_snapshot_numbers(client, auth, report_pilot):
    pilot = report_pilot()
    auth.login(Role.ANALYST)
    report = create_report(client, pilot)
    response = client.get(f"/reports/{report.id}/export-csv.zip")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        names = set(archive.namelist())
        assert {
            "headline.csv",
            "methods.csv",
            "balance.csv",
            "completeness.csv",
            "pretrend.csv",
            "segments.csv",
            "site_effects.csv",
            "daily.csv",
            "sequential.csv",
            "feedback.csv",
            "deviations.csv",
            "warnings.csv",
            "recommendation.csv",
            "report.json",
        } <= names
        assert all(archive.read(n).startswith(BOM_UTF8) for n in names if n.endswith(".csv"))
        rows = list(csv.DictReader(io.TextIOWrapper(archive.open("headline.csv"), "utf-8-sig")))
    metrics = report.results["comparison"]["metrics"]
    assert [r["metric"] for r in rows] == list(metrics)
    for row in rows:
        for field in NUMBERS:
            # rounded by kind of column: p-values 4 decimals, relative effects 3, others
            # 4 significant digits
            want = round_for_column(metrics[row["metric"]][field], column_kind(field))
            assert float(row[field]) == want, field


def test_pdf_is_a_readable_file_with_chinese_text(client, auth, report_pilot):
    pypdf = pytest.importorskip("pypdf", reason="pypdf extracts the PDF's text")
    pilot = report_pilot(name="扫码点餐试点 QR pilot")
    auth.login(Role.ANALYST, name="周磊 Zhou Lei")
    report = create_report(client, pilot)
    response = client.get(f"/reports/{report.id}/export.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    reader = pypdf.PdfReader(io.BytesIO(response.data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "扫码点餐试点" in text
    assert "周磊" in text
    assert "fell by" in text  # the headline sentence
    fonts = set()
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    assert any("CJK" in f for f in fonts), fonts
    assert len(reader.pages) >= 2


def test_pdf_in_chinese_locale(client, auth, report_pilot):
    pytest.importorskip("pypdf")
    pilot = report_pilot(name="试点")
    auth.login(Role.ANALYST)
    report = create_report(client, pilot)
    client.get("/lang/zh_CN")
    response = client.get(f"/reports/{report.id}/export.pdf")
    assert response.status_code == 200
    assert response.data.startswith(b"%PDF")
