"""failed_result and ci_text, the helpers every result class shares."""

from __future__ import annotations

import math

from analysis.ancova import AncovaResult
from analysis.results import ci_text, failed_result


def test_failed_result_leaves_numbers_missing_and_keeps_what_is_given():
    result = failed_result(AncovaResult, "too few sites", alpha=0.1, n_pilot=3, n_control=0)
    assert result.error == "too few sites"
    assert all(math.isnan(v) for v in (result.effect, result.se, result.p_value, result.df))
    assert result.df_resid == 0  # an int field: 0, not NaN
    assert (result.alpha, result.n_pilot, result.n_control) == (0.1, 3, 0)
    assert result.method.startswith("ANCOVA")  # defaults stay
    assert result.to_dict()["p_value"] is None


def test_ci_text_names_the_level_and_formats_both_ends():
    assert ci_text(0.05, -0.21650, 3.6424) == "95% CI [-0.2165, 3.642]"
    assert ci_text(0.1, 1.26, 2.5, "+.1f") == "90% CI [+1.3, +2.5]"
