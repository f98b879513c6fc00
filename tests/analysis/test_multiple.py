"""Holm and Benjamini-Hochberg adjustments against hand computation and statsmodels."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from numpy.testing import assert_allclose
from statsmodels.stats.multitest import multipletests

from analysis.multiple import adjust, adjust_family, benjamini_hochberg, holm


def test_holm_hand_computation():
    # hand computation, sorted p = (0.01, 0.02, 0.04, 0.30) with m = 4:
    # 4*0.01 = 0.04, 3*0.02 = 0.06, 2*0.04 = 0.08, 1*0.30 = 0.30 (running max keeps order)
    p = np.array([0.04, 0.01, 0.30, 0.02])
    assert_allclose(holm(p), [0.08, 0.04, 0.30, 0.06], rtol=1e-12)


def test_holm_running_max_and_cap():
    # hand computation: 3*0.02 = 0.06, 2*0.025 = 0.05 -> max 0.06, 1*0.9 = 0.9; 3*0.5 capped
    assert_allclose(holm(np.array([0.02, 0.025, 0.9])), [0.06, 0.06, 0.9], rtol=1e-12)
    assert_allclose(holm(np.array([0.5, 0.6])), [1.0, 1.0], rtol=1e-12)


def test_bh_hand_computation():
    # hand computation, sorted p = (0.01, 0.02, 0.03, 0.50), m = 4: m*p/i =
    # 0.04, 0.04, 0.04, 0.50; running min from the top leaves them unchanged
    p = np.array([0.03, 0.50, 0.01, 0.02])
    assert_allclose(benjamini_hochberg(p), [0.04, 0.50, 0.04, 0.04], rtol=1e-12)
    # 0.01*3/1 = 0.03, 0.04*3/2 = 0.06, 0.045*3/3 = 0.045 -> min from top: 0.03, 0.045, 0.045
    assert_allclose(benjamini_hochberg(np.array([0.01, 0.04, 0.045])), [0.03, 0.045, 0.045])


def test_match_statsmodels_multipletests():
    rng = np.random.default_rng(0)
    gc.freeze()  # statsmodels' Holm calls gc.collect(); keep it from scanning the whole heap
    try:
        for _ in range(50):
            p = rng.random(rng.integers(1, 10)) ** 3
            # statsmodels: multipletests(p, method="holm" / "fdr_bh")
            assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=1e-12)
            assert_allclose(benjamini_hochberg(p), multipletests(p, method="fdr_bh")[1], rtol=1e-12)
    finally:
        gc.unfreeze()


def test_family_split_and_missing_values():
    p = {"primary": 0.01, "guard": 0.04, "s1": 0.01, "s2": 0.02, "broken": float("nan")}
    out = adjust_family(p, "primary", ["guard"])
    # Holm over {primary, guard}: 2*0.01 = 0.02, 1*0.04 = 0.04
    assert_allclose([out["primary"], out["guard"]], [0.02, 0.04], rtol=1e-12)
    # BH over {s1, s2} (the NaN does not count): 2*0.01/1 = 0.02, 2*0.02/2 = 0.02
    assert_allclose([out["s1"], out["s2"]], [0.02, 0.02], rtol=1e-12)
    assert np.isnan(out["broken"])
    assert list(out) == list(p)


def test_bad_inputs():
    with pytest.raises(ValueError, match="method"):
        adjust({"a": 0.1}, "bonferroni-ish")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adjust({"a": 1.5}, "holm")
