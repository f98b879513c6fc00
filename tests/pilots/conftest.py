"""Service calls translate their messages, which needs a request context (for the locale)."""

from datetime import date

import pytest


@pytest.fixture
def rctx(app):
    with app.test_request_context():
        yield


#: The demo's last day of data for these tests: the pilot-design tests fix their pre-period
#: (2026-10-26 to 2026-11-22) on history before the demo's QR pilot started, as their balance
#: and power figures assume; the demo itself otherwise lives in today (tests/demo).
DEMO_LAST_DAY = date(2026, 11, 22)


@pytest.fixture
def demo_chain(app, rctx):
    """The demo restaurant chain (sites, history, pilots), committed."""
    from app.demo.seed import seed
    from app.extensions import db

    seed(last_day=DEMO_LAST_DAY)
    db.session.commit()
