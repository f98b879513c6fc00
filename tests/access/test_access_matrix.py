"""Every registered route × every role, against the table in ``rules_*.py``."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import tests.access as access_pkg
from tests.access.rules import ROLES, Rule
from tests.access.world import build_world
from tests.conftest import PASSWORD


def _rule_modules():
    for info in pkgutil.iter_modules(access_pkg.__path__):
        if info.name.startswith("rules_"):
            yield importlib.import_module(f"tests.access.{info.name}")


MODULES = list(_rule_modules())


def all_rules() -> dict[str, list[Rule]]:
    table: dict[str, list[Rule]] = {}
    for module in MODULES:
        for endpoint, rules in module.RULES.items():
            assert endpoint not in table, f"{endpoint} has rows in two rule modules"
            table[endpoint] = rules if isinstance(rules, list) else [rules]
    return table


def exempt() -> set[str]:
    return set().union(*(getattr(m, "EXEMPT", set()) for m in MODULES))


def test_every_registered_route_has_an_access_rule(app):
    registered = {rule.endpoint for rule in app.url_map.iter_rules()} - exempt()
    table = all_rules()
    missing = sorted(registered - set(table))
    stale = sorted(set(table) - registered)
    assert not missing, f"routes without a row in tests/access/rules_*.py: {missing}"
    assert not stale, f"rows for routes that no longer exist: {stale}"


@pytest.fixture
def world(app, make_site, make_user, make_pilot):
    world = build_world(make_site, make_user, make_pilot)
    for module in MODULES:
        if hasattr(module, "setup"):
            module.setup(world)
    from app.extensions import db

    db.session.commit()
    return world


@pytest.mark.parametrize("role", ROLES)
def test_route_access_matrix(app, world, role):
    client = app.test_client()
    if role != "anon":
        user = world.users[role]
        response = client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 302
    failures = []
    # logging out ends the session, so it is checked last
    ordered = sorted(all_rules().items(), key=lambda item: (item[0] == "auth.logout", item[0]))
    for endpoint, rules in ordered:
        for rule in rules:
            url = rule.url(world)
            data = rule.data(world) if rule.data else {}
            response = client.open(url, method=rule.method, data=data, headers=rule.headers)
            status = response.status_code
            response.close()
            if role in rule.allow:
                if status not in rule.expected_ok():
                    failures.append(f"{endpoint} {rule.method} {url}: got {status}, allowed")
            else:
                expected = rule.anon_denied if role == "anon" else rule.denied
                if status != expected:
                    failures.append(
                        f"{endpoint} {rule.method} {url}: got {status}, want {expected}"
                    )
    assert not failures, f"{role}:\n" + "\n".join(failures)
