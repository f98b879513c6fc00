"""The sites step designs the pilot: pool, matched pairs, random assignment (issue 19).

The demo registry checks the figures a change lead sees (balance, power on the default
dates); a small seeded registry checks the exact-region rule, swapping and one-click fixes.
"""

import re
from datetime import date, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ApiToken, Arm, Metric, MetricKind, Observation, PilotStatus, Role
from app.models.metric import key_from_name
from app.models.pilot import DesignMethod
from app.pilots import design_check
from tests.pilots.test_wizard import create_draft, propose


def smds(page: str) -> list[float]:
    return [float(x) for x in re.findall(r'data-testid="balance-smd">([0-9.]+)', page)]


def wizard_to_sites(client, pilot, metric, dates=None, min_effect="1"):
    client.post(
        f"/pilots/{pilot.id}/wizard/2",
        data={f"role_{metric.id}": "primary", f"effect_{metric.id}": min_effect, "alpha": "0.05"},
    )
    if dates is None:  # the dates step's defaults: 4 weeks before, 4 weeks of pilot
        page = client.get(f"/pilots/{pilot.id}/wizard/3").get_data(as_text=True)
        dates = dict(
            re.findall(r'name="(pre_start|start_date|end_date)"[^>]*value="([^"]*)"', page)
        )
    client.post(f"/pilots/{pilot.id}/wizard/3", data=dates)


# ---------------------------------------------------------------- the demo registry


@pytest.fixture
def demo(demo_chain):
    return db.session.scalar(select(Metric).where(Metric.key == "avg_wait_min"))


def test_the_default_proposal_on_the_demo_is_balanced_and_power_gives_a_number(client, auth, demo):
    auth.login(Role.CHANGE_LEAD)
    _, pilot = create_draft(client, "Table-side payment")
    wizard_to_sites(client, pilot, demo)
    page = propose(client, pilot, n_pilot=6, match_on=["region"]).get_data(as_text=True)
    db.session.refresh(pilot)
    # six pairs, each inside one region, the seed and the pairs stored with the design
    assert pilot.design_method is DesignMethod.PAIRED and pilot.design_seed == 0
    assert len(pilot.pairs) == 6
    for group in pilot.pairs:
        regions = {a.site.region for a in pilot.assignments if a.site.code in group}
        assert len(regions) == 1
    # the balance table: level, trend and every region share within 0.25 standard deviations
    assert 'data-testid="balance-table"' in page
    assert "Average wait before the start (average)" in page
    assert "Average wait before the start (trend per day)" in page
    values = smds(page)
    assert len(values) == 6 and max(values) <= 0.25
    shown = re.sub(r"<[^>]+>", " ", page)  # the words on the page, not the option values
    for hint in ("SMD", "size_tier", "select_controls", "avg_wait_min level"):
        assert hint not in shown
    # the number of pilot sites asked for stays in the form
    assert re.search(r'name="n_pilot"[^>]*value="6"', page)
    # power on the default dates: a minimum detectable effect, and advice instead of a refusal
    power = page[page.index('data-testid="power"') :]
    assert "Smallest effect detected with 80% power" in power
    assert "could not be estimated" not in page and "needs at least" not in page
    assert "more sites in all) would detect the minimum effect of 1 min" in power


def test_an_imbalance_is_explained_and_a_fix_is_one_click(client, auth, demo):
    auth.login(Role.CHANGE_LEAD)
    _, pilot = create_draft(client)
    dates = {"pre_start": "2026-10-26", "start_date": "2026-11-23", "end_date": "2026-12-20"}
    wizard_to_sites(client, pilot, demo, dates=dates)
    page = propose(client, pilot, n_pilot=6, match_on=["region", "size_tier"]).get_data(
        as_text=True
    )
    assert 'data-testid="design-issue"' in page
    assert "Average wait before the start (average) is unbalanced by the luck of the draw" in page
    assert page.count('data-testid="design-fix"') == 3
    assert "Use 4 pilot sites" in page and "Stop matching on Region" in page
    # one click: the proposal runs again with 4 pilot sites, and the table is balanced
    fixed = client.post(
        f"/pilots/{pilot.id}/wizard/4/fix",
        data={"fix-code": "fewer_pilots", "fix-value": "4"},
        follow_redirects=True,
    ).get_data(as_text=True)
    db.session.refresh(pilot)
    assert len(pilot.pairs) == 4 and pilot.design_settings["settings"]["n_pilot"] == 4
    assert 'data-testid="design-issue"' not in fixed and max(smds(fixed)) <= 0.25
    assert re.search(r'name="n_pilot"[^>]*value="4"', fixed)


# ---------------------------------------------------------------- a small seeded registry


