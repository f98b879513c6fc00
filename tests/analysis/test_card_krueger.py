"""Reproduce Card & Krueger (1994), Table 3, through the command line.

Published figures are rounded to two decimals, so a reproduction matches when it lies within
half a unit of the last digit: ``atol=0.005``. The "balanced sample of stores" (stores with FTE
employment in both waves) is selected automatically: the panel DiD drops fixed-effect
singletons, i.e. stores observed in one wave only, and the site-level methods use sites with
both a pre- and a post-period mean.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from numpy.testing import assert_allclose

from analysis import compare
from analysis.data import site_period_means, validate
from tests.analysis.conftest import run_cli

HALF_A_CENT = 0.005


def _run(folder, *extra: str) -> dict:
    proc = run_cli(
        "compare",
        str(folder / "card_krueger_1994_long.csv"),
        str(folder / "card_krueger_1994_sites.csv"),
        "--start",
        "1992-04-01",
        "--metric",
        "fte",
        "--format",
        "json",
        *extra,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["metrics"]["fte"]


def test_did_of_fte_matches_table_3_balanced_sample(card_krueger_dir):
    fte = _run(card_krueger_dir, "--method", "did")
    # published table: Card & Krueger (1994), Table 3, change in mean FTE employment,
    # balanced sample of stores, NJ - PA: 2.75 (SE 1.34)
    assert_allclose(fte["effect"], 2.75, rtol=0, atol=HALF_A_CENT)
    assert_allclose(fte["se"], 1.34, rtol=0, atol=HALF_A_CENT)
    assert fte["method"].startswith("did")
    # stores with FTE in both waves, counted independently from the raw file
    long = pd.read_csv(card_krueger_dir / "card_krueger_1994_long.csv")
    waves = long[long["metric"] == "fte"].groupby("site_id")["date"].nunique()
    assert fte["n_pilot_sites"] + fte["n_control_sites"] == int((waves == 2).sum())
    assert fte["methods"]["did"]["n_singletons"] == int((waves == 1).sum())


def test_auto_method_also_chooses_did_for_two_waves(card_krueger_dir):
    fte = _run(card_krueger_dir)
    assert fte["method"].startswith("did") and "short" in fte["method_reason"]


def test_arm_changes_match_table_3(card_krueger_dir):
    obs = pd.read_csv(card_krueger_dir / "card_krueger_1994_long.csv")
    sites = pd.read_csv(card_krueger_dir / "card_krueger_1994_sites.csv")
    report = compare(obs, sites, "1992-04-01", metrics=["fte"], method="welch")
    welch = report.metrics["fte"].methods["welch"]
    # published table: Card & Krueger (1994), Table 3, balanced sample: NJ - PA = 2.75 (1.34),
    # where the SE combines the two arms' standard errors as in a Welch test
    assert_allclose(welch.effect, 2.75, rtol=0, atol=HALF_A_CENT)
    assert_allclose(welch.se, 1.34, rtol=0, atol=HALF_A_CENT)
    assert (welch.n_pilot, welch.n_control) == (
        report.metrics["fte"].n_pilot_sites,
        report.metrics["fte"].n_control_sites,
    )


def test_balanced_sample_changes_per_state_match_table_3(card_krueger_dir):
    obs = pd.read_csv(card_krueger_dir / "card_krueger_1994_long.csv")
    sites = pd.read_csv(card_krueger_dir / "card_krueger_1994_sites.csv")
    obs, sites = validate(obs, sites, "1992-04-01")
    means = site_period_means(obs[obs["metric"] == "fte"], sites, "1992-04-01").dropna()
    change = means["post"] - means["pre"]
    for arm, mean, se in [("pilot", 0.47, 0.48), ("control", -2.28, 1.25)]:
        values = change[means["arm"] == arm]
        # published table: Card & Krueger (1994), Table 3, change in mean FTE employment,
        # balanced sample of stores: NJ 0.47 (0.48), PA -2.28 (1.25)
        assert_allclose(values.mean(), mean, rtol=0, atol=HALF_A_CENT)
        assert_allclose(values.std(ddof=1) / np.sqrt(len(values)), se, rtol=0, atol=HALF_A_CENT)
