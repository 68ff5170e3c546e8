"""How hrllo's log lines look: plain text (the default), or one JSON object a line.

gunicorn.conf.py gives logging_config() to gunicorn (its logconfig_dict setting), which
configures the standard logging module in the master before the workers start: gunicorn's
error log, its access log, and everything the app logs. HRLLO_LOG_FORMAT=json makes every
line a JSON object (python-json-logger) with its time, level and logger, and where they
apply the request id, method, path, status and duration. init_app(app) does the same for
`flask run`, where Flask's own handler writes the app's lines.
"""

import logging
import os

from flask import has_request_context, request
from flask.logging import default_handler
from pythonjsonlogger.json import JsonFormatter

import request_ids

FORMATS = ("text", "json")
# gunicorn's own text format, with the id of the request a line was written during.
TEXT_FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] [%(request_id)s] %(message)s"
TEXT_DATE_FORMAT = "[%Y-%m-%d %H:%M:%S %z]"
# gunicorn's "combined" access line, then the microseconds it took and the request's id,
# which the app answered with (nginx's, or the one the app made).
ACCESS_LOG_FORMAT = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)sus'
    " request_id=%({x-request-id}o)s"
)
# The JSON fields every line has, and the names they get.
JSON_FIELDS = ["levelname", "name", "message"]
JSON_NAMES = {"levelname": "level", "name": "logger"}


def log_format(environ=os.environ):
    """HRLLO_LOG_FORMAT: "text" (the default) or "json"."""
    value = (environ.get("HRLLO_LOG_FORMAT") or "text").strip().lower()
    if value not in FORMATS:
        raise ValueError(f"HRLLO_LOG_FORMAT must be text or json, not {value!r}")
    return value


class RequestFields(logging.Filter):
    """A line written while a request is served names that request (the logging cookbook's
    "Using Filters to impart contextual information")."""

    def filter(self, record):
        if has_request_context():
            record.request_id = request_ids.request_id()
            record.method = request.method
            record.path = request.path
        return True


request_fields = RequestFields()  # one for Flask's handler, however many apps are made


class AccessFields(logging.Filter):
    """gunicorn logs each request with its atoms (access_log_format's names) as the
    arguments: they become fields of their own, for the JSON lines."""

    def filter(self, record):
        if isinstance(record.args, dict):
            atoms = record.args
            record.request_id = atoms["{x-request-id}o"]
            record.method = atoms["m"]
            record.path = atoms["U"]
            record.status = int(atoms["s"])
            record.duration_ms = atoms["D"] / 1000
            record.remote_addr = atoms["h"]
        return True


def line_formatter(log_format):
    """How a line of gunicorn's error log or of the app looks."""
    if log_format == "json":
        # ISO 8601 times in UTC; every attribute a filter added becomes a field.
        return JsonFormatter(JSON_FIELDS, rename_fields=JSON_NAMES, timestamp="time")
    return logging.Formatter(TEXT_FORMAT, TEXT_DATE_FORMAT, defaults={"request_id": "-"})


def access_formatter(log_format):
    """How a line of gunicorn's access log looks: access_log_format says it all in text."""
    if log_format == "json":
        return line_formatter(log_format)
    return logging.Formatter("%(message)s")


def access_handler(access_log):
    """HRLLO_ACCESS_LOG: "-" (the default) for stdout, or a file to append to."""
    if access_log in (None, "", "-"):
        return {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}
    # Reopened when logrotate moves it away.
    return {"class": "logging.handlers.WatchedFileHandler", "filename": access_log}


def logging_config(log_format="text", access_log="-"):
    """The standard logging module's configuration (logging.config.dictConfig), which
    gunicorn takes as logconfig_dict."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request": {"()": RequestFields},
            "access": {"()": AccessFields},
        },
        "formatters": {
            "lines": {"()": line_formatter, "log_format": log_format},
            "access": {"()": access_formatter, "log_format": log_format},
        },
        "handlers": {
            "lines": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "lines",
                "filters": ["request"],
            },
            "access": {**access_handler(access_log), "formatter": "access", "filters": ["access"]},
        },
        # The app's lines reach the root logger; gunicorn's error log has the same handler.
        "root": {"level": "INFO", "handlers": ["lines"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["lines"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
            "alembic": {"level": "WARNING"},  # not which plugins it loads at each start
        },
    }


def init_app(app):
    """Under `flask run` no one configures logging and Flask's own handler writes the app's
    lines: they get the same format and request fields as under gunicorn."""
    if default_handler in app.logger.handlers:
        default_handler.setFormatter(line_formatter(log_format()))
        default_handler.addFilter(request_fields)
