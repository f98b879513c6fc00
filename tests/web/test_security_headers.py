"""Security headers on every page, export and file, in every role (app/core/security.py).

Every GET route of the app is requested on the demo data, signed out and as each demo role
(every export format included): each answer carries a Content-Security-Policy that allows
no inline script, forbids framing (``frame-ancestors 'none'`` and ``X-Frame-Options``),
``nosniff``, a Referrer-Policy that never sends an address with a token, and
``Cache-Control: no-store``. Only the static files stay cacheable. The templates hold no
inline script, event handler or style the policy would block; HSTS, the HTTPS redirect
and the proxy settings follow the configuration.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import request, url_for
from sqlalchemy import select

from app import create_app
from app.config import TestConfig
from app.core import charts
from app.core.security import PUBLIC_FORM_REFERRER_POLICY, REFERRER_POLICY, SVG_FILE_POLICY
from app.demo.seed import DEMO_PASSWORD, DEMO_USERS, seed
from app.extensions import db
from app.models import (
    ActionItem,
    Adjustment,
    ApiToken,
    FormLink,
    Retrospective,
    RolloutPlan,
    Site,
    User,
)
from tests.conftest import _reset_database

TEMPLATES = Path(__file__).resolve().parents[2] / "app" / "templates"
#: Rendered only into PDFs by WeasyPrint (never served as a page): their CSS stays inline.
PDF_ONLY_TEMPLATES = {"reports/print.html", "retros/minutes_pdf.html"}
FORMATS = ("csv", "xlsx", "pdf", "svg", "png", "ics", "md", "json")
STATIC_ENDPOINTS = ("static", "bootstrap.static")
ROLES = [None, *(email for email, _name, _role in DEMO_USERS)]


def _directives(policy: str) -> dict[str, str]:
    parts = (part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def header_problems(response, with_token: bool) -> list[str]:
    """What an answer lacks, as short sentences (none: all is well). ``with_token``: its
    address carries a secret token."""
    headers = response.headers
    problems = []
    policy = headers.get("Content-Security-Policy", "")
    directives = _directives(policy)
    if policy == SVG_FILE_POLICY:
        pass  # an SVG file: no script at all, its own styles only
    elif not policy:
        problems.append("no Content-Security-Policy")
    else:
        script = directives.get("script-src") or directives.get("default-src", "")
        if "'self'" not in script or "unsafe" in script:
            problems.append(f"script-src {script!r}")
        if "unsafe" in directives.get("style-src", "unsafe"):
            problems.append(f"style-src {directives.get('style-src')!r}")
        if directives.get("object-src") != "'none'":
            problems.append("object-src is not 'none'")
    if directives.get("frame-ancestors") != "'none'":
        problems.append("frame-ancestors is not 'none'")
    if headers.get("X-Frame-Options") != "DENY":
        problems.append("X-Frame-Options is not DENY")
    if headers.get("X-Content-Type-Options") != "nosniff":
        problems.append("no nosniff")
    wanted = PUBLIC_FORM_REFERRER_POLICY if with_token else REFERRER_POLICY
    if headers.get("Referrer-Policy") != wanted:
        problems.append(f"Referrer-Policy {headers.get('Referrer-Policy')!r}, not {wanted!r}")
    if headers.get("Cache-Control") != "no-store":
        problems.append(f"Cache-Control {headers.get('Cache-Control')!r}")
    return problems


@pytest.fixture
def demo_values(app):
    """One existing object of each kind in the demo, as URL arguments."""
    seed()
    db.session.commit()

    def first(model):
        return db.session.scalars(select(model).order_by(model.id)).first()

    retro, link = first(Retrospective), first(FormLink)
    values = {
        "pilot_id": retro.pilot_id,
        "day": retro.date.isoformat(),
        "retro_id": retro.id,
        "site_id": link.site_id,
        "link_id": link.id,
        "token": link.token,
        "action_id": first(ActionItem).id,
        "adjustment_id": first(Adjustment).id,
        "plan_id": first(RolloutPlan).id,
        "user_id": first(User).id,
        "token_id": (first(ApiToken) or first(User)).id,
        "report_id": 1,  # the demo has no snapshot: the report routes answer 404
        "job_id": 1,  # nor any background job: the job routes answer 404 (JSON for status)
        "number": 1,
        "step": 1,
        "audience": "customer",
        "code": "en",
        "name": "forest-metrics",
    }
    assert first(Site) is not None
    return values


def get_urls(app, values) -> list[str]:
    """Every GET route of the app with the demo's values, once per export format."""
    urls = []
    with app.test_request_context():
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            if "GET" not in rule.methods or rule.endpoint in STATIC_ENDPOINTS:
                continue
            args = {name: values[name] for name in rule.arguments if name != "fmt"}
            formats = FORMATS if "fmt" in rule.arguments else (None,)
            for fmt in formats:
                extra = {"fmt": fmt} if fmt else {}
                urls.append(url_for(rule.endpoint, **args, **extra))
    return urls


