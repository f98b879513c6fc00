"""The site registry: everyone but staff sees it; staff see only their own site's page."""

from tests.access.rules import ALL_SEEING, EDITORS, LOGGED_IN, get, post

FAKE_TOKEN = "0-" + "0" * 32 + ".csv"

RULES = {
    "sites.index": get(lambda w: "/sites/", ALL_SEEING),
    "sites.export": [
        get(lambda w: "/sites/export.csv", ALL_SEEING),
        get(lambda w: "/sites/export.xlsx", ALL_SEEING),
    ],
    "sites.create": [
        get(lambda w: "/sites/new", EDITORS),
        post(lambda w: "/sites/new", EDITORS),
    ],
    "sites.detail": [
        get(lambda w: f"/sites/{w.site.id}", LOGGED_IN),
        # staff see only the site they work at
        get(lambda w: f"/sites/{w.other_site.id}", ALL_SEEING),
    ],
    "sites.edit": [
        get(lambda w: f"/sites/{w.site.id}/edit", EDITORS),
        post(lambda w: f"/sites/{w.site.id}/edit", EDITORS),
    ],
    "sites.import_sites": [
        get(lambda w: "/sites/import", EDITORS),
        post(lambda w: "/sites/import", EDITORS),
    ],
    # an unknown upload answers 404 to those allowed to import
    "sites.import_preview": [
        get(lambda w: f"/sites/import/{FAKE_TOKEN}", EDITORS, ok=frozenset({404})),
        post(lambda w: f"/sites/import/{FAKE_TOKEN}", EDITORS),
    ],
    "sites.import_observations": [
        get(lambda w: "/sites/data/import", EDITORS),
        post(lambda w: "/sites/data/import", EDITORS),
    ],
    "sites.observations_preview": [
        get(lambda w: f"/sites/data/import/{FAKE_TOKEN}", EDITORS, ok=frozenset({404})),
        post(lambda w: f"/sites/data/import/{FAKE_TOKEN}", EDITORS),
    ],
}
