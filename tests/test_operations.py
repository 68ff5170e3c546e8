"""What an operator sees of the app: request ids, log lines, metrics, liveness and readiness."""

import json
import logging
import logging.config
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

import logs
from hrllo import create_app, db

NEW_ID = re.compile(r"[0-9a-f]{32}")


# --- Request ids ----------------------------------------------------------------------


def test_each_request_gets_an_id_of_its_own(client):
    first, second = (client.get("/").headers["X-Request-ID"] for _ in range(2))
    assert NEW_ID.fullmatch(first) and NEW_ID.fullmatch(second)
    assert first != second


@pytest.mark.parametrize("sent", ["4f1c-a9", "nginx-made-0123456789abcdef", "A" * 64])
def test_a_short_plain_id_from_the_proxy_is_kept(client, sent):
    assert client.get("/", headers={"X-Request-ID": sent}).headers["X-Request-ID"] == sent


@pytest.mark.parametrize(
    "sent",
    ["A" * 65, "two words", 'x" status=200', "id\x1b[31m", "a_b", "naïve", "a/../b", ""],
)
def test_any_other_id_is_replaced_so_it_cannot_write_into_the_logs(client, sent):
    answered = client.get("/", headers={"X-Request-ID": sent}).headers["X-Request-ID"]
    assert NEW_ID.fullmatch(answered)


def failing_route(app):
    """A view that fails on the database, as it does while the database is down."""
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/fails-on-the-database")
    def fails_on_the_database():
        db.session.execute(text("SELECT * FROM no_such_table"))

    return "/fails-on-the-database"


def test_the_500_page_shows_the_request_id_to_quote(app, client):
    response = client.get(failing_route(app))
    assert response.status_code == 500
    request_id = response.headers["X-Request-ID"]
    assert f"<code>{request_id}</code>" in response.get_data(as_text=True)


def test_other_pages_show_no_request_id(client):
    assert "request id" not in client.get("/no-such-page").get_data(as_text=True)


# --- Log lines ------------------------------------------------------------------------


@pytest.fixture
def configure_logging():
    """Configures logging as gunicorn does with gunicorn.conf.py's logconfig_dict, then makes
    the app, as a worker does; puts the loggers back after."""
    names = [None, "gunicorn.error", "gunicorn.access", "alembic", "hrllo"]
    saved = [(logger, logger.handlers[:], logger.level) for logger in map(logging.getLogger, names)]

    def configure(log_format):
        logging.config.dictConfig(logs.logging_config(log_format))
        # In a worker the app's logger has no handler of its own (Flask adds one only when
        # logging is not configured); here an earlier test's app left Flask's on it.
        logging.getLogger("hrllo").handlers.clear()
        app = create_app(
            {"SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True}
        )
        return app.test_client(), failing_route(app)

    yield configure
    for logger, handlers, level in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)


