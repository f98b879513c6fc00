"""Sign-ins that end: logout, password change, disabling and "sign out everywhere" end every
session and remember-me token at once; remember-me tokens are random, hashed and rotated."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_login.utils import encode_cookie
from sqlalchemy import select

from app.auth.loader import REMEMBER_COOKIE
from app.core import clock
from app.extensions import db
from app.models import ApiToken, AuditEvent, Role, User
from app.models.user import UserSession, sha256_hex
from tests.conftest import PASSWORD


def _sign_in(app, user, *, remember: bool = False):
    """A fresh browser signed in as ``user``."""
    browser = app.test_client()
    data = {"email": user.email, "password": PASSWORD}
    if remember:
        data["remember"] = "y"
    assert browser.post("/auth/login", data=data).status_code == 302
    return browser


def _copy_of(app, browser, *names: str):
    """Another browser holding copies of ``browser``'s cookies (a stolen cookie)."""
    thief = app.test_client()
    for name in names:
        cookie = browser.get_cookie(name)
        assert cookie is not None, name
        thief.set_cookie(name, cookie.value)
    return thief


def _signed_in(browser) -> bool:
    response = browser.get("/")
    return response.status_code == 200


def _admin_saves(app, user, by=None, **changes):
    """An admin (a new browser, or ``by``) saves ``user``'s account form with ``changes``."""
    admin = by or _sign_in(app, _admin(app))
    data = {
        "email": user.email,
        "name": user.name,
        "role": user.role.value,
        "site_id": "0",
        "locale": "",
        "password": "",
        "is_active": "y",
        **changes,
    }
    if not data["is_active"]:
        del data["is_active"]
    assert admin.post(f"/admin/users/{user.id}/edit", data=data).status_code == 302
    return admin


def _admin(app):
    admin = db.session.scalar(select(User).where(User.email == "the.admin@example.com"))
    if admin is None:
        admin = User(email="the.admin@example.com", name="Admin", role=Role.ADMIN)
        admin.set_password(PASSWORD)
        db.session.add(admin)
        db.session.commit()
    return admin


def test_a_copied_session_cookie_opens_nothing_after_logout(app, make_user):
    user = make_user(Role.ANALYST)
    db.session.commit()
    browser = _sign_in(app, user)
    thief = _copy_of(app, browser, "session")
    assert _signed_in(thief)  # the copy works while the sign-in lasts
    browser.post("/auth/logout")
    response = thief.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")
    assert thief.get("/sites/").status_code == 302


def test_the_session_cookie_carries_a_random_session_id_stored_hashed(app, make_user):
    user = make_user(Role.ANALYST)
    db.session.commit()
    _sign_in(app, user)
    _sign_in(app, user)
    rows = db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)).all()
    assert len(rows) == 2  # one row per browser
    assert len({row.token_hash for row in rows}) == 2
    assert all(len(row.token_hash) == 64 for row in rows)


def test_logout_ends_only_this_browser(app, make_user):
    user = make_user(Role.ANALYST)
    db.session.commit()
    laptop, phone = _sign_in(app, user), _sign_in(app, user)
    laptop.post("/auth/logout")
    assert not _signed_in(laptop)
    assert _signed_in(phone)


@pytest.mark.parametrize(
    "change", [{"password": "a-brand-new-password"}, {"is_active": ""}], ids=["password", "disable"]
)
def test_a_password_change_or_disabling_ends_every_session_and_remember_token(
    app, make_user, change
):
    user = make_user(Role.CHANGE_LEAD)
    db.session.commit()
    laptop, phone = _sign_in(app, user), _sign_in(app, user, remember=True)
    remembered = _copy_of(app, phone, REMEMBER_COOKIE)
    _admin_saves(app, user, **change)
    for browser in (laptop, phone, remembered):
        assert not _signed_in(browser)
    assert db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)).all() == []


def test_the_new_password_signs_in(app, make_user):
    user = make_user(Role.ANALYST)
    db.session.commit()
    _admin_saves(app, user, password="a-brand-new-password")
    browser = app.test_client()
    data = {"email": user.email, "password": "a-brand-new-password"}
    assert browser.post("/auth/login", data=data).status_code == 302


def test_changing_your_own_password_keeps_this_session_and_ends_the_others(app):
    admin = _admin(app)
    here, elsewhere = _sign_in(app, admin), _sign_in(app, admin)
    _admin_saves(app, admin, by=here, role="admin", password="my-own-new-password")
    assert _signed_in(here)
    assert not _signed_in(elsewhere)


