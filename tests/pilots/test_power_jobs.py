"""Power by simulation on the wizard's sites and review steps runs as a background job
(app/pilots/power_jobs.py): its states, its numbers against ``design_power`` called inline,
the page showing its progress and then its result, the reuse of a finished simulation, and
who may start and follow it."""

from __future__ import annotations

from datetime import date

import pytest
from markupsafe import escape

from analysis.design_power import design_power
from app.core import jobs as core_jobs
from app.extensions import db
from app.models import Arm, Job, JobStatus, Observation, Role
from app.pilots import power_jobs
from app.pilots import proposal as pilot_design
from tests.pilots.test_wizard import configure, create_draft, propose, seed_history

START = date(2026, 12, 1)
PROPOSE = {"n_pilot": 4, "problem_metric": "wait", "max_volume_share": 0.5,
           "match_on": ["region"], "seed": 1}  # fmt: skip


@pytest.fixture
def proposed(client, auth, make_site, make_metric):
    """A change lead's draft with 16 sites of history and a proposed paired design."""
    wait = make_metric("wait")
    seed_history(make_site, wait, START)
    lead = auth.login(Role.CHANGE_LEAD)
    _, pilot = create_draft(client)
    configure(client, pilot, wait, START)
    propose(client, pilot, follow=False, **PROPOSE)
    db.session.refresh(pilot)
    assert len(pilot.pairs) == 4
    return lead, pilot


@pytest.fixture
def parked(app):
    """A runner that only queues: the test runs the job itself (``core_jobs.execute``)."""
    runner = type("Parked", (), {"name": "parked", "submit": lambda self, job_id: None})()
    app.extensions["job_runner"] = runner
    yield runner
    app.extensions.pop("job_runner", None)


def _power_jobs() -> list[Job]:
    db.session.expire_all()
    return list(
        db.session.scalars(db.select(Job).where(Job.kind == power_jobs.KIND).order_by(Job.id))
    )


def _inline_power(pilot):
    """What the wizard computed inline before the job: the same call, written out."""
    return design_power(
        pilot_design.long_history(pilot, "wait"),
        pilot_design.stored_design(pilot),
        n_pilot=None,
        n_control=None,
        pre_days=28,
        post_days=28,
        metric="wait",
        min_effect=0.5,
        alpha=0.05,
        power=0.8,
        registry=pilot_design.registry(),
        n_sims=2000,
        seed=pilot.design_seed or 0,
    )


def test_power_runs_as_a_job_with_the_inline_numbers_and_is_reused(client, proposed):
    lead, pilot = proposed
    page = client.get(f"/pilots/{pilot.id}/wizard/4").get_data(as_text=True)
    [job] = _power_jobs()
    assert (job.status, job.pilot_id, job.created_by_id) == (JobStatus.DONE, pilot.id, lead.id)
    assert job.result["power"] == _inline_power(pilot).to_dict()  # same seed, same numbers
    assert job.result["power"]["paired"] and job.result["power"]["n_pilot"] == 4
    assert 'data-testid="power"' in page and 'data-testid="job-progress"' not in page
    assert "Smallest effect detected with 80% power" in page
    # the result read back from the job is the result
    again = power_jobs.power_from_dict(job.result["power"])
    assert again.to_dict() == job.result["power"] and again.advice == _inline_power(pilot).advice
    # viewing again, or the review step, reuses the finished simulation
    client.get(f"/pilots/{pilot.id}/wizard/4")
    review = client.get(f"/pilots/{pilot.id}/wizard/5").get_data(as_text=True)
    assert 'data-testid="power"' in review and [j.id for j in _power_jobs()] == [job.id]
    # a change of the selection starts a new simulation
    site_id = next(a.site_id for a in pilot.assignments if a.arm is Arm.CONTROL)
    client.post(f"/pilots/{pilot.id}/sites/remove", data={"remove-site_id": site_id})
    client.get(f"/pilots/{pilot.id}/wizard/4")
    first, second = _power_jobs()
    assert second.arguments["key"] != first.arguments["key"]
    assert second.status is JobStatus.DONE


def test_the_key_follows_what_power_depends_on(client, proposed):
    _, pilot = proposed
    inputs = power_jobs.power_inputs(pilot)
    assert inputs.key() == power_jobs.power_inputs(pilot).key()
    pilot.alpha = 0.1
    assert power_jobs.power_inputs(pilot).key() != inputs.key()
    pilot.alpha = 0.05
    pilot.min_effect = 1.0
    assert power_jobs.power_inputs(pilot).key() != inputs.key()


def test_the_page_shows_the_progress_then_the_result(client, proposed, parked, monkeypatch):
    _, pilot = proposed
    page = client.get(f"/pilots/{pilot.id}/wizard/5").get_data(as_text=True)
    [job] = _power_jobs()
    assert job.status is JobStatus.QUEUED and job.arguments["step"] == 5
    assert 'data-testid="job-progress"' in page and 'data-job-swap="#design-power"' in page
    assert f'data-job-swap-from="/pilots/{pilot.id}/wizard/5"' in page
    assert 'id="design-power"' in page and 'data-testid="power"' not in page
    assert client.get(f"/jobs/{job.id}").get_json()["status"] == "queued"
    # the sites step shows the same job rather than starting another
    sites = client.get(f"/pilots/{pilot.id}/wizard/4").get_data(as_text=True)
    assert f'data-job-status-url="/jobs/{job.id}"' in sites and len(_power_jobs()) == 1
    seen = []

    def watched(*args, **kwargs):
        status = client.get(f"/jobs/{job.id}").get_json()
        seen.append((status["status"], status["percent"], status["message"]))
        return design_power(*args, **kwargs)

    monkeypatch.setattr(power_jobs, "design_power", watched)
    assert core_jobs.execute(job.id) is JobStatus.DONE
    assert seen == [("running", 40, "simulating placebo pilots")]
    status = client.get(f"/jobs/{job.id}").get_json()
    assert (status["status"], status["percent"]) == ("done", 100)
    assert status["result_url"] == f"/pilots/{pilot.id}/wizard/5"
    page = client.get(f"/pilots/{pilot.id}/wizard/5").get_data(as_text=True)
    assert 'data-testid="power"' in page and 'data-testid="job-progress"' not in page
    assert len(_power_jobs()) == 1


