"""The design wizard: drafts resume at any step, and the selection is judged as it changes."""

from datetime import date, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Arm, Metric, MetricRole, Observation, Pilot, PilotStatus, Role, Site


def create_draft(client, name="Self-ordering"):
    response = client.post(
        "/pilots/new",
        data={"name": name, "hypothesis": "Waits fall by 2 min", "next": "y"},
    )
    pilot = db.session.scalar(select(Pilot).where(Pilot.name == name))
    return response, pilot


def test_a_change_lead_creates_a_draft_and_resumes_where_they_left(client, auth):
    lead = auth.login(Role.CHANGE_LEAD)
    response, pilot = create_draft(client)
    assert response.headers["Location"].endswith(f"/pilots/{pilot.id}/wizard/2")
    assert (pilot.status, pilot.owner_id, pilot.wizard_step) == (PilotStatus.DRAFT, lead.id, 2)
    page = client.get(f"/pilots/{pilot.id}").get_data(as_text=True)
    assert "Continue the design wizard at step 2" in page


def test_metrics_need_one_primary_and_a_margin_for_each_guardrail(client, auth, make_metric):
    wait, ticket = make_metric("wait"), make_metric("ticket")
    auth.login(Role.CHANGE_LEAD)
    _, pilot = create_draft(client)
    url = f"/pilots/{pilot.id}/wizard/2"
    no_margin = {f"role_{wait.id}": "primary", f"role_{ticket.id}": "guardrail", "alpha": "0.05"}
    page = client.post(url, data=no_margin, follow_redirects=True).get_data(as_text=True)
    assert "non-inferiority margin" in page
    assert pilot.metric_links == []
    data = {**no_margin, f"margin_{ticket.id}": "3", "min_effect": "2", "save": "y"}
    assert client.post(url, data=data).status_code == 302
    db.session.refresh(pilot)
    roles = {lk.metric.key: (lk.role, lk.margin) for lk in pilot.metric_links}
    assert roles == {"wait": (MetricRole.PRIMARY, None), "ticket": (MetricRole.GUARDRAIL, 3.0)}
    assert pilot.min_effect == 2.0


def test_dates_must_be_in_order(client, auth):
    auth.login(Role.CHANGE_LEAD)
    _, pilot = create_draft(client)
    data = {"pre_start": "2026-12-10", "start_date": "2026-12-01", "end_date": "2026-12-31"}
    page = client.post(f"/pilots/{pilot.id}/wizard/3", data=data, follow_redirects=True)
    assert "pre-period must start before" in page.get_data(as_text=True)
    assert pilot.start_date is None


PAIRED = {
    "route": "paired",
    "ratio": "1",
    "problem_metric": "",
    "problem_direction": "high",
    "pool_share": "0.5",
    "max_volume_share": "0.15",
    "stratify_by": "region",
    "seed": "0",
}


def propose(client, pilot, follow=True, **fields):
    """POST the sites step's proposal: the paired route with ``fields`` changed."""
    data = {**PAIRED, **{k: str(v) if not isinstance(v, list) else v for k, v in fields.items()}}
    url = f"/pilots/{pilot.id}/wizard/4/propose"
    return client.post(url, data=data, follow_redirects=follow)


def seed_history(make_site, metric: Metric, start: date, days=56, n=16):
    """n sites in two regions with daily values; site i waits about 10 + i minutes."""
    sites = [
        make_site(code=f"H{i:02d}", region="East" if i % 2 else "West", daily_orders=100 + i)
        for i in range(n)
    ]
    for site_number, site in enumerate(sites):
        for d in range(days):
            day = start - timedelta(days=days - d)
            value = 10 + site_number + (d % 7) * 0.3 + ((site_number * 7 + d * 3) % 5) * 0.2
            db.session.add(Observation(site=site, metric=metric, date=day, value=value))
    db.session.flush()
    return sites


def configure(client, pilot, metric, start):
    client.post(
        f"/pilots/{pilot.id}/wizard/2",
        data={f"role_{metric.id}": "primary", "alpha": "0.05", "min_effect": "0.5"},
    )
    client.post(
        f"/pilots/{pilot.id}/wizard/3",
        data={
            "pre_start": (start - timedelta(days=28)).isoformat(),
            "start_date": start.isoformat(),
            "end_date": (start + timedelta(days=27)).isoformat(),
        },
    )


