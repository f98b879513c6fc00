"""Foundation routes: auth, dashboard, language, health, admin."""

from tests.access.rules import ADMIN, EVERYONE, LOGGED_IN, get, post

RULES = {
    "auth.login": get(lambda w: "/auth/login", EVERYONE, ok=frozenset({200, 302})),
    "auth.logout": post(lambda w: "/auth/logout", LOGGED_IN),
    "main.dashboard": get(lambda w: "/", LOGGED_IN),
    "main.set_language": [
        get(lambda w: "/lang/en", EVERYONE, ok=frozenset({302})),
        post(lambda w: "/lang/en", EVERYONE, ok=frozenset({302})),
    ],
    "main.health": get(lambda w: "/healthz", EVERYONE),
    "main.glossary": get(lambda w: "/glossary", LOGGED_IN),
    "admin.users": get(lambda w: "/admin/users", ADMIN),
    "admin.create_user": get(lambda w: "/admin/users/new", ADMIN),
    "admin.edit_user": get(lambda w: f"/admin/users/{w.users['analyst'].id}/edit", ADMIN),
    "admin.sign_out_user": post(lambda w: f"/admin/users/{w.users['analyst'].id}/sign-out", ADMIN),
}

#: Endpoints served by extensions, not by Rollwise views.
EXEMPT = {"static", "bootstrap.static"}
