"""Template globals, filters and the navigation for each role."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, request
from flask_babel import format_date, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.core import engine_reasons, i18n, labels, numbers
from app.core.i18n import SUPPORTED
from app.models import Role


@dataclass(frozen=True, slots=True)
class NavItem:
    endpoint: str
    label: str
    roles: tuple[Role, ...]


NAV = (
    NavItem("main.dashboard", _l("Pilots"), tuple(Role)),
    NavItem("sites.index", _l("Sites"), (Role.ADMIN, Role.CHANGE_LEAD, Role.ANALYST)),
    NavItem("retros.my_actions", _l("My actions"), (Role.ADMIN, Role.CHANGE_LEAD, Role.STAFF)),
    NavItem("feedback.staff_feed", _l("My site's feedback"), (Role.STAFF,)),
    NavItem("rollout.my_site", _l("My site's rollout"), (Role.STAFF,)),
    NavItem("integrations.tokens", _l("Integrations"), (Role.ADMIN, Role.CHANGE_LEAD)),
    NavItem("admin.users", _l("Users"), (Role.ADMIN,)),
)


def nav_items(app: Flask) -> list[NavItem]:
    if not current_user.is_authenticated:
        return []
    return [n for n in NAV if current_user.role in n.roles and n.endpoint in app.view_functions]


def register(app: Flask) -> None:
    i18n.register(app)
    app.add_template_filter(lambda d: format_date(d, "medium") if d else "—", "format_date")
    app.add_template_filter(
        lambda x, digits=1, signed=False: numbers.num(x, digits, signed=signed), "number"
    )
    app.add_template_filter(
        lambda x, digits=0, signed=False: numbers.pct(x, signed=signed, digits=digits), "percent"
    )
    app.add_template_filter(numbers.p_text, "p_value")
    app.add_template_filter(numbers.p_expr, "p_expression")
    app.add_template_filter(numbers.date_span, "date_span")
    app.add_template_filter(engine_reasons.reason_text, "engine_reason")
    app.add_template_global(labels.label, "label")
    app.add_template_global(labels.colour, "colour")
    app.add_template_global(labels.metric_label, "metric_label")
    app.add_template_global(labels.unit_label, "unit_label")

    @app.context_processor
    def inject() -> dict:
        return {
            "nav_items": nav_items(app),
            "languages": SUPPORTED,
            "current_locale": str(get_locale() or "en"),
            "Role": Role,
            "status_labels": labels.PILOT_STATUS_LABELS,
            "status_colours": labels.PILOT_STATUS_COLOURS,
            "request_path": request.full_path if request.query_string else request.path,
            "has_endpoint": lambda name: name in app.view_functions,
        }
