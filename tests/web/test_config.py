import pytest

from app import create_app
from app.config import Config, ProductionConfig


def test_production_refuses_to_start_without_a_secret(monkeypatch):
    class NoSecret(ProductionConfig):
        SECRET_KEY = None

    with pytest.raises(RuntimeError, match="SECRET_KEY must be set"):
        create_app(NoSecret)


def test_production_uses_the_secret_from_the_environment():
    class WithSecret(ProductionConfig):
        SECRET_KEY = "from-the-environment"
        SQLALCHEMY_DATABASE_URI = "sqlite://"

    app = create_app(WithSecret)
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_development_generates_and_keeps_a_local_secret(tmp_path, monkeypatch):
    import app.config as config_module

    monkeypatch.setattr(config_module, "INSTANCE_DIR", tmp_path)

    class Dev(Config):
        SECRET_KEY = None
        SQLALCHEMY_DATABASE_URI = "sqlite://"

    first = create_app(Dev).config["SECRET_KEY"]
    second = create_app(Dev).config["SECRET_KEY"]
    assert first == second and len(first) == 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_the_public_forms_rate_limits_come_from_the_environment():
    import os
    import subprocess
    import sys

    code = (
        "from app.config import Config as C; "
        "print(C.FEEDBACK_RATELIMIT_PER_TOKEN, '|', C.FEEDBACK_RATELIMIT_VIEW)"
    )
    env = {**os.environ, "FEEDBACK_RATELIMIT_PER_TOKEN": "5 per minute"}
    env.pop("FEEDBACK_RATELIMIT_VIEW", None)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "5 per minute | 120 per minute"  # the setting, and a default
