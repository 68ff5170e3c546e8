"""What each host counts, for Prometheus: requests and their duration, names stored,
greetings, database errors. /metrics on the host's own port serves them (nginx answers 404
for it); what each one means and which alerts to set: docs/operations.md.

Under gunicorn every worker writes its counts to files in PROMETHEUS_MULTIPROC_DIR, and
/metrics adds up the files of all the host's workers, alive or dead (prometheus-client's
multiprocess mode; gunicorn.conf.py sets the folder and empties it at start). Without that
variable (`flask run`, the tests), the one process counts in memory.

The counting is hooked in here (Flask signals and hooks, SQLAlchemy session events): the
views stay as the book writes them.
"""

import os
import time

from flask import Blueprint, g, got_request_exception, request, request_started, session
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError

REQUESTS = Counter(
    "hrllo_requests",
    "Requests the app answered, by endpoint (the view; none: no page there), method, status.",
    ["endpoint", "method", "status"],
)
REQUEST_DURATION = Histogram(
    "hrllo_request_duration_seconds",
    "Time the app took to answer a request, by endpoint.",
    ["endpoint"],
)
NAMES_STORED = Counter("hrllo_names_stored", "New names committed to the database.")
GREETINGS = Counter(
    "hrllo_greetings",
    "Names accepted from the form, by whether the visitor was known or new.",
    ["visitor"],
)
DATABASE_ERRORS = Counter(
    "hrllo_database_errors",
    "Requests that failed on a database error: the visitor got the 500 page.",
)

# Any other method is counted as "other": a client cannot make up new series.
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

blueprint = Blueprint("metrics", __name__)


@blueprint.route("/metrics")
def metrics():
    """Prometheus's text format: this host's counts, summed over its workers."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        # A new registry per scrape, as prometheus-client's multiprocess docs show.
        registry = CollectorRegistry(support_collectors_without_names=True)
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), {"Content-Type": CONTENT_TYPE_LATEST}


def start_timer(sender, **extra):
    g.request_started = time.perf_counter()


def count_request(response):
    endpoint = request.endpoint or "none"
    if endpoint == "metrics.metrics":
        return response  # a scrape is not a visit
    method = request.method if request.method in METHODS else "other"
    REQUESTS.labels(endpoint, method, response.status_code).inc()
    REQUEST_DURATION.labels(endpoint).observe(time.perf_counter() - g.request_started)
    # The view greets an accepted name with a redirect, having noted whether it was known.
    if endpoint == "main.index" and method == "POST" and response.status_code == 303:
        GREETINGS.labels("known" if session.get("known") else "new").inc()
    return response


def count_database_error(sender, exception, **extra):
    if isinstance(exception, SQLAlchemyError):
        DATABASE_ERRORS.inc()


# A name is stored once its transaction commits: noted at the flush, counted at the commit.
def note_new_names(db_session, flush_context):
    new = sum(getattr(row, "__tablename__", None) == "users" for row in db_session.new)
    if new:
        db_session.info["new_names"] = db_session.info.get("new_names", 0) + new


def count_names_stored(db_session):
    if new := db_session.info.pop("new_names", 0):
        NAMES_STORED.inc(new)


def forget_new_names(db_session):
    db_session.info.pop("new_names", None)


SESSION_EVENTS = {
    "after_flush": note_new_names,
    "after_commit": count_names_stored,
    "after_rollback": forget_new_names,
}


def init_app(app):
    """After Flask-SQLAlchemy's init_app: the session's events count the names stored."""
    app.register_blueprint(blueprint)
    request_started.connect(start_timer, app)
    app.after_request(count_request)
    got_request_exception.connect(count_database_error, app)
    database_session = app.extensions["sqlalchemy"].session  # one for every app made
    for name, listener in SESSION_EVENTS.items():
        if not event.contains(database_session, name, listener):
            event.listen(database_session, name, listener)
    for visitor in ("known", "new"):  # both series exist from the start, at 0
        GREETINGS.labels(visitor)