@pytest.mark.parametrize("email", ROLES, ids=lambda e: (e or "signed-out").split("@")[0])
def test_every_page_and_export_carries_the_security_headers(app, client, demo_values, email):
    if email:
        client.post("/auth/login", data={"email": email, "password": DEMO_PASSWORD})
    problems, statuses = {}, set()
    for url in get_urls(app, demo_values):
        response = client.get(url)
        statuses.add(response.status_code)
        found = header_problems(response, demo_values["token"] in url)
        if found:
            problems[url] = found
    assert problems == {}
    assert 200 in statuses


def test_exports_and_files_behind_a_login_are_no_store(app, client, demo_values):
    client.post("/auth/login", data={"email": "lead@demo.rollwise", "password": DEMO_PASSWORD})
    pilot, link = demo_values["pilot_id"], demo_values["link_id"]
    downloads = [
        f"/feedback/pilots/{pilot}/export.csv",
        f"/feedback/pilots/{pilot}/export.xlsx",
        f"/feedback/links/{link}/qr.png?download=1",
        f"/feedback/links/{link}/qr.svg",
        f"/rollout/{demo_values['plan_id']}/export.ics",
        f"/retros/{demo_values['retro_id']}/minutes.pdf",
        "/sites/export.csv",
    ]
    for url in downloads:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == "no-store", url
    svg = client.get(f"/feedback/links/{link}/qr.svg")
    assert svg.headers["Content-Security-Policy"] == SVG_FILE_POLICY


def test_static_files_stay_cacheable_and_bootstrap_is_served_locally(app, client):
    page = client.get("/auth/login").get_data(as_text=True)
    assets = re.findall(r'<(?:script|link)[^>]*\b(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets)
    assert "/bootstrap/static/" in page
    for asset in assets:
        with client.get(asset) as response:
            assert response.status_code == 200, asset
            assert "no-store" not in response.headers.get("Cache-Control", ""), asset
            assert response.headers["X-Content-Type-Options"] == "nosniff"


def _tags(name: str, html: str) -> list[str]:
    return re.findall(rf"<{name}\b[^>]*>", html, flags=re.IGNORECASE)


def test_no_template_holds_an_inline_script_handler_or_style():
    problems = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        name = path.relative_to(TEMPLATES).as_posix()
        html = path.read_text(encoding="utf-8")
        for tag in _tags("script", html):
            if "src=" not in tag and "nonce=" not in tag:
                problems.append(f"{name}: inline {tag}")
        for handler in re.findall(r"<[^>]*\son[a-z]+\s*=", html, flags=re.IGNORECASE):
            problems.append(f"{name}: event handler in {handler[:60]}")
        if "javascript:" in html.lower():
            problems.append(f"{name}: javascript: address")
        if name in PDF_ONLY_TEMPLATES:
            continue
        problems += [f"{name}: {tag}" for tag in _tags("style", html) if "nonce=" not in tag]
        problems += [f"{name}: style attribute" for _ in re.findall(r"\sstyle=", html)]
    assert problems == []


def test_inline_charts_carry_no_css_the_policy_would_block(app):
    with charts.figure(4, 3) as fig:
        axes = fig.add_subplot()
        axes.plot([1, 2, 3], [2, 1, 3], color=charts.PILOT_COLOUR, linestyle="--")
        axes.set_title("Wait 等待 <b>")
        svg = charts.inline_svg(fig, "t")
    assert "<style" not in svg and " style=" not in svg
    assert 'class="rw-chart" stroke-linejoin="round" stroke-linecap="butt"' in svg
    assert f'stroke="{charts.PILOT_COLOUR}"' in svg and "stroke-dasharray=" in svg
    assert "Wait 等待 &lt;b&gt;" in svg


def test_the_qr_sheet_keeps_its_print_css_inline_with_the_nonce(app, client, demo_values):
    client.post("/auth/login", data={"email": "lead@demo.rollwise", "password": DEMO_PASSWORD})
    url = f"/feedback/pilots/{demo_values['pilot_id']}/sites/{demo_values['site_id']}/sheet"
    response = client.get(url)
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    assert f'<style nonce="{nonce}">' in response.get_data(as_text=True)
    assert nonce not in client.get(url).headers["Content-Security-Policy"]  # new each time


def test_the_public_form_is_sent_over_https_with_the_referrer_its_policy_allows():
    """``strict-origin``: a browser sends the origin only, which the CSRF check accepts."""
    app = create_app(type("CsrfConfig", (TestConfig,), {"WTF_CSRF_ENABLED": True}))
    with app.app_context():
        _reset_database()
        seed()
        db.session.commit()
        token = db.session.scalars(select(FormLink.token).order_by(FormLink.id)).first()
        client = app.test_client()
        url = f"https://localhost/feedback/f/{token}"
        page = client.get(url)
        assert page.headers["Referrer-Policy"] == "strict-origin"
        assert '<meta name="referrer" content="strict-origin">' in page.get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(True))
        data = {"csrf_token": csrf.group(1)}
        sent = client.post(url, data=data, headers={"Referer": "https://localhost/"})
        assert sent.status_code in (303, 422)  # past the CSRF check: stored, or the form again
        refused = client.post(url, data=data)  # what no-referrer would send: nothing
        assert refused.status_code == 400
        db.session.remove()