def test_proposed_sites_carry_reasons_and_the_page_shows_balance_and_power(
    client, auth, make_site, make_metric
):
    wait = make_metric("wait")
    start = date(2026, 12, 1)
    seed_history(make_site, wait, start)
    auth.login(Role.CHANGE_LEAD)
    _, pilot = create_draft(client)
    configure(client, pilot, wait, start)
    response = propose(
        client,
        pilot,
        n_pilot=4,
        problem_metric="wait",
        max_volume_share=0.5,
        match_on=["region"],
        seed=1,
        follow=False,
    )
    assert response.status_code == 302
    db.session.refresh(pilot)
    pilots = [a for a in pilot.assignments if a.arm is Arm.PILOT]
    controls = [a for a in pilot.assignments if a.arm is Arm.CONTROL]
    assert len(pilots) == 4 and len(controls) == 4  # pairs: one control per pilot site
    assert all(a.reasons for a in pilot.assignments)
    # "problem clearly present": pilot and control sites both come from the longest waits
    assert {a.site.code for a in pilot.assignments} <= {f"H{i:02d}" for i in range(8, 16)}
    page = client.get(f"/pilots/{pilot.id}/wizard/4").get_data(as_text=True)
    assert 'data-testid="balance-table"' in page and 'data-testid="power"' in page
    # the reasons are stored with codes and shown in the reader's language
    first = pilots[0]
    assert [r["code"] for r in first.reasons] == ["pool_member", "pair_member"]
    assert "drawn at random as the pilot site" in first.reasons[1]["text"]
    auth.user.locale = "zh_CN"
    db.session.commit()
    zh = client.get(f"/pilots/{pilot.id}/wizard/4").get_data(as_text=True)
    assert "drawn at random as the" not in zh


def test_sites_can_be_added_and_removed_by_hand(client, auth, make_site):
    site = make_site()
    auth.login(Role.CHANGE_LEAD)
    _, pilot = create_draft(client)
    client.post(
        f"/pilots/{pilot.id}/sites/add", data={"add-site_id": site.id, "add-arm": "control"}
    )
    db.session.refresh(pilot)
    assert [(a.site_id, a.arm) for a in pilot.assignments] == [(site.id, Arm.CONTROL)]
    client.post(f"/pilots/{pilot.id}/sites/remove", data={"remove-site_id": site.id})
    db.session.refresh(pilot)
    assert pilot.assignments == []


def test_the_review_lists_what_blocks_the_start(client, auth):
    auth.login(Role.CHANGE_LEAD)
    _, pilot = create_draft(client)
    page = client.get(f"/pilots/{pilot.id}/wizard/5").get_data(as_text=True)
    assert "Choose a primary metric" in page and "Choose at least 2 pilot sites" in page
    client.post(f"/pilots/{pilot.id}/start", data={})
    db.session.refresh(pilot)
    assert pilot.status is PilotStatus.DRAFT and pilot.design_locked_at is None


def test_a_staff_user_cannot_change_a_design(client, auth, make_pilot):
    pilot = make_pilot()
    staff_site = db.session.get(Site, pilot.assignments[0].site_id)
    auth.login(Role.STAFF, site=staff_site)
    data = {"pre_start": "2026-01-01", "start_date": "2026-02-01", "end_date": "2026-03-01"}
    assert client.post(f"/pilots/{pilot.id}/wizard/3", data=data).status_code == 403
    assert client.get(f"/pilots/{pilot.id}/wizard/4").status_code == 403
    db.session.refresh(pilot)
    assert pilot.start_date == date(2026, 10, 1)
    page = client.get(f"/pilots/{pilot.id}").get_data(as_text=True)
    # the dashboard shows staff their own site only, and no design
    assert staff_site.code in page
    assert 'data-testid="pilot-metrics"' not in page
    assert pilot.assignments[-1].site.code not in page


def test_an_infinite_margin_is_refused(client, auth, make_metric):
    wait, ticket = make_metric("wait"), make_metric("ticket")
    auth.login(Role.CHANGE_LEAD)
    _, pilot = create_draft(client)
    data = {f"role_{wait.id}": "primary", f"role_{ticket.id}": "guardrail",
            f"margin_{ticket.id}": "inf", "alpha": "0.05"}  # fmt: skip
    page = client.post(f"/pilots/{pilot.id}/wizard/2", data=data).get_data(as_text=True)
    assert "use a positive number" in page and pilot.metric_links == []


def test_an_engine_failure_leaves_the_sites_step_usable(client, auth, monkeypatch):
    from app.pilots import design_check

    def broken(pilot):
        raise ZeroDivisionError("engine bug")

    monkeypatch.setattr(design_check, "_check_design", broken)
    auth.login(Role.CHANGE_LEAD)
    _, pilot = create_draft(client)
    response = client.get(f"/pilots/{pilot.id}/wizard/4")
    assert response.status_code == 200
    assert "could not be computed" in response.get_data(as_text=True)
