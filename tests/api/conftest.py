"""Service calls translate their messages, which needs a request context (for the locale)."""

import pytest

from app.extensions import db
from app.models import ApiToken


@pytest.fixture
def rctx(app):
    with app.test_request_context():
        yield


@pytest.fixture
def token(app, make_site, make_metric):
    """A raw API token; sites A1 and B2 and the metric ``wait`` exist."""
    make_site(code="A1")
    make_site(code="B2")
    make_metric("wait")
    row, raw = ApiToken.generate("POS East")
    db.session.add(row)
    db.session.commit()
    return raw
