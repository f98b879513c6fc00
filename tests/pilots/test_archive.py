"""Archiving any pilot (hidden from the list, read-only, restorable) and deleting a draft."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.feedback import questionnaires
from app.models import AuditEvent, FeedbackForm, FormLink, Pilot, PilotStatus, Role


def _count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def test_an_archived_pilot_leaves_the_list_until_the_filter_shows_it(client, auth, make_pilot):
    auth.login(Role.CHANGE_LEAD)
    kept = make_pilot(name="Kiosks")
    gone = make_pilot(name="Queue tickets")
    db.session.commit()
    archived = client.post(f"/pilots/{gone.id}/archive", follow_redirects=True)
    assert "hidden from the list, read-only" in archived.get_data(as_text=True)

    listed = client.get("/").get_data(as_text=True)
    assert kept.name in listed and gone.name not in listed
    assert "Show archived pilots" in listed
    with_archived = client.get("/?archived=1").get_data(as_text=True)
    assert kept.name in with_archived and gone.name in with_archived
    assert "Archived" in with_archived and "Hide archived pilots" in with_archived

    db.session.refresh(gone)
    assert gone.is_archived and gone.status is PilotStatus.RUNNING  # the status is kept
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.pilot_id == gone.id))
    assert "pilot.archived" in list(actions)


def test_an_archived_pilot_is_read_only_and_can_be_restored(client, auth, make_pilot):
    auth.login(Role.ADMIN)
    pilot = make_pilot()
    db.session.commit()
    client.post(f"/pilots/{pilot.id}/archive")

    page = client.get(f"/pilots/{pilot.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-testid="pilot-archived"' in html and "Restore from the archive" in html
    assert "Continue design" not in html and "Amend design" not in html
    for url in (
        f"/pilots/{pilot.id}/wizard/1",
        f"/pilots/{pilot.id}/data/import",
        f"/feedback/pilots/{pilot.id}/setup",
        f"/retros/pilot/{pilot.id}/open",
        f"/rollout/pilots/{pilot.id}/new",
    ):
        method = client.get if "wizard" in url or "import" in url else client.post
        assert method(url).status_code == 403, url

    assert client.post(f"/pilots/{pilot.id}/restore").status_code == 302
    assert client.get(f"/pilots/{pilot.id}/wizard/1").status_code == 200
    assert pilot.name in client.get("/").get_data(as_text=True)


def test_a_draft_is_deleted_after_a_confirmation_with_its_set_up(client, auth, make_pilot):
    lead = auth.login(Role.CHANGE_LEAD)
    draft = make_pilot(status=PilotStatus.DRAFT, owner_id=lead.id, name="Half-designed")
    questionnaires.ensure_forms(draft)
    questionnaires.ensure_links(draft)
    db.session.commit()
    draft_id = draft.id
    assert "Delete the draft" in client.get(f"/pilots/{draft_id}").get_data(as_text=True)

    confirm = client.get(f"/pilots/{draft_id}/delete")
    assert confirm.status_code == 200 and "Half-designed" in confirm.get_data(as_text=True)
    unticked = client.post(f"/pilots/{draft_id}/delete", data={})
    assert unticked.status_code == 200
    assert "Tick the box to confirm the deletion." in unticked.get_data(as_text=True)
    assert db.session.get(Pilot, draft_id) is not None

    done = client.post(f"/pilots/{draft_id}/delete", data={"confirm": "y"})
    assert done.status_code == 302 and done.location.endswith("/")
    assert db.session.get(Pilot, draft_id) is None
    assert _count(FeedbackForm) == 0 and _count(FormLink) == 0
    deleted = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "pilot.deleted"))
    event = deleted.one()  # the deletion outlives the pilot's own audit trail
    assert event.before == {"name": "Half-designed", "id": draft_id} and event.user_id == lead.id


def test_only_admins_and_the_owning_lead_delete_and_only_drafts(
    client, auth, make_pilot, make_user
):
    owner = make_user(Role.CHANGE_LEAD)
    draft = make_pilot(status=PilotStatus.DRAFT, owner_id=owner.id)
    running = make_pilot(owner_id=owner.id)
    db.session.commit()

    auth.login(Role.CHANGE_LEAD)  # another lead
    assert client.get(f"/pilots/{draft.id}/delete").status_code == 403
    assert client.post(f"/pilots/{draft.id}/delete", data={"confirm": "y"}).status_code == 403
    assert "Delete the draft" not in client.get(f"/pilots/{draft.id}").get_data(as_text=True)
    auth.logout()

    auth.login(Role.CHANGE_LEAD, user=owner)
    assert client.post(f"/pilots/{running.id}/delete", data={"confirm": "y"}).status_code == 403
    auth.logout()
    auth.login(Role.ADMIN)
    assert client.post(f"/pilots/{running.id}/delete", data={"confirm": "y"}).status_code == 403
    assert client.post(f"/pilots/{draft.id}/delete", data={"confirm": "y"}).status_code == 302
    assert _count(Pilot) == 1


def test_analysts_and_staff_cannot_archive(client, auth, make_pilot):
    pilot = make_pilot()
    db.session.commit()
    for role in (Role.ANALYST, Role.STAFF):
        auth.login(role)
        assert client.post(f"/pilots/{pilot.id}/archive").status_code == 403
        auth.logout()
    db.session.refresh(pilot)
    assert not pilot.is_archived
