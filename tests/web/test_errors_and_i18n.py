import pytest
from flask import request

from app.core.i18n import locale_for_header, normalise, select_locale
from app.models import Role


@pytest.mark.parametrize(
    ("role", "url", "status", "message"),
    [
        pytest.param(
            Role.ANALYST, "/no/such/page", 404, b"We could not find that page.", id="unknown-url"
        ),
        pytest.param(
            Role.STAFF, "/admin/users", 403, b"You do not have permission", id="forbidden-for-role"
        ),
    ],
)
def test_error_pages_say_what_went_wrong(client, auth, role, url, status, message):
    auth.login(role)
    response = client.get(url)
    assert response.status_code == status
    assert message in response.data


def test_api_errors_are_json_in_one_shape(client):
    response = client.get("/api/v1/no-such-endpoint")
    assert response.status_code == 404
    assert response.is_json
    body = response.get_json()
    assert set(body["error"]) == {"code", "message", "fields"}


def test_chinese_browser_gets_the_chinese_ui(client):
    response = client.get("/auth/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert response.status_code == 200
    assert "登录".encode() in response.data
    assert b'lang="zh-CN"' in response.data


def test_language_switch_overrides_the_browser(client):
    client.get("/lang/en?next=/auth/login")
    response = client.get("/auth/login", headers={"Accept-Language": "zh-CN"})
    assert b"Log in to Rollwise" in response.data


def test_users_language_setting_wins(client, auth):
    auth.login(Role.ANALYST, locale="zh_CN")
    response = client.get("/", headers={"Accept-Language": "en"})
    assert "试点".encode() in response.data


def test_language_switch_refuses_external_next(client):
    response = client.get("/lang/zh_CN?next=https://evil.example/")
    assert response.headers["Location"] == "/"


def test_health_endpoint(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": {"ok": True}}}


def test_static_assets_are_served_locally(client):
    response = client.get("/auth/login")
    assert b"cdn.jsdelivr" not in response.data
    assert b"/bootstrap/static/css/bootstrap.min.css" in response.data
    with client.get("/bootstrap/static/css/bootstrap.min.css") as css:
        assert css.status_code == 200


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),  # a Chinese phone
        ("en-US,en;q=0.9", "en"),
        ("en;q=0.5, zh;q=0.9", "zh_CN"),  # the weights decide, not the order
        ("zh-TW,zh;q=0.9", "zh_CN"),
        ("fr-FR,fr;q=0.9,en;q=0.3", "en"),
        ("fr-FR,de;q=0.9", None),  # neither: the default applies
        ("", None),
        ("*;;;q=x", None),  # malformed: no error
    ],
)
def test_the_accept_language_header_picks_the_locale_as_the_request_parser_does(
    app, header, expected
):
    """Expected values from werkzeug's own ``request.accept_languages`` (the parser the
    remembered answer replaces), mapped to the two supported locales."""
    with app.test_request_context(headers={"Accept-Language": header} if header else {}):
        by_request = normalise(request.accept_languages.best_match(["zh_CN", "zh-CN", "zh", "en"]))
        assert locale_for_header(header) == by_request == expected
        assert select_locale() == (expected or app.config["BABEL_DEFAULT_LOCALE"])