@pytest.fixture
def registry(make_site, make_metric):
    """24 sites in 3 regions with 8 weeks of daily waits (levels spread, a weekly rhythm)."""
    rng = np.random.default_rng(5)
    wait = make_metric("wait", name="Wait", unit="min")
    start = date(2026, 12, 1)
    rows = []
    for i in range(24):
        site = make_site(
            code=f"S{i:02d}", region=("East", "North", "South")[i % 3], daily_orders=400 + 10 * i
        )
        level = rng.normal(12, 2)
        for d in range(56):
            value = level + 0.5 * np.sin(d / 7 * 2 * np.pi) + rng.normal(0, 0.4)
            rows.append(
                Observation(
                    site=site, metric=wait, date=start - timedelta(days=56 - d), value=value
                )
            )
    db.session.add_all(rows)
    db.session.commit()
    return wait, start


def test_pairs_never_span_two_regions_and_a_swap_changes_the_table(client, auth, registry):
    wait, start = registry
    auth.login(Role.CHANGE_LEAD)
    _, pilot = create_draft(client)
    dates = {
        "pre_start": (start - timedelta(days=28)).isoformat(),
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=27)).isoformat(),
    }
    wizard_to_sites(client, pilot, wait, dates)
    before = propose(client, pilot, n_pilot=4, max_volume_share=1, match_on=["region"])
    db.session.refresh(pilot)
    for group in pilot.pairs:
        assert len({a.site.region for a in pilot.assignments if a.site.code in group}) == 1
    assert all(a.reasons and a.pair for a in pilot.assignments)
    # swap inside a pair: its control site becomes the pilot site and the other way round
    control = next(a for a in pilot.assignments if a.arm is Arm.CONTROL)
    partner = next(a for a in pilot.assignments if a.pair == control.pair and a.arm is Arm.PILOT)
    after = client.post(
        f"/pilots/{pilot.id}/sites/swap",
        data={"swap-site_id": control.site_id},
        follow_redirects=True,
    )
    db.session.refresh(pilot)
    assert (control.arm, partner.arm) == (Arm.PILOT, Arm.CONTROL)
    assert len(pilot.pairs) == 4  # still whole pairs
    assert smds(after.get_data(as_text=True)) != smds(before.get_data(as_text=True))
    # the reasons say who moved them, and name the metric, never its key
    page = after.get_data(as_text=True)
    assert page.count("Moved to the pilot sites by the change lead.") == 1
    assert page.count("Moved to the control sites by the change lead.") == 1
    assert f"present: {wait.name}" in page and f"present: {wait.key}" not in page
    # the hand-picked route: controls matched to the lead's pilot sites, in their own region
    matched = propose(client, pilot, route="matched", n_pilot=4, match_on=["region"])
    assert matched.status_code == 200
    db.session.refresh(pilot)
    assert pilot.design_method is DesignMethod.MATCHED and pilot.pairs == []
    regions = {a.site.region for a in pilot.assignments if a.arm is Arm.PILOT}
    assert {a.site.region for a in pilot.assignments if a.arm is Arm.CONTROL} <= regions


def test_without_history_the_sites_are_drawn_at_random_within_strata(client, auth, make_site):
    for i in range(12):
        make_site(code=f"N{i:02d}", region=("East", "West")[i % 2])
    db.session.commit()
    auth.login(Role.CHANGE_LEAD)
    _, pilot = create_draft(client)
    page = propose(client, pilot, n_pilot=2).get_data(as_text=True)
    assert "no history of the problem metric" in page.replace("There is", "there is")
    propose(client, pilot, route="stratified", n_pilot=2)
    db.session.refresh(pilot)
    assert pilot.design_method is DesignMethod.STRATIFIED
    assert len(pilot.sites_in(Arm.PILOT)) == 2 and len(pilot.sites_in(Arm.CONTROL)) == 2