def test_json_lines_name_the_request_they_were_written_during(configure_logging, capsys):
    client, fails = configure_logging("json")
    response = client.get(fails, headers={"X-Request-ID": "quoted-by-a-visitor"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert response.status_code == 500
    (error,) = [line for line in lines if line.get("request_id") == "quoted-by-a-visitor"]
    assert (error["level"], error["logger"]) == ("ERROR", "hrllo")
    assert (error["method"], error["path"]) == ("GET", fails)
    assert "no_such_table" in error["exc_info"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", error["time"])


def test_text_lines_name_the_request_too(configure_logging, capsys):
    client, fails = configure_logging("text")
    request_id = client.get(fails).headers["X-Request-ID"]
    (line,) = capsys.readouterr().err.splitlines()[:1]
    assert re.fullmatch(
        rf"\[[-0-9 :+]+\] \[\d+\] \[ERROR\] \[{request_id}\] Exception on {fails} \[GET\]", line
    )


def test_lines_outside_any_request_are_json_too(configure_logging, capsys):
    configure_logging("json")
    logging.getLogger("gunicorn.error").info("Booting worker with pid: %s", 42)
    (line,) = map(json.loads, capsys.readouterr().err.splitlines())
    assert line["message"] == "Booting worker with pid: 42"
    assert "request_id" not in line


def test_under_flask_run_the_apps_lines_name_the_request_too(client, capsys):
    client.application.config["PROPAGATE_EXCEPTIONS"] = False
    fails = failing_route(client.application)
    request_id = client.get(fails).headers["X-Request-ID"]
    assert f"[ERROR] [{request_id}] Exception on {fails}" in capsys.readouterr().err


def test_an_unknown_log_format_is_refused_in_one_line():
    with pytest.raises(ValueError, match="HRLLO_LOG_FORMAT must be text or json, not 'xml'"):
        logs.log_format({"HRLLO_LOG_FORMAT": "xml"})


# --- Metrics ---------------------------------------------------------------------------


def metric(client, name, **labels):
    """One sample of the app's /metrics, as Prometheus reads it (0 when it is absent)."""
    page = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0


def test_requests_are_counted_by_endpoint_method_and_status(client):
    page = {"endpoint": "main.index", "method": "GET", "status": "200"}
    missing = {"endpoint": "none", "method": "GET", "status": "404"}
    made_up = {"endpoint": "none", "method": "other", "status": "405"}
    before = [
        metric(client, "hrllo_requests_total", **labels) for labels in (page, missing, made_up)
    ]
    durations = metric(client, "hrllo_request_duration_seconds_count", endpoint="main.index")
    for _ in range(3):
        client.get("/")
    client.get("/no-such-page")
    client.open("/", method="BREW")  # a method nobody knows counts as "other"
    after = [
        metric(client, "hrllo_requests_total", **labels) for labels in (page, missing, made_up)
    ]
    assert [b - a for a, b in zip(before, after, strict=True)] == [3, 1, 1]
    scrapes = {"endpoint": "metrics.metrics", "method": "GET", "status": "200"}
    assert metric(client, "hrllo_requests_total", **scrapes) == 0  # not visits
    assert metric(client, "hrllo_request_duration_seconds_count", endpoint="main.index") == (
        durations + 3
    )


def test_greetings_are_counted_as_known_or_new_and_new_names_as_stored(client, greeter):
    def counts():
        return [
            metric(client, "hrllo_greetings_total", visitor="new"),
            metric(client, "hrllo_greetings_total", visitor="known"),
            metric(client, "hrllo_names_stored_total"),
        ]

    before = counts()
    greeter.submit("Ada")
    greeter.submit("Ada")
    greeter.submit("Grace")
    greeter.submit("")  # refused: no greeting, nothing stored
    assert [b - a for a, b in zip(before, counts(), strict=True)] == [2, 1, 2]


def test_a_request_that_fails_on_the_database_is_counted(app, client, greeter):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    errors, stored = (
        metric(client, name) for name in ("hrllo_database_errors_total", "hrllo_names_stored_total")
    )
    with app.app_context():  # the table is gone, as if the database had lost it
        db.session.execute(text("DROP TABLE users"))
        db.session.commit()
    assert greeter.submit("Ada").status_code == 500
    assert metric(client, "hrllo_database_errors_total") == errors + 1
    assert metric(client, "hrllo_names_stored_total") == stored


# --- Liveness and readiness -----------------------------------------------------------


def test_livez_answers_without_a_database_and_readyz_says_it_is_missing(monkeypatch):
    # A PostgreSQL address where nothing listens: the database is down.
    monkeypatch.setenv("DATABASE_URL", "postgresql://hrllo@127.0.0.1:1/hrllo")
    monkeypatch.setenv("SECRET_KEY", "test")
    client = create_app().test_client()
    assert client.get("/livez").json == {"status": "ok"}
    for address in ("/readyz", "/healthz"):
        response = client.get(address)
        assert (response.status_code, response.json) == (503, {"status": "database unavailable"})


def test_readyz_answers_when_the_database_does(client):
    for address in ("/livez", "/readyz", "/healthz"):
        assert client.get(address).json == {"status": "ok"}
