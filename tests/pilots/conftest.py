"""Service calls translate their messages, which needs a request context (for the locale)."""

import pytest


@pytest.fixture
def rctx(app):
    with app.test_request_context():
        yield
