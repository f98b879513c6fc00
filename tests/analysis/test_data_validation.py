"""Input validation: caller mistakes raise ValueError naming the problem and the rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis.data import site_period_means, validate

START = "2024-01-04"


def _obs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "site_id": [1, 1, 2, 2, 3, 3, 1, 2, 3],
            "date": [
                "2024-01-02",
                "2024-01-05",
                "2024-01-02",
                "2024-01-05",
                "2024-01-02",
                "2024-01-05",
                "2024-01-03",
                "2024-01-03",
                "2024-01-06",
            ],
            "metric": ["m"] * 9,
            "value": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1.5, 3.5, 7.0],
        }
    )


def _sites() -> pd.DataFrame:
    return pd.DataFrame({"site_id": ["1", "2", "3"], "arm": ["pilot", " Control", "control"]})


def test_clean_inputs_are_typed_and_normalised():
    obs = _obs()
    obs.loc[0, "date"] = "2024-01-02 13:45"
    clean, sites = validate(obs, _sites(), START)
    assert clean["site_id"].map(type).eq(str).all()
    assert clean["date"].dtype == "datetime64[ns]"
    assert (clean["date"] == clean["date"].dt.normalize()).all()
    assert clean["value"].dtype == float
    assert set(sites["arm"]) == {"pilot", "control"}
    assert len(clean) == len(obs)


def test_inputs_are_not_modified():
    obs, sites = _obs(), _sites()
    before = obs.copy()
    validate(obs, sites, START)
    pd.testing.assert_frame_equal(obs, before)


def test_integral_float_site_ids_match_string_ids():
    obs = _obs()
    obs["site_id"] = obs["site_id"].astype(float)
    clean, _ = validate(obs, _sites(), START)
    assert set(clean["site_id"]) == {"1", "2", "3"}


@pytest.mark.parametrize(
    ("drop", "message"),
    [("value", "observations is missing column"), ("date", "'date'")],
)
def test_missing_observation_column(drop, message):
    with pytest.raises(ValueError, match=message):
        validate(_obs().drop(columns=[drop]), _sites(), START)


def test_misnamed_site_column_is_named():
    sites = _sites().rename(columns={"arm": "group"})
    with pytest.raises(ValueError, match=r"sites is missing column\(s\) 'arm'.*found"):
        validate(_obs(), sites, START)


def test_duplicate_rows_name_the_key():
    obs = pd.concat([_obs(), _obs().iloc[[0]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"duplicate \(site_id, date, metric\).*'1', '2024-01-02'"):
        validate(obs, _sites(), START)


def test_site_missing_from_sites_is_named():
    obs = _obs()
    obs.loc[3, "site_id"] = 99
    with pytest.raises(ValueError, match=r"not listed in sites: '99'.*rows 3"):
        validate(obs, _sites(), START)


def test_unknown_arm_is_named():
    sites = _sites()
    sites.loc[2, "arm"] = "treatment"
    with pytest.raises(ValueError, match=r"unknown arm value\(s\) 'treatment' for site\(s\) '3'"):
        validate(_obs(), sites, START)


@pytest.mark.parametrize("arm", ["pilot", "control"])
def test_one_arm_missing(arm):
    sites = _sites()
    sites["arm"] = "control" if arm == "pilot" else "pilot"
    with pytest.raises(ValueError, match=f"no {arm} sites"):
        validate(_obs(), sites, START)


def test_no_pre_period_rows():
    with pytest.raises(ValueError, match="no pre-period rows.*earliest date is 2024-01-02"):
        validate(_obs(), _sites(), "2024-01-01")


def test_non_numeric_value_is_named():
    obs = _obs()
    obs["value"] = obs["value"].astype(object)
    obs.loc[4, "value"] = "n/a?"
    with pytest.raises(ValueError, match=r"non-numeric values in rows 4: 'n/a\?'"):
        validate(obs, _sites(), START)


def test_infinite_value_is_named():
    obs = _obs()
    obs.loc[5, "value"] = np.inf
    with pytest.raises(ValueError, match="infinite values in rows 5"):
        validate(obs, _sites(), START)


def test_blank_values_are_missing_rows_not_errors():
    obs = _obs()
    obs["value"] = obs["value"].astype(object)
    obs.loc[[1, 2], "value"] = ["", None]
    clean, _ = validate(obs, _sites(), START)
    assert len(clean) == len(obs) - 2


def test_unparseable_date_is_named():
    obs = _obs()
    obs.loc[6, "date"] = "yesterday-ish"
    with pytest.raises(ValueError, match=r"dates that do not parse in rows 6: 'yesterday-ish'"):
        validate(obs, _sites(), START)


def test_bad_start_and_reversed_end():
    with pytest.raises(ValueError, match="start 'soon' is not a date"):
        validate(_obs(), _sites(), "soon")
    with pytest.raises(ValueError, match="end 2024-01-01 is before start"):
        validate(_obs(), _sites(), START, "2024-01-01")


def test_rows_after_end_are_dropped():
    clean, _ = validate(_obs(), _sites(), START, "2024-01-05")
    assert clean["date"].max() == pd.Timestamp("2024-01-05")


def test_duplicate_site_in_sites():
    sites = pd.concat([_sites(), _sites().iloc[[0]]])
    with pytest.raises(ValueError, match="more than once: '1'"):
        validate(_obs(), sites, START)


def test_site_period_means_against_hand_computation():
    clean, sites = validate(_obs(), _sites(), START)
    means = site_period_means(clean, sites, START)
    # hand computation from _obs(): site 1 pre (1.0, 1.5), post 2.0; site 3 post (6, 7)
    assert list(means.index) == ["1", "2", "3"]
    assert_allclose(means["pre"].to_numpy(), [1.25, 3.25, 5.0], rtol=1e-12)
    assert_allclose(means["post"].to_numpy(), [2.0, 4.0, 6.5], rtol=1e-12)
    assert means["n_pre"].tolist() == [2, 2, 1]
    assert means["n_post"].tolist() == [1, 1, 2]
    assert means["arm"].tolist() == ["pilot", "control", "control"]


def test_site_period_means_rejects_several_metrics():
    obs = pd.concat([_obs(), _obs().assign(metric="other")])
    clean, sites = validate(obs, _sites(), START)
    with pytest.raises(ValueError, match="needs one metric"):
        site_period_means(clean, sites, START)
