from app.extensions import db
from app.models import Role
from tests.conftest import PASSWORD


def test_login_with_good_password_lands_on_dashboard(client, make_user):
    user = make_user(Role.ANALYST)
    db.session.commit()
    response = client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_login_is_case_insensitive_on_email(client, make_user):
    user = make_user(Role.ANALYST, email="mixed@example.com")
    db.session.commit()
    response = client.post("/auth/login", data={"email": "MIXED@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert user.last_login_at is not None


def test_wrong_password_rerenders_with_a_message(client, make_user):
    user = make_user()
    db.session.commit()
    response = client.post("/auth/login", data={"email": user.email, "password": "nope"})
    assert response.status_code == 200
    assert b"Wrong e-mail or password." in response.data


def test_bad_email_rerenders_with_field_message(client):
    response = client.post("/auth/login", data={"email": "not-an-email", "password": "x"})
    assert response.status_code == 200
    assert b"Invalid email address" in response.data


def test_disabled_account_cannot_log_in(client, make_user):
    user = make_user(is_active_account=False)
    db.session.commit()
    response = client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200
    assert b"disabled" in response.data


def test_login_follows_a_safe_next_and_refuses_other_sites(client, make_user):
    user = make_user()
    db.session.commit()
    ok = client.post(
        "/auth/login", data={"email": user.email, "password": PASSWORD, "next": "/admin/users"}
    )
    assert ok.headers["Location"] == "/admin/users"
    client.post("/auth/logout")
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"):
        response = client.post(
            "/auth/login", data={"email": user.email, "password": PASSWORD, "next": evil}
        )
        assert response.headers["Location"] == "/", evil
        client.post("/auth/logout")


def test_pages_need_login_and_remember_where_you_were(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=")


def test_logout_needs_post_and_ends_the_session(client, auth):
    auth.login(Role.ANALYST)
    assert client.get("/auth/logout").status_code == 405
    assert client.post("/auth/logout").status_code == 302
    assert client.get("/").status_code == 302


def test_passwords_are_stored_hashed(make_user):
    user = make_user(password="a-long-password-123")
    assert "a-long-password-123" not in user.password_hash
    assert user.password_hash.startswith("pbkdf2:sha256")
    assert user.check_password("a-long-password-123")
    assert not user.check_password("a-long-password-124")


def test_login_form_rejects_posts_without_csrf_token(make_user):
    from app import create_app
    from app.config import TestConfig

    class CsrfConfig(TestConfig):
        WTF_CSRF_ENABLED = True

    app = create_app(CsrfConfig)
    response = app.test_client().post(
        "/auth/login", data={"email": "a@example.com", "password": "x"}
    )
    assert response.status_code == 400
    assert b"This form has expired or did not come from Rollwise." in response.data


def test_production_hashes_with_scrypt():
    from app.config import Config

    assert Config.PASSWORD_HASH_METHOD == "scrypt"
