"""Locale selection: the user's setting, then the session's switch, then Accept-Language."""

from __future__ import annotations

from functools import lru_cache

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import refresh
from flask_login import current_user
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

SUPPORTED = {"en": "English", "zh_CN": "中文"}


def N_(text: str) -> str:
    """Mark ``text`` for the catalogue without translating it here: it is stored in English
    (a job's step, its refusal) and translated where it is shown. ``pybabel extract`` finds
    ``N_("…")`` by default, so ``make translations`` keeps these entries."""
    return text


def normalise(code: str | None) -> str | None:
    """Map 'zh', 'zh-CN', 'zh_Hans' … to 'zh_CN' and 'en-GB' … to 'en'."""
    if not code:
        return None
    code = code.replace("-", "_")
    if code.lower().startswith("zh"):
        return "zh_CN"
    if code.lower().startswith("en"):
        return "en"
    return None


def _may_be_logged_in() -> bool:
    """Whether the request carries a login (a session user or a remember-me cookie).

    Anonymous requests, such as the public QR form, then skip Flask-Login altogether: loading
    the anonymous user would also rewrite their session cookie on every request.
    """
    remember = current_app.config.get("REMEMBER_COOKIE_NAME", "rollwise_remember")
    return "_user_id" in session or remember in request.cookies


def select_locale() -> str:
    if not has_request_context():  # CLI commands, background jobs
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    # this browser's choice (a language link) first, then the account's saved language
    chosen = normalise(session.get("lang"))
    if chosen:
        return chosen
    if _may_be_logged_in() and getattr(current_user, "is_authenticated", False):
        chosen = normalise(current_user.locale)
        if chosen:
            return chosen
    return (
        locale_for_header(request.headers.get("Accept-Language", ""))
        or current_app.config["BABEL_DEFAULT_LOCALE"]
    )


@lru_cache(maxsize=512)
def locale_for_header(header: str) -> str | None:
    """The supported locale an ``Accept-Language`` header prefers, or None for neither.

    Phones send a handful of distinct headers, and every request of the public form asks:
    the answer is remembered per header (bounded, so odd headers only evict each other).
    """
    accepted = parse_accept_header(header, LanguageAccept)
    return normalise(accepted.best_match(["zh_CN", "zh-CN", "zh", "en"]))


def select_timezone() -> str:
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def register(app: Flask) -> None:
    """Choose the locale afresh for every request, even when an app context is reused."""
    app.before_request(refresh)
