"""Service calls translate their messages, which needs a request context (for the locale)."""

from datetime import date

import pytest


@pytest.fixture
def rctx(app):
    with app.test_request_context():
        yield


#: The demo's last day of data for these tests: the pilot-design tests fix their dates
#: (pre-period 2026-10-26 to 2026-11-22) and their balance and power figures on the demo
#: history generated for this last day; the demo itself lives in today (tests/demo).
DEMO_LAST_DAY = date(2026, 11, 22)


@pytest.fixture
def demo_chain(app, rctx):
    """The demo restaurant chain (sites, history, pilots), committed."""
    from app.demo.seed import seed
    from app.extensions import db

    seed(last_day=DEMO_LAST_DAY)
    db.session.commit()
