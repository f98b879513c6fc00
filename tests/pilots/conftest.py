"""Service calls translate their messages, which needs a request context (for the locale)."""

import pytest


@pytest.fixture
def rctx(app):
    with app.test_request_context():
        yield


@pytest.fixture
def demo_chain(app, rctx):
    """The demo restaurant chain (sites, history, pilots), committed."""
    from app.demo.seed import seed
    from app.extensions import db

    seed()
    db.session.commit()
