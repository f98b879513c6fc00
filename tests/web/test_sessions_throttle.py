"""Sign-in throttling per account and per address, counted where every worker counts."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from app import create_app
from app.config import BASE_DIR, ProductionConfig, TestConfig, check_rate_limit_storage
from app.extensions import db
from app.models import Role
from tests.conftest import PASSWORD

REDIS_TEST_URL = "redis://127.0.0.1:6379/3"


class ThrottledConfig(TestConfig):
    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    LOGIN_RATELIMIT_PER_ACCOUNT = "3 per 15 minutes"
    LOGIN_RATELIMIT_PER_ADDRESS = "6 per 15 minutes"


@pytest.fixture
def throttled(app):
    """The test app, re-bound to a limiter that counts (in memory, fresh for each test)."""
    from app.extensions import limiter

    for key, value in vars(ThrottledConfig).items():
        if key.isupper():
            app.config[key] = value
    app.config["RATELIMIT_KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    limiter.init_app(app)
    yield app
    app.config["RATELIMIT_ENABLED"] = False
    limiter.init_app(app)


def _attempt(client, email, password="wrong-password-1", address="203.0.113.7"):
    return client.post(
        "/auth/login",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def test_the_account_limit_blocks_that_account_but_not_a_colleague_behind_the_same_address(
    throttled, make_user
):
    target, colleague = make_user(Role.ANALYST), make_user(Role.ANALYST)
    db.session.commit()
    client = throttled.test_client()
    for _ in range(3):
        assert _attempt(client, target.email).status_code == 200
    refused = _attempt(client, target.email, password=PASSWORD)  # even the right password
    assert refused.status_code == 429
    assert "Too many failed sign-ins for this account." in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 0
    # another account from the very same address signs in at once
    colleague_browser = throttled.test_client()
    assert _attempt(colleague_browser, colleague.email, password=PASSWORD).status_code == 302


def test_the_account_limit_holds_whatever_address_the_guesses_come_from(throttled, make_user):
    target = make_user(Role.ANALYST)
    db.session.commit()
    client = throttled.test_client()
    for n in range(3):
        _attempt(client, target.email, address=f"198.51.100.{n}")
    assert _attempt(client, target.email, address="198.51.100.99").status_code == 429


def test_the_address_limit_slows_one_machine_trying_many_accounts(throttled):
    client = throttled.test_client()
    for n in range(6):
        assert _attempt(client, f"guess{n}@example.com").status_code == 200
    refused = _attempt(client, "guess99@example.com")
    assert refused.status_code == 429
    assert "Too many failed sign-ins from your network." in refused.get_data(as_text=True)
    assert _attempt(client, "guess99@example.com", address="192.0.2.1").status_code == 200


def test_a_successful_sign_in_clears_its_accounts_count(throttled, make_user):
    user = make_user(Role.ANALYST)
    db.session.commit()
    client = throttled.test_client()
    for _ in range(2):
        _attempt(client, user.email)
    assert _attempt(client, user.email, password=PASSWORD).status_code == 302
    client.post("/auth/logout")
    for _ in range(2):
        assert _attempt(client, user.email).status_code == 200  # counted from zero again


def test_an_unknown_account_is_throttled_like_a_known_one(throttled):
    client = throttled.test_client()
    for _ in range(3):
        _attempt(client, "nobody@example.com")
    assert _attempt(client, "nobody@example.com").status_code == 429


def test_an_unreachable_limit_storage_does_not_lock_everyone_out(
    app, make_user, caplog, monkeypatch
):
    from app.auth import throttle
    from app.extensions import limiter

    # alembic's logging setup (tests/web/test_migrations.py) disables loggers made before it
    monkeypatch.setattr(throttle.logger, "disabled", False)

    app.config.update(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/3")
    limiter.init_app(app)
    try:
        user = make_user(Role.ANALYST)
        db.session.commit()
        assert _attempt(app.test_client(), user.email, password=PASSWORD).status_code == 302
        assert "rate-limit storage does not answer" in caplog.text
    finally:
        app.config["RATELIMIT_ENABLED"] = False
        limiter.init_app(app)


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


SECOND_PROCESS = """
import sys
from app import create_app
from app.config import TestConfig

class Shared(TestConfig):
    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = sys.argv[1]
    RATELIMIT_KEY_PREFIX = sys.argv[2]
    LOGIN_RATELIMIT_PER_ACCOUNT = "3 per 15 minutes"