def test_sign_out_everywhere_ends_every_session_and_remember_token(app, make_user):
    user = make_user(Role.ANALYST)
    db.session.commit()
    laptop, phone = _sign_in(app, user), _sign_in(app, user, remember=True)
    remembered = _copy_of(app, phone, REMEMBER_COOKIE)
    admin = _sign_in(app, _admin(app))
    page = admin.get(f"/admin/users/{user.id}/edit").get_data(as_text=True)
    assert "Signed in on 2 browsers or devices." in page
    assert "Sign out everywhere" in page
    response = admin.post(f"/admin/users/{user.id}/sign-out", follow_redirects=True)
    assert "signed out everywhere (2 sign-ins ended)" in response.get_data(as_text=True)
    for browser in (laptop, phone, remembered):
        assert not _signed_in(browser)
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "user.signed_out_everywhere")
    )
    assert event is not None and event.entity_id == user.id
    assert _signed_in(admin)  # the admin's own sign-in is not touched


def test_sign_out_everywhere_is_for_admins_only(app, make_user):
    user = make_user(Role.ANALYST)
    db.session.commit()
    browser = _sign_in(app, user)
    assert browser.post(f"/admin/users/{user.id}/sign-out").status_code == 403
    assert _signed_in(browser)


def test_remember_me_token_rotates_at_each_use_and_an_old_one_opens_nothing(app, make_user):
    user = make_user(Role.ANALYST)
    db.session.commit()
    browser = _sign_in(app, user, remember=True)
    first = browser.get_cookie(REMEMBER_COOKIE).value
    row = db.session.scalar(select(UserSession).where(UserSession.user_id == user.id))
    assert row.remember_hash == sha256_hex(first)  # stored hashed, never in clear
    assert first not in (row.remember_hash, str(user.id))

    closed_and_reopened = _copy_of(app, browser, REMEMBER_COOKIE)  # no session cookie
    assert _signed_in(closed_and_reopened)
    second = closed_and_reopened.get_cookie(REMEMBER_COOKIE).value
    assert second != first
    assert _signed_in(closed_and_reopened)  # the new session holds without another rotation
    assert closed_and_reopened.get_cookie(REMEMBER_COOKIE).value == second

    replay = app.test_client()
    replay.set_cookie(REMEMBER_COOKIE, first)
    assert not _signed_in(replay)
    assert replay.get_cookie(REMEMBER_COOKIE) is None  # the dead token is deleted


def test_remember_token_dies_on_logout(app, make_user):
    user = make_user(Role.ANALYST)
    db.session.commit()
    browser = _sign_in(app, user, remember=True)
    stolen = _copy_of(app, browser, REMEMBER_COOKIE)
    response = browser.post("/auth/logout")
    assert f"{REMEMBER_COOKIE}=;" in ";".join(response.headers.getlist("Set-Cookie"))
    assert not _signed_in(stolen)


def test_remember_cookie_is_httponly_samesite_lax_and_lives_as_configured(app, make_user):
    app.config["REMEMBER_COOKIE_DURATION"] = timedelta(days=3)
    user = make_user(Role.ANALYST)
    db.session.commit()
    browser = app.test_client()
    response = browser.post(
        "/auth/login", data={"email": user.email, "password": PASSWORD, "remember": "y"}
    )
    header = next(
        h for h in response.headers.getlist("Set-Cookie") if h.startswith(REMEMBER_COOKIE)
    )
    assert "HttpOnly" in header and "SameSite=Lax" in header
    assert "Max-Age=259200" in header  # 3 days
    assert "Secure" not in header  # plain http in development and tests


def test_cookies_are_secure_in_production():
    from app.config import ProductionConfig

    assert ProductionConfig.REMEMBER_COOKIE_SECURE is True
    assert ProductionConfig.SESSION_COOKIE_SECURE is True
    assert ProductionConfig.SESSION_COOKIE_HTTPONLY is True
    assert ProductionConfig.SESSION_COOKIE_SAMESITE == "Lax"
    assert ProductionConfig.REMEMBER_COOKIE_SAMESITE == "Lax"


def test_remember_cookie_is_secure_when_configured(app, make_user):
    app.config["REMEMBER_COOKIE_SECURE"] = True
    user = make_user(Role.ANALYST)
    db.session.commit()
    response = app.test_client().post(
        "/auth/login", data={"email": user.email, "password": PASSWORD, "remember": "y"}
    )
    header = next(
        h for h in response.headers.getlist("Set-Cookie") if h.startswith(REMEMBER_COOKIE)
    )
    assert "Secure" in header