def test_a_failed_simulation_says_so_and_starts_again_on_request(client, proposed, monkeypatch):
    _, pilot = proposed

    def broken(*args, **kwargs):
        raise ZeroDivisionError("engine bug")

    monkeypatch.setattr(power_jobs, "design_power", broken)
    page = client.get(f"/pilots/{pilot.id}/wizard/4").get_data(as_text=True)
    [job] = _power_jobs()
    assert job.status is JobStatus.FAILED and job.message == power_jobs.ENGINE_FAILED
    assert 'data-job-status="failed"' in page and str(escape(power_jobs.ENGINE_FAILED)) in page
    assert "engine bug" not in page and 'data-testid="power-again"' in page
    # the balance is still there: the page stays usable
    assert 'data-testid="balance-table"' in page
    client.get(f"/pilots/{pilot.id}/wizard/4")
    assert len(_power_jobs()) == 1  # shown, not retried on every view
    monkeypatch.undo()
    page = client.get(f"/pilots/{pilot.id}/wizard/4?power=again").get_data(as_text=True)
    assert [j.status for j in _power_jobs()] == [JobStatus.FAILED, JobStatus.DONE]
    assert 'data-testid="power"' in page


def test_a_job_for_a_selection_changed_meanwhile_fails_in_words(client, proposed, parked):
    _, pilot = proposed
    client.get(f"/pilots/{pilot.id}/wizard/4")
    [job] = _power_jobs()
    site_id = next(a.site_id for a in pilot.assignments if a.arm is Arm.CONTROL)
    client.post(f"/pilots/{pilot.id}/sites/remove", data={"remove-site_id": site_id})
    assert core_jobs.execute(job.id) is JobStatus.FAILED
    assert _power_jobs()[0].message.startswith("The selection changed")


def test_without_history_the_job_says_power_cannot_be_simulated(client, proposed):
    _, pilot = proposed
    db.session.execute(db.delete(Observation))
    db.session.commit()
    page = client.get(f"/pilots/{pilot.id}/wizard/4").get_data(as_text=True)
    [job] = _power_jobs()
    assert job.status is JobStatus.DONE and job.result["power"] is None
    assert "power cannot be simulated" in page and 'data-testid="power"' not in page


def test_power_text_is_translated(client, auth, proposed, parked):
    _, pilot = proposed
    auth.user.locale = "zh_CN"
    db.session.commit()
    queued = client.get(f"/pilots/{pilot.id}/wizard/4").get_data(as_text=True)
    assert "Simulating power" not in queued and "正在模拟统计功效" in queued
    [job] = _power_jobs()
    assert core_jobs.execute(job.id) is JobStatus.DONE
    done = client.get(f"/pilots/{pilot.id}/wizard/4").get_data(as_text=True)
    assert "Smallest effect detected" not in done and 'data-testid="power"' in done


@pytest.mark.parametrize("role", [Role.STAFF, Role.ANALYST])
def test_only_editors_see_the_steps_or_start_a_simulation(client, auth, proposed, role):
    _, pilot = proposed
    auth.logout()
    auth.login(role)
    for step in (4, 5):
        assert client.get(f"/pilots/{pilot.id}/wizard/{step}").status_code == 403
    assert _power_jobs() == []


def test_another_lead_reuses_a_finished_job_and_follows_only_their_own(
    client, auth, proposed, parked
):
    _, pilot = proposed
    client.get(f"/pilots/{pilot.id}/wizard/4")
    [owners] = _power_jobs()
    auth.logout()
    auth.login(Role.CHANGE_LEAD)  # another change lead: may edit, may not read the owner's job
    assert client.get(f"/jobs/{owners.id}").status_code == 404
    page = client.get(f"/pilots/{pilot.id}/wizard/4").get_data(as_text=True)
    owners_job, theirs = _power_jobs()
    assert theirs.created_by_id == auth.user.id and theirs.status is JobStatus.QUEUED
    assert f'data-job-status-url="/jobs/{theirs.id}"' in page
    assert client.get(f"/jobs/{theirs.id}").status_code == 200
    # once one is done, everyone who may edit the pilot sees its result; none starts again
    assert core_jobs.execute(owners.id) is JobStatus.DONE
    page = client.get(f"/pilots/{pilot.id}/wizard/4").get_data(as_text=True)
    assert 'data-testid="power"' in page and len(_power_jobs()) == 2
    auth.logout()
    auth.login(Role.ADMIN)
    assert client.get(f"/pilots/{pilot.id}/wizard/5").status_code == 200
    assert client.get(f"/jobs/{owners.id}").status_code == 200 and len(_power_jobs()) == 2