response = create_app(Shared).test_client().post(
    "/auth/login", data={"email": sys.argv[3], "password": "whatever-it-is"}
)
print(response.status_code)
"""


@pytest.mark.skipif(not _redis_reachable(), reason="Redis is not reachable on 127.0.0.1:6379")
def test_failures_counted_by_one_process_hold_in_another_through_redis(app, make_user):
    """Two worker processes, one Redis: the third failure in this process blocks the account
    in a separate Python process (as it would in a second gunicorn worker or server)."""
    import redis

    from app.extensions import limiter

    prefix = f"rollwise-test-{uuid.uuid4().hex}"
    app.config.update(
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=REDIS_TEST_URL,
        RATELIMIT_KEY_PREFIX=prefix,
        LOGIN_RATELIMIT_PER_ACCOUNT="3 per 15 minutes",
    )
    limiter.init_app(app)
    store = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        user = make_user(Role.ANALYST)
        db.session.commit()
        for _ in range(3):
            assert _attempt(app.test_client(), user.email).status_code == 200
        assert any(prefix in key.decode() for key in store.keys("*"))  # the count is in Redis
        other = subprocess.run(
            [sys.executable, "-c", SECOND_PROCESS, REDIS_TEST_URL, prefix, user.email],
            cwd=BASE_DIR,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert other.stdout.strip().splitlines()[-1] == "429"
    finally:
        for key in store.keys("*"):
            if prefix in key.decode():
                store.delete(key)
        app.config["RATELIMIT_ENABLED"] = False
        limiter.init_app(app)


def test_limits_are_kept_in_redis_when_redis_url_is_set():
    env = {k: v for k, v in os.environ.items() if k != "RATELIMIT_STORAGE_URI"}
    env["REDIS_URL"] = "redis://cache.internal:6379/0"
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from app.config import Config; print(Config.RATELIMIT_STORAGE_URI)",
        ],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert shown.stdout.strip() == "redis://cache.internal:6379/0"


@pytest.mark.parametrize(
    ("environ", "refused"),
    [
        ({"WEB_CONCURRENCY": "2"}, True),
        ({"GUNICORN_WORKERS": "4"}, True),
        ({"GUNICORN_CMD_ARGS": "--bind 0.0.0.0:8000 -w 3"}, True),
        ({"GUNICORN_CMD_ARGS": "--workers=2"}, True),
        ({"WEB_CONCURRENCY": "1"}, False),
        ({}, False),
    ],
)
def test_production_refuses_in_memory_limits_with_several_workers(environ, refused):
    config = {"ENV_NAME": "production", "RATELIMIT_STORAGE_URI": "memory://"}
    if refused:
        with pytest.raises(RuntimeError, match="set REDIS_URL or RATELIMIT_STORAGE_URI"):
            check_rate_limit_storage(config, environ)
    else:
        check_rate_limit_storage(config, environ)
    shared = {**config, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0"}
    check_rate_limit_storage(shared, environ)  # a shared store is always fine
    check_rate_limit_storage({**config, "ENV_NAME": "development"}, environ)


def test_a_production_app_with_two_workers_and_memory_limits_does_not_start(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "2")

    class TwoWorkers(ProductionConfig):
        SECRET_KEY = "a-production-secret"
        SQLALCHEMY_DATABASE_URI = "sqlite://"
        RATELIMIT_STORAGE_URI = "memory://"

    with pytest.raises(RuntimeError, match="2 workers are configured"):
        create_app(TwoWorkers)


def test_session_lifetimes_come_from_the_environment(monkeypatch):
    from datetime import timedelta

    from app.config import _seconds_from_env

    monkeypatch.setenv("PERMANENT_SESSION_LIFETIME", "3600")
    assert _seconds_from_env("PERMANENT_SESSION_LIFETIME", timedelta(hours=12)) == timedelta(
        hours=1
    )
    monkeypatch.setenv("PERMANENT_SESSION_LIFETIME", "12h")
    with pytest.raises(RuntimeError, match="positive number of seconds"):
        _seconds_from_env("PERMANENT_SESSION_LIFETIME", timedelta(hours=12))
    assert TestConfig.PERMANENT_SESSION_LIFETIME == timedelta(hours=12)
    assert TestConfig.REMEMBER_COOKIE_DURATION == timedelta(days=14)
