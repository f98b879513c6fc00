"""A live Rollwise server with the demo data, and Debian's Chromium driven by Playwright.

Playwright's own browser download does not work offline, so the tests launch
``/usr/bin/chromium`` (``make test`` installs it with apt when it can). Without it the
tests are skipped with a loud reason, except in CI, where a missing browser fails.
"""

from __future__ import annotations

import os
import shutil
import threading
import warnings

import pytest
from werkzeug.serving import make_server

from app import create_app
from app.config import TestConfig
from app.extensions import db
from tests.conftest import _reset_database

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
DEMO_PASSWORD = "demo-rollwise"


class BrowserConfig(TestConfig):
    WTF_CSRF_ENABLED = True  # the real forms, tokens included


def _require_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    message = f"Chromium not found at {CHROMIUM}: browser journeys NOT tested"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run them)")
    warnings.warn(message, stacklevel=1)
    pytest.skip(message)


def serve(tmp_path_factory, **settings):
    """Serve the app with demo data on a free local port (a generator: yields its URL).

    ``settings`` override the configuration (e.g. ``JOB_RUNNER="thread"``: background jobs
    on threads, as in production without Redis, instead of the tests' synchronous runner).
    """
    if not (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgresql"):
        path = tmp_path_factory.mktemp("browser") / "browser.db"
        BrowserConfig.SQLALCHEMY_DATABASE_URI = f"sqlite:///{path}"
    app = create_app(BrowserConfig)
    app.config.update(settings)
    with app.app_context():
        _reset_database()
        result = app.test_cli_runner().invoke(args=["demo", "seed"])
        assert result.exit_code == 0, result.output
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    server.daemon_threads = False  # server_close() then waits for requests still running
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()  # their database connections go back to the pool before it closes
    runner = app.extensions.get("job_runner")
    for job_thread in getattr(runner, "threads", {}).values():
        job_thread.join(60)  # background jobs end before the pool closes
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """The app with demo data, served on a free local port for the whole module."""
    yield from serve(tmp_path_factory)


@pytest.fixture(scope="module")
def browser():
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def login(page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/auth/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("input[type=submit], button[type=submit]")
