"""Every request and every unexpected error leaves one structured log line with a request id."""

from __future__ import annotations

import io
import json
import logging

import pytest

from app import create_app
from app.config import TestConfig
from app.core.logging import JsonFormatter, RequestContextFilter, make_handler
from app.extensions import db


class ErrorPagesConfig(TestConfig):
    """The test suite's app, but answering unexpected errors with the 500 page as in
    production (instead of raising them into the test)."""

    PROPAGATE_EXCEPTIONS = False


@pytest.fixture
def failing_app():
    app = create_app(ErrorPagesConfig)

    @app.route("/boom")
    def boom():
        raise RuntimeError("the flux capacitor melted")

    @app.route("/api/v1/boom")
    def api_boom():
        raise RuntimeError("the API melted")

    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


def json_lines(caplog, logger: str) -> list[dict]:
    """The records of ``logger`` as the JSON lines the handler writes."""
    formatter, context = JsonFormatter(), RequestContextFilter()
    lines = []
    for record in caplog.records:
        if record.name == logger:
            context.filter(record)
            lines.append(json.loads(formatter.format(record)))
    return lines


def test_every_request_is_logged_with_its_id_and_the_id_is_echoed(client, caplog):
    caplog.set_level(logging.INFO, logger="rollwise.request")
    response = client.get("/healthz")
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) == 32
    (line,) = json_lines(caplog, "rollwise.request")
    assert line["request_id"] == request_id
    assert line["event"] == "request"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/healthz", 200)
    assert line["level"] == "INFO" and line["duration_ms"] >= 0


def test_a_sane_incoming_request_id_is_kept_and_an_insane_one_replaced(client):
    kept = client.get("/healthz", headers={"X-Request-ID": "lb-1234.abc:7"})
    assert kept.headers["X-Request-ID"] == "lb-1234.abc:7"
    for hostile in ("x" * 200, "a b", "<script>", "id\u00e9"):
        replaced = client.get("/healthz", headers={"X-Request-ID": hostile})
        assert replaced.headers["X-Request-ID"] != hostile
        assert len(replaced.headers["X-Request-ID"]) == 32


def test_an_unexpected_error_is_logged_with_traceback_and_the_page_quotes_its_id(
    failing_app, caplog
):
    caplog.set_level(logging.INFO)
    response = failing_app.test_client().get("/boom", headers={"X-Request-ID": "ref-42"})
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "quote this reference: ref-42" in page
    assert response.headers["X-Request-ID"] == "ref-42"
    (line,) = json_lines(caplog, "rollwise.error")
    assert line["request_id"] == "ref-42"
    assert line["event"] == "unhandled_exception"
    assert line["level"] == "ERROR"
    assert line["path"] == "/boom" and line["error_type"] == "RuntimeError"
    assert "Traceback" in line["exception"]
    assert "the flux capacitor melted" in line["exception"]
    (request_line,) = json_lines(caplog, "rollwise.request")
    assert (request_line["status"], request_line["request_id"]) == (500, "ref-42")


def test_an_api_500_carries_the_request_id_in_the_error_shape(failing_app):
    response = failing_app.test_client().get("/api/v1/boom", headers={"X-Request-ID": "api-7"})
    assert response.status_code == 500
    error = response.get_json()["error"]
    assert error["request_id"] == "api-7"
    assert error["code"] == "internal_server_error"
    assert "the API melted" not in response.get_data(as_text=True)


def test_the_json_formatter_writes_one_line_per_event_with_extra_fields():
    stream = io.StringIO()
    logger = logging.getLogger("rollwise.test-json")
    handler = make_handler("json", stream)
    logger.addHandler(handler)
    try:
        logger.warning("two\nlines", extra={"pilot_id": 3})
        try:
            raise ValueError("inner")
        except ValueError:
            logger.exception("caught")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "two\nlines" and first["pilot_id"] == 3
    assert first["request_id"] == "-"
    assert "ValueError: inner" in second["exception"]


def test_text_format_and_level_are_settings(monkeypatch):
    class TextConfig(TestConfig):
        LOG_FORMAT = "text"
        LOG_LEVEL = "warning"

    app = create_app(TextConfig)
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "rollwise-structured")
    assert not isinstance(handler.formatter, JsonFormatter)
    assert logging.getLogger().level == logging.WARNING
    assert app.logger.handlers == []
    create_app(TestConfig)  # back to the suite's settings
    handlers = [h for h in logging.getLogger().handlers if h.get_name() == "rollwise-structured"]
    assert len(handlers) == 1  # a second app replaces the handler, never doubles it


@pytest.mark.parametrize("setting", [{"LOG_FORMAT": "xml"}, {"LOG_LEVEL": "LOUD"}])
def test_a_bad_log_setting_refuses_to_start(setting):
    config = type("BadLogConfig", (TestConfig,), setting)
    with pytest.raises(RuntimeError, match="LOG_"):
        create_app(config)
