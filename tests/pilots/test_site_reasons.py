"""Site-selection reasons: codes from ``analysis.selection``, sentences in the reader's language."""

from __future__ import annotations

import pytest

from analysis.selection import propose_pilot_sites, select_controls
from app.pilots.reasons import TEMPLATES, site_reason_text
from tests.analysis_design.helpers import selection_world


@pytest.fixture(scope="module")
def world():
    return selection_world()


def _all_reasons(sites, history):
    """Every kind of reason the selection can give (strata, problem, volume, both methods)."""
    out = []
    for stratify_by, metric in ((None, None), ("region", "wait"), (None, "wait")):
        proposal = propose_pilot_sites(
            sites, history, n=6, stratify_by=stratify_by, problem_metric=metric, seed=2
        )
        out += [r for rs in proposal.reason_details.values() for r in rs]
        for method in ("matched", "stratified_random"):
            controls = select_controls(
                sites,
                list(proposal.site_ids),
                None,
                method=method,
                n=8,
                match_on=["region", "size"],
                seed=3,
            )
            out += [r for rs in controls.reason_details.values() for r in rs]
        assert all(
            tuple(r.text for r in proposal.reason_details[s]) == proposal.reasons[s]
            for s in proposal.site_ids
        )
    return out


def test_every_reason_the_selection_gives_has_a_translated_sentence(app, world):
    reasons = _all_reasons(*world)
    codes = {r.code for r in reasons}
    assert codes >= {
        "problem_rank",
        "random_order",
        "nearest_match",
        "match_detail",
        "drawn_in_stratum",
        "best_draw",
        "stratum_share",
        "volume_share",
    }
    known = set(TEMPLATES) | {"problem_rank"}
    assert codes <= known, codes - known
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        for reason in reasons:
            sentence = site_reason_text(reason.to_dict())
            assert sentence and sentence != reason.text, reason  # rendered, not the fallback
            assert "%(" not in sentence


def test_a_problem_rank_reads_as_the_analysis_wrote_it_in_english(app, world):
    sites, history = world
    proposal = propose_pilot_sites(
        sites, history, n=4, stratify_by=None, problem_metric="wait", seed=1
    )
    reason = proposal.reason_details[proposal.site_ids[0]][0]
    with app.test_request_context(headers={"Accept-Language": "en"}):
        sentence = site_reason_text(reason.to_dict())
    params = reason.params
    assert sentence.startswith(f"wait {params['value']:.3g}: rank {params['rank']} of ")
    assert f"(highest {params['top']}%)" in sentence and "among all sites" in sentence


def test_plain_strings_and_unknown_codes_are_shown_as_written(app):
    with app.test_request_context():
        assert site_reason_text("picked by the regional manager") == (
            "picked by the regional manager"
        )
        unknown = {"code": "from_the_future", "params": {}, "text": "a newer reason"}
        assert site_reason_text(unknown) == "a newer reason"
