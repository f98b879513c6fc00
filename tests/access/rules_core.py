"""Foundation routes: auth, dashboard, language, health, admin, pilot detail."""

from tests.access.rules import ADMIN, EVERYONE, LOGGED_IN, get, post

RULES = {
    "auth.login": get(lambda w: "/auth/login", EVERYONE, ok=frozenset({200, 302})),
    "auth.logout": post(lambda w: "/auth/logout", LOGGED_IN),
    "main.dashboard": get(lambda w: "/", LOGGED_IN),
    "main.set_language": get(lambda w: "/lang/en", EVERYONE, ok=frozenset({302})),
    "main.health": get(lambda w: "/healthz", EVERYONE),
    "admin.users": get(lambda w: "/admin/users", ADMIN),
    "admin.create_user": get(lambda w: "/admin/users/new", ADMIN),
    "admin.edit_user": get(lambda w: f"/admin/users/{w.users['analyst'].id}/edit", ADMIN),
    "pilots.detail": [
        get(lambda w: f"/pilots/{w.pilot.id}", LOGGED_IN),
        # staff see only pilots their own site takes part in
        get(lambda w: f"/pilots/{w.other_pilot.id}", LOGGED_IN - {"staff"}),
    ],
}

#: Endpoints served by extensions, not by Rollwise views.
EXEMPT = {"static", "bootstrap.static"}