def _app(**settings):
    return create_app(type("SecurityConfig", (TestConfig,), settings))


def test_hsts_only_over_https_and_as_configured():
    client = _app().test_client()
    assert "Strict-Transport-Security" not in client.get("/auth/login").headers
    hsts = client.get("/auth/login", base_url="https://localhost").headers
    assert hsts["Strict-Transport-Security"] == "max-age=31536000"
    client = _app(HSTS_MAX_AGE="600", HSTS_INCLUDE_SUBDOMAINS="yes", HSTS_PRELOAD="1").test_client()
    hsts = client.get("/auth/login", base_url="https://localhost").headers
    assert hsts["Strict-Transport-Security"] == "max-age=600; includeSubDomains; preload"
    client = _app(HSTS_MAX_AGE="0").test_client()
    assert "Strict-Transport-Security" not in client.get("/", base_url="https://localhost").headers


def test_force_https_redirects_plain_http_but_not_the_health_check():
    assert _app().test_client().get("/auth/login").status_code == 200  # off in tests
    production = _app(ENV_NAME="production", SESSION_COOKIE_SECURE=True)
    client = production.test_client()  # on in production unless FORCE_HTTPS says otherwise
    moved = client.get("/auth/login")
    assert moved.status_code == 302
    assert moved.headers["Location"] == "https://localhost/auth/login"
    assert client.get("/auth/login", base_url="https://localhost").status_code == 200
    assert client.get("/healthz").status_code in (200, 503)
    client = _app(ENV_NAME="production", FORCE_HTTPS="off").test_client()
    assert client.get("/auth/login").status_code == 200


def _probe(app):
    @app.get("/_probe")
    def probe():
        return {"scheme": request.scheme, "address": request.remote_addr, "host": request.host}

    return app.test_client()


PROXIED = {
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "rollwise.example",
}


def test_forwarded_headers_are_ignored_unless_a_proxy_is_configured():
    seen = _probe(_app()).get("/_probe", headers=PROXIED).get_json()
    assert seen == {"scheme": "http", "address": "127.0.0.1", "host": "localhost"}


def test_proxy_fix_trusts_the_configured_proxy_for_address_scheme_and_host():
    app = _app(PROXY_FIX_X_FOR="1", PROXY_FIX_X_PROTO="1", PROXY_FIX_X_HOST="1")
    seen = _probe(app).get("/_probe", headers=PROXIED).get_json()
    assert seen == {"scheme": "https", "address": "203.0.113.7", "host": "rollwise.example"}


@pytest.mark.parametrize(
    "settings",
    [{"PROXY_FIX_X_FOR": "two"}, {"PROXY_FIX_X_PROTO": "-1"}, {"FORCE_HTTPS": "maybe"}],
    ids=["words", "negative", "flag"],
)
def test_a_mistyped_setting_stops_the_app_with_its_name(settings):
    with pytest.raises(RuntimeError, match=next(iter(settings))):
        _app(**settings)