def test_a_sign_in_ends_after_its_lifetime(app, make_user, monkeypatch):
    user = make_user(Role.ANALYST)
    db.session.commit()
    browser = _sign_in(app, user)
    later = clock.utc_now() + app.config["PERMANENT_SESSION_LIFETIME"] + timedelta(minutes=1)
    monkeypatch.setattr(clock, "utc_now", lambda: later)
    assert not _signed_in(browser)


def test_remember_me_outlives_the_session_but_not_its_own_life(app, make_user, monkeypatch):
    user = make_user(Role.ANALYST)
    db.session.commit()
    browser = _sign_in(app, user, remember=True)
    start = clock.utc_now()
    monkeypatch.setattr(clock, "utc_now", lambda: start + timedelta(days=1))
    assert _signed_in(browser)  # the 12-hour session ended; remember-me started another
    monkeypatch.setattr(clock, "utc_now", lambda: start + timedelta(days=15))
    assert not _signed_in(browser)  # 14 days after the password, the password again


def test_the_former_user_id_hmac_remember_cookie_is_not_honoured(app, make_user):
    user = make_user(Role.ANALYST)
    db.session.commit()
    forged = app.test_client()
    forged.set_cookie("remember_token", encode_cookie(str(user.id)))
    response = forged.get("/")
    assert response.status_code == 302
    assert forged.get_cookie("remember_token") is None


def test_a_disabled_users_api_token_is_refused_at_the_next_call(app, make_user):
    owner = make_user(Role.CHANGE_LEAD)
    token, raw = ApiToken.generate("POS", created_by=owner)
    db.session.add(token)
    db.session.commit()
    api = app.test_client()
    headers = {"Authorization": f"Bearer {raw}"}
    assert api.get("/api/v1/metrics", headers=headers).status_code == 200
    owner.is_active_account = False
    db.session.commit()
    response = api.get("/api/v1/metrics", headers=headers)
    assert response.status_code == 401
    body = response.get_json()
    assert body["error"]["code"] == "unauthorized"
    assert set(body["error"]) >= {"code", "message", "fields"}
    posted = api.post("/api/v1/observations", json={"rows": []}, headers=headers)
    assert posted.status_code == 401
    # the integrations page says why the token stopped
    admin = make_user(Role.ADMIN)
    db.session.commit()
    page = _sign_in(app, admin).get("/integrations/tokens").get_data(as_text=True)
    assert "stopped: the account that created it is disabled" in page


def test_get_lang_switches_the_browser_but_never_the_saved_locale(app, make_user):
    user = make_user(Role.ANALYST, locale="zh_CN")
    db.session.commit()
    browser = _sign_in(app, user)
    assert "试点" in browser.get("/").get_data(as_text=True)  # the saved language
    response = browser.get("/lang/en")
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.locale == "zh_CN"
    # ... but this browser now reads English
    page = browser.get("/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "Pilots" in page and "试点" not in page


def test_post_lang_saves_the_account_language(app, make_user):
    user = make_user(Role.ANALYST, locale="zh_CN")
    db.session.commit()
    browser = _sign_in(app, user)
    page = browser.get("/").get_data(as_text=True)
    assert 'action="/lang/en?next=/"' in page  # the nav's form, not a link, for a saved locale
    assert browser.post("/lang/en?next=/").status_code == 302
    db.session.refresh(user)
    assert user.locale == "en"


def test_the_language_form_needs_its_csrf_token(make_user):
    from app import create_app
    from app.config import TestConfig

    class CsrfConfig(TestConfig):
        WTF_CSRF_ENABLED = True

    assert create_app(CsrfConfig).test_client().post("/lang/en").status_code == 400


@pytest.mark.parametrize(
    "email", ["someone@shop.test", "someone@localhost", "someone@host.local", "not-an-email"]
)
def test_users_create_refuses_what_the_login_form_refuses(client, runner, email):
    login = client.post("/auth/login", data={"email": email, "password": "x"})
    assert b"Invalid email address." in login.data
    result = _users_create(runner, email)
    assert result.exit_code != 0
    assert "Invalid email address." in result.output


def test_users_create_accepts_what_the_login_form_accepts(app, runner):
    result = _users_create(runner, "New.Person@Example.com")
    assert result.exit_code == 0, result.output
    browser = app.test_client()
    data = {"email": "new.person@example.com", "password": "long-enough-pw"}
    assert browser.post("/auth/login", data=data).status_code == 302


def _users_create(runner, email):
    options = ["--email", email, "--name", "N", "--role", "analyst"]
    return runner.invoke(args=["users", "create", *options, "--password", "long-enough-pw"])
