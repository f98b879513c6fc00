"""Security headers and the TLS proxy, in one place.

* **Flask-Talisman** sends the Content-Security-Policy (no inline scripts or styles: the
  templates load ``app/static/js/rollwise.js`` and ``css/rollwise.css``; the one ``<style>``
  that must stay inline, the printable QR sheet's, carries the request's nonce),
  ``X-Frame-Options: DENY`` with ``frame-ancestors 'none'``, ``nosniff``, the
  Referrer-Policy, HSTS on HTTPS answers and, when ``FORCE_HTTPS`` is on, the redirect from
  plain HTTP.
* **ProxyFix** trusts the ``X-Forwarded-*`` headers of as many proxies as the
  ``PROXY_FIX_*`` settings say (none by default), so that behind a TLS proxy the app knows
  the request came over HTTPS and from which address.
* Every answer but a static file is ``Cache-Control: no-store``: pages of a signed-in user,
  exports of business data, the public form (its address carries a secret token) alike.

The settings are documented in ``docs/security.md, "Headers and TLS proxy"``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from flask_talisman import DENY, Talisman
from werkzeug.middleware.proxy_fix import ProxyFix

CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",  # Bootstrap draws its icons (select arrow, close) as data: SVG
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
#: An SVG document served as a file (a report chart, a QR code): it may style itself, never
#: run a script, load anything or be framed. Shown inside a page it is an ``<img>``.
SVG_FILE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
SVG_FILE_ENDPOINTS = frozenset({"reports.chart", "feedback.qr_code"})
#: Back-office addresses never leave the site in a Referer.
REFERRER_POLICY = "same-origin"
#: An address carrying a secret token (the public form and its thank-you page) is never sent
#: as a Referer, not even to this site: only the origin is, which is what the CSRF check of a
#: form sent over HTTPS needs (``no-referrer`` would make that check refuse the form).
PUBLIC_FORM_REFERRER_POLICY = "strict-origin"
PERMISSIONS_POLICY = {
    "camera": "()",
    "microphone": "()",
    "geolocation": "()",
    "payment": "()",
    "usb": "()",
    "browsing-topics": "()",
}
#: Answers a load balancer probes over plain HTTP, past the TLS proxy: never redirected.
PLAIN_HTTP_ENDPOINTS = ("main.health",)
STATIC_ENDPOINTS = frozenset({"static", "bootstrap.static"})
PROXY_FIX_HEADERS = ("x_for", "x_proto", "x_host", "x_port", "x_prefix")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


def register(app: Flask) -> None:
    """Bind the headers, the proxy fix and ``no-store`` to ``app`` (after its blueprints)."""
    configure_proxy_fix(app)
    # Flask runs after-request functions last-registered first: registered before
    # Talisman's, these run after it and have the last word on the headers they set.
    app.after_request(_per_endpoint_headers)
    app.after_request(_no_store)
    talisman = Talisman()
    talisman.init_app(app, **talisman_options(app.config))
    for endpoint in PLAIN_HTTP_ENDPOINTS:
        view = app.view_functions.get(endpoint)
        if view is not None:
            talisman(force_https=False)(view)


def talisman_options(config: Any) -> dict[str, Any]:
    """Flask-Talisman's arguments, from the app's settings."""
    hsts_max_age = setting_count(config, "HSTS_MAX_AGE")
    return {
        "force_https": force_https(config),
        "frame_options": DENY,
        "content_security_policy": CONTENT_SECURITY_POLICY,
        "content_security_policy_nonce_in": ["style-src"],
        "content_security_policy_report_uri": config.get("CSP_REPORT_URI") or None,
        "referrer_policy": REFERRER_POLICY,
        "permissions_policy": PERMISSIONS_POLICY,
        "strict_transport_security": hsts_max_age > 0,
        "strict_transport_security_max_age": hsts_max_age,
        "strict_transport_security_include_subdomains": setting_flag(
            config, "HSTS_INCLUDE_SUBDOMAINS"
        ),
        "strict_transport_security_preload": setting_flag(config, "HSTS_PRELOAD"),
        # the session cookie's flags stay those of the configuration (Secure in production)
        "session_cookie_secure": bool(config.get("SESSION_COOKIE_SECURE")),
        "session_cookie_samesite": config.get("SESSION_COOKIE_SAMESITE") or "Lax",
    }


def force_https(config: Any) -> bool:
    """``FORCE_HTTPS`` when set; else on in production only."""
    if config.get("FORCE_HTTPS") is None:
        return config.get("ENV_NAME") == "production"
    return setting_flag(config, "FORCE_HTTPS")


def configure_proxy_fix(app: Flask) -> None:
    """Trust ``X-Forwarded-*`` from the number of proxies each ``PROXY_FIX_*`` setting names."""
    counts = {
        name: setting_count(app.config, f"PROXY_FIX_{name.upper()}") for name in PROXY_FIX_HEADERS
    }
    if any(counts.values()):
        app.wsgi_app = ProxyFix(app.wsgi_app, **counts)


def setting_flag(config: Any, name: str) -> bool:
    value = config.get(name)
    if isinstance(value, bool):
        return value
    word = str(value if value is not None else "").strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise RuntimeError(f"{name} must be 1/true/yes/on or 0/false/no/off, not {value!r}")


def setting_count(config: Any, name: str) -> int:
    value = config.get(name)
    try:
        number = int(str(value if value is not None else 0).strip())
    except ValueError:
        number = -1
    if number < 0:
        raise RuntimeError(f"{name} must be a whole number, 0 or more, not {value!r}")
    return number


def _per_endpoint_headers(response: Response) -> Response:
    if request.endpoint in SVG_FILE_ENDPOINTS and response.mimetype == "image/svg+xml":
        response.headers["Content-Security-Policy"] = SVG_FILE_POLICY
    if "token" in (request.view_args or {}):
        response.headers["Referrer-Policy"] = PUBLIC_FORM_REFERRER_POLICY
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    return response


def _no_store(response: Response) -> Response:
    """Nothing but the static files is kept by a browser or a proxy: not the pages of a
    signed-in user, not an export, not the public form with its token."""
    if request.endpoint not in STATIC_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
    return response