def test_a_fix_that_no_longer_applies_is_refused(client, auth):
    auth.login(Role.CHANGE_LEAD)
    _, pilot = create_draft(client)
    page = client.post(
        f"/pilots/{pilot.id}/wizard/4/fix",
        data={"fix-code": "fewer_pilots", "fix-value": "4"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "That fix no longer applies" in page
    assert design_check.fix_params("widen_pool", "pool_share:0.75") == {"pool_share": 0.75}
    with pytest.raises(ValueError):
        design_check.fix_params("widen_pool", "0.75")


# ---------------------------------------------------------------- a metric of the lead's own


def test_metric_keys_come_from_the_name_and_are_unique():
    name = "QR ordering adoption among customers 60+ (%)"
    assert key_from_name(name, set()) == "qr_ordering_adoption_among_customers_60"
    assert key_from_name(name, {"qr_ordering_adoption_among_customers_60"}).endswith("_2")
    assert key_from_name("老年顾客扫码点单率", set()) == "metric"
    assert key_from_name("60+ adoption", set()) == "m_60_adoption"


def test_a_metric_defined_in_the_wizard_flows_into_api_report_brief_and_gates(
    app, client, auth, make_pilot
):
    pilot = make_pilot(3, 3, status=PilotStatus.DRAFT)
    db.session.commit()
    auth.login(Role.CHANGE_LEAD)
    response = client.post(
        f"/pilots/{pilot.id}/metrics/new",
        data={
            "metric-name": "QR ordering adoption among customers 60+ (%)",
            "metric-name_zh": "60岁以上顾客扫码点单率",
            "metric-unit": "%",
            "metric-kind": "proportion",
            "metric-better_direction": "increase",
            "metric-min_value": "0",
            "metric-max_value": "100",
        },
    )
    assert response.status_code == 302
    metric = db.session.scalar(select(Metric).where(Metric.key.like("qr_ordering%")))
    assert (metric.unit, metric.kind) == ("%", MetricKind.PROPORTION)
    assert (metric.min_value, metric.max_value) == (0.0, 100.0)
    page = client.get(f"/pilots/{pilot.id}/wizard/2").get_data(as_text=True)
    assert "QR ordering adoption among customers 60+ (%)" in page
    # the same name twice is refused
    again = client.post(
        f"/pilots/{pilot.id}/metrics/new",
        data={
            "metric-name": metric.name,
            "metric-unit": "%",
            "metric-kind": "proportion",
            "metric-better_direction": "increase",
        },
        follow_redirects=True,
    )
    assert "exists already" in again.get_data(as_text=True)
    # chosen as a guardrail, its daily values sent through the API ...
    primary = pilot.primary_metric
    client.post(
        f"/pilots/{pilot.id}/wizard/2",
        data={
            f"role_{primary.id}": "primary",
            f"role_{metric.id}": "guardrail",
            f"margin_{metric.id}": "5",
            f"effect_{metric.id}": "5",
            "alpha": "0.05",
        },
    )
    row, raw = ApiToken.generate("POS")
    db.session.add(row)
    db.session.commit()
    rng = np.random.default_rng(3)
    rows = []
    for assignment in pilot.assignments:
        for offset in range(-28, 28):
            day = (pilot.start_date + timedelta(days=offset)).isoformat()
            for key, value in ((primary.key, rng.normal(10, 1)), (metric.key, rng.normal(30, 3))):
                rows.append(
                    {
                        "site": assignment.site.code,
                        "date": day,
                        "metric": key,
                        "value": float(value),
                    }
                )
    sent = client.post(
        "/api/v1/observations", json={"rows": rows}, headers={"Authorization": f"Bearer {raw}"}
    )
    assert sent.status_code == 200 and sent.get_json()["inserted"] == len(rows)
    # ... are in the report snapshot like any other metric
    from app.reports.snapshots import build_snapshot

    with app.test_request_context():
        snapshot = build_snapshot(pilot, {})
    assert metric.key in snapshot["results"]["comparison"]["metrics"]
    # ... in the daily retro brief, with its unit ...
    from app.retros.brief import daily_brief

    db.session.expire_all()
    brief = daily_brief(pilot, pilot.start_date + timedelta(days=3))
    line = next(m for m in brief.metrics.lines if m.key == metric.key)
    assert (line.unit, line.role) == ("%", "guardrail") and line.pilot is not None
    # ... and among the go/no-go criteria of a rollout plan
    from app.rollout.plans import GateSettings, gate_criteria

    guardrails = gate_criteria(pilot, GateSettings())["guardrails"]
    assert {"metric": metric.key, "unit": "%", "margin": 5.0}.items() <= guardrails[0].items()


def test_a_paired_pilot_is_analysed_with_its_pairs(app, make_pilot):
    pilot = make_pilot(3, 3)
    pilots = [a for a in pilot.assignments if a.arm is Arm.PILOT]
    controls = [a for a in pilot.assignments if a.arm is Arm.CONTROL]
    for number, (p, c) in enumerate(zip(pilots, controls, strict=True), start=1):
        p.pair = c.pair = number
    pilot.design_method = DesignMethod.PAIRED
    rng = np.random.default_rng(1)
    metric = pilot.primary_metric
    for assignment in pilot.assignments:
        for offset in range(-28, 28):
            treated = assignment.arm is Arm.PILOT and offset >= 0
            db.session.add(
                Observation(
                    site=assignment.site,
                    metric=metric,
                    date=pilot.start_date + timedelta(days=offset),
                    value=float(rng.normal(10, 1) - (1.5 if treated else 0)),
                )
            )
    db.session.commit()
    from app.reports.snapshots import build_snapshot

    with app.test_request_context():
        snapshot = build_snapshot(pilot, {})
    assert snapshot["parameters"]["compare"]["pairs"] == pilot.pairs
    comparison = snapshot["results"]["comparison"]
    assert comparison["parameters"]["pairs"] == 3
    # the permutation flips the assignment inside each pair: 2^3, not C(6, 3) = 20
    assert "all 8 assignments" in comparison["metrics"][metric.key]["method"]
