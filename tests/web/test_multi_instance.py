"""Several app servers, one state: two gunicorn instances and an RQ worker on one PostgreSQL
database and one Redis.

The instances (two processes on two ports, two workers each, as in production behind a load
balancer) share nothing but the database, Redis and the secret key. The test shows that

- the public form's per-link rate limit counts across both instances (limits in Redis),
- a report job started from instance 1 is computed by the worker and shows on instance 2,
- 2,000 public form submissions spread over both instances store exactly 2,000 responses.

It needs ``TEST_DATABASE_URL`` pointing at PostgreSQL (it uses a scratch database beside it,
``<name>_multi``) and Redis at ``TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/5``, a
database it empties). Without them it skips; under CI (``CI=true``) an unreachable PostgreSQL
fails it, like the rest of CI. Every wait and every loop is bounded; only 127.0.0.1 is used.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
SECRET = "multi-instance-secret-" + secrets.token_hex(8)
PASSWORD = "multi-instance-password"  # a throwaway account of a scratch database
#: the public form's documented per-link limit
PER_LINK = "20 per minute"
SUBMISSIONS, CLIENTS = 2000, 16

pytestmark = pytest.mark.postgres


# ---------------------------------------------------------------- what the instances serve


def make_app():
    """The app gunicorn serves here: the real app, its settings from the environment, CSRF on.

    ``FEEDBACK_RATELIMIT_*`` are taken from the environment so that each phase of the test
    can set the limits it checks (the per-address limit is raised: every client is 127.0.0.1).
    """
    from app import create_app
    from app.config import Config

    app = create_app(Config)
    for name in ("FEEDBACK_RATELIMIT_PER_TOKEN", "FEEDBACK_RATELIMIT_PER_ADDRESS"):
        if os.environ.get(name):
            app.config[name] = os.environ[name]
    app.config["FEEDBACK_RATELIMIT_VIEW"] = "10000 per minute"
    return app


# ---------------------------------------------------------------- services and processes


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url.replace("postgresql+psycopg", "postgresql"))
    try:
        with socket.create_connection((parts.hostname, parts.port or default_port), timeout=3):
            return True
    except OSError:
        return False


def _database_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL", "")
    in_ci = os.environ.get("CI") == "true"
    if not url.startswith("postgresql"):
        if in_ci:
            pytest.fail("CI runs this test on PostgreSQL: set TEST_DATABASE_URL")
        pytest.skip("TEST_DATABASE_URL does not point at PostgreSQL")
    if not _reachable(url, 5432):
        if in_ci:
            pytest.fail(f"PostgreSQL at {make_url(url).host} is unreachable")
        pytest.skip("PostgreSQL is unreachable")
    scratch = make_url(url).set(database=f"{make_url(url).database}_multi")
    _recreate(url, scratch.database, create=True)
    return scratch.render_as_string(hide_password=False)


def _recreate(url: str, name: str, *, create: bool) -> None:
    """Drop the scratch database ``name`` beside ``url`` (its connections too), and create it
    afresh when ``create``."""
    admin = create_engine(make_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if create:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def _redis():
    from redis import Redis

    if not _reachable(REDIS_URL, 6379):
        pytest.skip(f"Redis at {REDIS_URL} is unreachable")
    connection = Redis.from_url(REDIS_URL)
    connection.flushdb()  # this test's own Redis database: stale limits and jobs go
    return connection


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ROLLWISE_ENV": "development",
        "SECRET_KEY": SECRET,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "REPORT_RUNNER": "rq",
        "OPENBLAS_NUM_THREADS": "1",
        **extra,
    }


def _wait_for_port(process: subprocess.Popen, port: int) -> None:
    for _ in range(600):  # bounded: at most 60 s
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn on port {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn on port {port} did not start")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@contextmanager
def instances(database_url: str, **limits: str) -> Iterator[list[int]]:
    """Two gunicorn processes (two workers each) on two ports; their ports."""
    gunicorn = _tool("gunicorn")
    env = _environment(database_url, **limits)
    started: list[tuple[subprocess.Popen, int]] = []
    try:
        for _ in range(2):
            port = _free_port()
            command = [gunicorn, "-w", "2", "-b", f"127.0.0.1:{port}", "--timeout", "120"]
            command += ["--log-level", "warning", "tests.web.test_multi_instance:make_app()"]
            started.append((subprocess.Popen(command, cwd=ROOT, env=env), port))
        for process, port in started:
            _wait_for_port(process, port)
        yield [port for _, port in started]
    finally:
        for process, _ in started:
            _stop(process)


@contextmanager
def rq_worker(database_url: str) -> Iterator[subprocess.Popen]:
    from app.reports.jobs import QUEUE_NAME

    command = [_tool("rq"), "worker", QUEUE_NAME, "--url", REDIS_URL, "--quiet"]
    process = subprocess.Popen(command, cwd=ROOT, env=_environment(database_url))
    try:
        yield process
    finally:
        _stop(process)


# ---------------------------------------------------------------- the data


@dataclass
class Seeded:
    pilot_id: int
    tokens: list[str]
    analyst_email: str


def seed(database_url: str) -> Seeded:
    """A running pilot (4 pilot and 4 control sites, 14 days before and after its start, a
    primary metric), its feedback forms and links, and an analyst."""
    from app import create_app
    from app.auth.accounts import create_user
    from app.config import Config
    from app.extensions import db
    from app.feedback import questionnaires
    from app.models import (
        Arm,
        Assignment,
        Audience,
        Direction,
        Metric,
        MetricKind,
        MetricRole,
        Observation,
        Pilot,
        PilotMetric,
        PilotStatus,
        Role,
        Site,
    )

    class SeedConfig(Config):
        SQLALCHEMY_DATABASE_URI = database_url
        SECRET_KEY = SECRET

    app = create_app(SeedConfig)
    start = date.today() - timedelta(days=14)
    with app.app_context(), app.test_request_context():
        db.create_all()
        metric = Metric(
            key="wait_minutes",
            name="Waiting time",
            unit="min",
            kind=MetricKind.CONTINUOUS,
            better_direction=Direction.DECREASE,
        )
        pilot = Pilot(
            name="Two servers",
            status=PilotStatus.RUNNING,
            pre_start=start - timedelta(days=14),
            start_date=start,
            end_date=start + timedelta(days=27),
        )
        pilot.metric_links.append(PilotMetric(metric=metric, role=MetricRole.PRIMARY))
        for i in range(8):
            site = Site(code=f"M{i}", name=f"Multi site {i}", region="East")
            pilot.assignments.append(Assignment(site=site, arm=Arm.PILOT if i < 4 else Arm.CONTROL))
        db.session.add(pilot)
        db.session.flush()
        db.session.add_all(
            Observation(
                site_id=a.site_id,
                metric_id=metric.id,
                date=start + timedelta(days=offset),
                value=10.0
                + (i % 3)
                + offset % 2
                - (2.0 if a.arm is Arm.PILOT and offset >= 0 else 0),
            )
            for i, a in enumerate(pilot.assignments)
            for offset in range(-14, 14)
        )
        questionnaires.ensure_forms(pilot)
        links = questionnaires.ensure_links(pilot)
        analyst = create_user("analyst@multi.example.com", "Analyst", Role.ANALYST, PASSWORD)
        db.session.commit()
        seeded = Seeded(
            pilot.id,
            [lk.token for lk in links if lk.audience is Audience.CUSTOMER],
            analyst.email,
        )
        db.session.remove()
        db.engine.dispose()
    return seeded


def count_responses(database_url: str, token: str | None = None) -> int:
    from app.models import FeedbackResponse, FormLink

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            query = select(func.count(FeedbackResponse.id))
            if token is not None:
                query = query.join(FormLink, FormLink.id == FeedbackResponse.link_id).where(
                    FormLink.token == token
                )
            return connection.execute(query).scalar_one()
    finally:
        engine.dispose()


# ---------------------------------------------------------------- a browser, by hand


@dataclass
class Browser:
    """One visitor: its cookie jar (a session cookie works on both instances)."""

    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, port: int, method: str, path: str, form: dict | None = None):
        headers = {"Accept-Language": "en"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read().decode("utf-8", "replace")
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    key, _, rest = value.partition("=")
                    self.cookies[key] = rest.split(";")[0]
            return response.status, response.getheader("Location"), data
        finally:
            connection.close()

    def form_fields(self, port: int, path: str) -> dict[str, str]:
        """Load a page and return the hidden fields of its forms (CSRF token, one-time keys)."""
        status, _, page = self.request(port, "GET", path)
        assert status == 200, f"GET {path} on port {port}: {status}"
        hidden = {}
        for tag in re.findall(r"<input[^>]*>", page):
            name = re.search(r'name="([^"]+)"', tag)
            value = re.search(r'value="([^"]*)"', tag)
            if name and value and 'type="hidden"' in tag:
                hidden.setdefault(name.group(1), value.group(1))
        return hidden


def submit_feedback(browser: Browser, port: int, token: str, csrf: str, n: int) -> int:
    fields = {
        "csrf_token": csrf,
        "idempotency_key": f"multi-{secrets.token_hex(8)}-{n}",
        "q_overall": str(1 + n % 5),
        "q_ease": str(1 + (n * 3) % 5),
        "q_recommend": str(n % 11),
        "q_age_band": ["under_30", "30_59", "60+"][n % 3],
    }
    status, _, _ = browser.request(port, "POST", f"/feedback/f/{token}", fields)
    return status


def open_form(port: int, token: str) -> tuple[Browser, str]:
    browser = Browser()
    return browser, browser.form_fields(port, f"/feedback/f/{token}")["csrf_token"]


# ---------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def shared_state():
    database_url = _database_url()
    redis = _redis()
    yield database_url, seed(database_url)
    redis.flushdb()
    redis.close()
    _recreate(os.environ["TEST_DATABASE_URL"], make_url(database_url).database, create=False)


def test_rate_limits_count_across_both_instances(shared_state):
    database_url, seeded = shared_state
    token = seeded.tokens[0]
    limits = {
        "FEEDBACK_RATELIMIT_PER_TOKEN": PER_LINK,
        "FEEDBACK_RATELIMIT_PER_ADDRESS": "10000 per minute",
    }
    with instances(database_url, **limits) as ports:
        browser, csrf = open_form(ports[0], token)
        statuses = [submit_feedback(browser, ports[n % 2], token, csrf, n) for n in range(30)]
    # 20 per minute for the link, not 20 per instance (nor per worker): 20 stored, 10 refused
    assert Counter(statuses) == {303: 20, 429: 10}, Counter(statuses)
    assert statuses[:20] == [303] * 20
    assert count_responses(database_url, token) == 20


def test_a_report_started_on_one_instance_is_computed_by_the_worker_and_shows_on_the_other(
    shared_state,
):
    database_url, seeded = shared_state
    with instances(database_url) as ports, rq_worker(database_url):
        first, second = ports
        browser = Browser()
        login = browser.form_fields(first, "/auth/login")
        credentials = {"email": seeded.analyst_email, "password": PASSWORD}
        status, _, _ = browser.request(first, "POST", "/auth/login", {**login, **credentials})
        assert status == 302, "the analyst could not log in on instance 1"
        fields = browser.form_fields(first, f"/reports/pilot/{seeded.pilot_id}")
        status, location, _ = browser.request(
            first, "POST", f"/reports/pilot/{seeded.pilot_id}/create", fields
        )
        assert status == 302 and location, "instance 1 did not start the report"
        report_id = int(location.rstrip("/").split("/")[-1])
        state = {}
        for _ in range(240):  # bounded: at most 120 s
            status, _, body = browser.request(second, "GET", f"/reports/{report_id}/status")
            assert status == 200, f"instance 2 answered {status} for the report's status"
            state = json.loads(body)
            if state["done"]:
                break
            time.sleep(0.5)
        assert state.get("done"), f"the worker did not finish the report: {state}"
        assert state["status"] != "computing" and not state["error"], state
        status, _, page = browser.request(second, "GET", f"/reports/{report_id}")
        assert status == 200 and "Waiting time" in page


def test_a_logout_on_one_instance_ends_the_session_on_the_other(shared_state):
    database_url, seeded = shared_state
    with instances(database_url) as ports:
        first, second = ports
        browser = Browser()
        login = browser.form_fields(first, "/auth/login")
        credentials = {"email": seeded.analyst_email, "password": PASSWORD}
        status, _, _ = browser.request(first, "POST", "/auth/login", {**login, **credentials})
        assert status == 302, "the analyst could not log in on instance 1"
        copied = Browser(cookies=dict(browser.cookies))  # e.g. a cookie taken from the browser
        assert copied.request(second, "GET", "/")[0] == 200  # one sign-in, both servers
        page_fields = browser.form_fields(second, "/")
        status, location, _ = browser.request(second, "POST", "/auth/logout", page_fields)
        assert status == 302 and "/auth/login" in location
        # the copy opens nothing any more, on either server
        for port in (first, second):
            status, location, _ = copied.request(port, "GET", "/")
            assert status == 302 and "/auth/login" in location, (port, status)


def test_2000_public_submissions_over_both_instances_store_exactly_2000(shared_state):
    database_url, seeded = shared_state
    tokens = seeded.tokens[1:]
    before = count_responses(database_url)
    limits = {
        "FEEDBACK_RATELIMIT_PER_TOKEN": "100000 per minute",
        "FEEDBACK_RATELIMIT_PER_ADDRESS": "100000 per minute",
    }
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def client(i: int, ports: list[int]) -> None:
        token = tokens[i % len(tokens)]
        browser, csrf = open_form(ports[i % 2], token)
        mine = Counter(
            submit_feedback(browser, ports[(i + n) % 2], token, csrf, n)
            for n in range(SUBMISSIONS // CLIENTS)
        )
        with lock:
            statuses.update(mine)

    with instances(database_url, **limits) as ports:
        threads = [threading.Thread(target=client, args=(i, ports)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        assert not any(thread.is_alive() for thread in threads), "clients still running"
    assert statuses == {303: SUBMISSIONS}, statuses
    assert count_responses(database_url) - before == SUBMISSIONS
