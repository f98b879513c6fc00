"""The JSON API: a valid bearer token is the only way in; a browser session is not enough."""

from app.extensions import db
from app.models import ApiToken
from tests.access.rules import EVERYONE, get, post

RAW_TOKEN = "rw_access-matrix-token-000000000000000000000"
BEARER = {"Authorization": f"Bearer {RAW_TOKEN}"}
NOBODY = frozenset()


def setup(world) -> None:
    token = ApiToken(
        name="access matrix", prefix=RAW_TOKEN[:10], token_hash=ApiToken.hash_token(RAW_TOKEN)
    )
    db.session.add(token)


def _token_rules(method, path: str):
    return [
        # a session cookie alone is refused with 401, for every role
        method(lambda w: path, NOBODY, denied=401, anon_denied=401),
        method(lambda w: path, EVERYONE, headers=BEARER, anon_denied=401),
    ]


RULES = {
    "api.openapi": get(lambda w: "/api/v1/openapi.json", EVERYONE),
    "api.post_observations": _token_rules(post, "/api/v1/observations"),
    "api.metrics": _token_rules(get, "/api/v1/metrics"),
    "api.sites": _token_rules(get, "/api/v1/sites"),
}
