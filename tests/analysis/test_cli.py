"""``python -m analysis compare``: output formats and error handling."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis import design, simulate_registry
from analysis.cli import main
from tests.analysis.conftest import run_cli


@pytest.fixture
def csv_files(tmp_path, simulate):
    sim = simulate(8, 12, 14, 14, effect={"sales": 2.0}, metrics=["sales", "wait"])
    obs, sites = tmp_path / "obs.csv", tmp_path / "sites.csv"
    sim.observations.assign(date=sim.observations["date"].dt.date).to_csv(obs, index=False)
    sim.sites.to_csv(sites, index=False)
    return obs, sites, sim.start.date().isoformat()


def design_argv(files, pilots: int, *options: str, metric: str = "wait_minutes") -> list[str]:
    """``design SITES HISTORY --pilots N --problem-metric METRIC OPTIONS``, for ``main``."""
    sites, history = files
    command = ["design", str(sites), str(history), "--pilots", str(pilots)]
    return [*command, "--problem-metric", metric, *options]


def test_json_output_through_a_subprocess(csv_files):
    obs, sites, start = csv_files
    proc = run_cli(
        "compare",
        str(obs),
        str(sites),
        "--start",
        start,
        "--primary",
        "sales",
        "--guardrail",
        "wait",
        "--direction",
        "wait=decrease",
        "--margin",
        "wait=3",
        "--format",
        "json",
        "--seed",
        "4",
    )
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
    code = main(
        ["compare", str(obs), str(sites), "--start", start, "--method", "welch", "--format", "json"]
    )
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


@pytest.fixture
def design_files(tmp_path):
    sites, history = simulate_registry(80, region_skew=0.8, seed=6)
    sites_csv, history_csv = tmp_path / "registry.csv", tmp_path / "history.csv"
    sites.to_csv(sites_csv, index=False)
    history.assign(date=history["date"].dt.date).to_csv(history_csv, index=False)
    return sites_csv, history_csv


def test_design_json_keys_through_a_subprocess(design_files):
    options = ["--match", "region", "digital_readiness", "--seed", "3"]
    options += ["--max-volume-share", "0.2", "--format", "json"]
    proc = run_cli(*design_argv(design_files, 6, *options))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    for key in ("pilot_sites", "control_sites", "pairs", "seed", "balance", "warnings"):
        assert key in data
    assert data["seed"] == 3 and len(data["pilot_sites"]) == 6 == len(data["pairs"])
    assert [g[0] for g in data["pairs"]] == data["pilot_sites"]
    assert all({"name", "pilot", "control", "smd"} <= set(b) for b in data["balance"])
    assert {b["name"] for b in data["balance"]} >= {"wait_minutes level", "wait_minutes trend"}


def test_design_text_and_same_result_as_python(design_files, capsys):
    assert main(design_argv(design_files, 5, "--ratio", "2", "--pool-share", "0.6")) == 0
    out = capsys.readouterr().out
    assert "Pilot design for wait_minutes" in out and "triplets" in out
    assert main(design_argv(design_files, 5, "--format", "json")) == 0
    data = json.loads(capsys.readouterr().out)
    sites, history = design_files
    frame, hist = pd.read_csv(sites, dtype={"site_id": str}), pd.read_csv(history)
    ref = design(frame, hist, n_pilots=5, problem_metric="wait_minutes")
    assert data["pairs"] == [list(g) for g in ref.pairs]


def test_design_mistakes_exit_2(design_files, capsys):
    assert main(design_argv(design_files, 4, metric="nope")) == 2
    assert capsys.readouterr().err.startswith("error: unknown metric 'nope'")
    assert main(design_argv(design_files, 4, "--match", "colour")) == 2
    assert "error: sites has no column(s) ['colour']" in capsys.readouterr().err


def test_compare_reads_a_pair_column(tmp_path, design_files, capsys):
    sites_csv, history_csv = design_files
    sites, history = simulate_registry(80, region_skew=0.8, seed=6, days=70)
    start = history["date"].min() + pd.Timedelta(days=56)
    plan = design(
        sites, history[history["date"] < start], n_pilots=6, problem_metric="wait_minutes"
    )
    obs, arms = tmp_path / "obs.csv", tmp_path / "arms.csv"
    history[history["site_id"].isin(plan.sites_frame()["site_id"])].to_csv(obs, index=False)
    plan.sites_frame().to_csv(arms, index=False)
    args = [
        "compare",
        str(obs),
        str(arms),
        "--start",
        start.date().isoformat(),
        "--metric",
        "wait_minutes",
        "--format",
        "json",
    ]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["parameters"]["pairs"] == 6
    assert data["metrics"]["wait_minutes"]["method"].startswith("paired")
    assert main([*args, "--no-pairs"]) == 0
    unpaired = json.loads(capsys.readouterr().out)
    assert "paired" not in unpaired["metrics"]["wait_minutes"]["methods"]
