"""The site registry: everyone but staff sees it; staff see only their own site's page."""

from tests.access.rules import ALL_SEEING, EDITORS, LOGGED_IN, form_page, get, import_rules

RULES = {
    "sites.index": get(lambda w: "/sites/", ALL_SEEING),
    "sites.export": [
        get(lambda w: "/sites/export.csv", ALL_SEEING),
        get(lambda w: "/sites/export.xlsx", ALL_SEEING),
    ],
    "sites.create": form_page(lambda w: "/sites/new", EDITORS),
    "sites.detail": [
        get(lambda w: f"/sites/{w.site.id}", LOGGED_IN),
        # staff see only the site they work at
        get(lambda w: f"/sites/{w.other_site.id}", ALL_SEEING),
    ],
    "sites.edit": form_page(lambda w: f"/sites/{w.site.id}/edit", EDITORS),
    **import_rules("sites.import_sites", "sites.import_preview", lambda w: "/sites/import"),
    **import_rules(
        "sites.import_observations", "sites.observations_preview", lambda w: "/sites/data/import"
    ),
}
