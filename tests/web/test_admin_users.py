from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Role, User


def _form(**overrides):
    data = {
        "email": "new.lead@example.com",
        "name": "New Lead",
        "role": "change_lead",
        "site_id": "0",
        "locale": "zh_CN",
        "password": "a-good-password",
        "is_active": "y",
    }
    data.update(overrides)
    return data


def test_admin_creates_an_account_that_can_log_in(client, auth):
    auth.login(Role.ADMIN)
    response = client.post("/admin/users/new", data=_form())
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "new.lead@example.com"))
    assert user.role is Role.CHANGE_LEAD and user.locale == "zh_CN"
    assert user.check_password("a-good-password")
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.created"))


def test_staff_account_without_site_is_refused_with_a_message(client, auth):
    auth.login(Role.ADMIN)
    response = client.post("/admin/users/new", data=_form(role="staff"))
    assert response.status_code == 200
    assert b"A staff account must be bound to a site." in response.data
    assert db.session.scalar(select(User).where(User.email == "new.lead@example.com")) is None


def test_duplicate_email_and_short_password_are_reported(client, auth, make_user):
    make_user(email="taken@example.com")
    auth.login(Role.ADMIN)
    response = client.post(
        "/admin/users/new", data=_form(email="taken@example.com", password="short")
    )
    assert response.status_code == 200
    assert b"Another account already uses this e-mail." in response.data
    assert b"Use at least 10 characters." in response.data


def test_admin_edits_role_and_site_binding(client, auth, make_user, make_site):
    site = make_site()
    user = make_user(Role.CHANGE_LEAD)
    auth.login(Role.ADMIN)
    response = client.post(
        f"/admin/users/{user.id}/edit",
        data=_form(email=user.email, role="staff", site_id=str(site.id), password=""),
    )
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.role is Role.STAFF and user.site_id == site.id


def test_admin_cannot_demote_themselves(client, auth):
    admin = auth.login(Role.ADMIN)
    response = client.post(
        f"/admin/users/{admin.id}/edit",
        data=_form(email=admin.email, role="analyst", password=""),
    )
    assert response.status_code == 200
    assert b"You cannot remove your own admin rights." in response.data
    db.session.refresh(admin)
    assert admin.role is Role.ADMIN


def test_unknown_user_gives_404(client, auth):
    auth.login(Role.ADMIN)
    assert client.get("/admin/users/9999/edit").status_code == 404
