"""API tokens are created and revoked by admins and change leads only."""

from app.extensions import db
from app.models import ApiToken
from tests.access.rules import EDITORS, get, post


def setup(world) -> None:
    token, _raw = ApiToken.generate("integration under test")
    db.session.add(token)
    db.session.flush()
    world.api_token = token


RULES = {
    "integrations.tokens": [
        get(lambda w: "/integrations/tokens", EDITORS),
        post(lambda w: "/integrations/tokens", EDITORS),
    ],
    "integrations.revoke": post(lambda w: f"/integrations/tokens/{w.api_token.id}/revoke", EDITORS),
}
