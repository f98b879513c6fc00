"""``python -m analysis compare``: output formats and error handling."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from analysis.cli import main
from tests.analysis.conftest import REPO


@pytest.fixture
def csv_files(tmp_path, simulate):
    sim = simulate(8, 12, 14, 14, effect={"sales": 2.0}, metrics=["sales", "wait"])
    obs, sites = tmp_path / "obs.csv", tmp_path / "sites.csv"
    sim.observations.assign(date=sim.observations["date"].dt.date).to_csv(obs, index=False)
    sim.sites.to_csv(sites, index=False)
    return obs, sites, sim.start.date().isoformat()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "analysis", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_json_output_through_a_subprocess(csv_files):
    obs, sites, start = csv_files
    proc = run_cli("compare", str(obs), str(sites), "--start", start, "--primary", "sales",
                   "--guardrail", "wait", "--direction", "wait=decrease", "--margin", "wait=3",
                   "--format", "json", "--seed", "4")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert list(data["metrics"]) == ["sales", "wait"]
    assert data["metrics"]["wait"]["role"] == "guardrail"
    assert data["metrics"]["wait"]["direction"] == "decrease"
    assert data["parameters"]["seed"] == 4
    assert "permutation" in data["metrics"]["sales"]["methods"]


def test_text_output(csv_files, capsys):
    obs, sites, start = csv_files
    assert main(["compare", str(obs), str(sites), "--start", start, "--metric", "sales"]) == 0
    out = capsys.readouterr().out
    assert "sales [primary" in out and "wait" not in out


def test_method_option_sets_the_headline(csv_files, capsys):
    obs, sites, start = csv_files
    code = main(["compare", str(obs), str(sites), "--start", start, "--method", "welch",
                 "--format", "json"])  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["metrics"]["sales"]["method"].startswith("welch")


def test_value_error_prints_error_and_exits_2(csv_files):
    obs, sites, start = csv_files
    proc = run_cli("compare", str(obs), str(sites), "--start", start, "--metric", "nope")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: unknown metric 'nope'")
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_bad_columns_and_missing_files_exit_2(tmp_path, csv_files, capsys):
    obs, sites, start = csv_files
    broken = tmp_path / "broken.csv"
    broken.write_text("site,day,value\n1,2024-01-01,3\n")
    assert main(["compare", str(broken), str(sites), "--start", start]) == 2
    assert "error: observations is missing column" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "absent.csv"), str(sites), "--start", start]) == 2
    assert "file not found" in capsys.readouterr().err


def test_bad_key_value_option_is_a_usage_error(csv_files, capsys):
    obs, sites, start = csv_files
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(obs), str(sites), "--start", start, "--margin", "wait"])
    assert exc.value.code == 2
    assert "KEY=VALUE" in capsys.readouterr().err
