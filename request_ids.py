"""One id per request, so that one visitor's request can be found in every log.

nginx makes the id ($request_id) and passes it in X-Request-ID; a host reached without
nginx makes its own. Either way the app answers with it in X-Request-ID (gunicorn's access
log reads it there), every log line written during the request carries it (logs.py), and
the 500 page shows it, for the visitor to quote. How to follow one: docs/operations.md.
"""

import re
import secrets

from flask import g, got_request_exception, request

HEADER = "X-Request-ID"
# What a client may send as its own id: short and plain, so that it cannot write into a log
# line (no spaces, quotes, newlines or escape sequences); anything else gets a new id.
ACCEPTED = re.compile(r"[A-Za-z0-9-]{1,64}")


def request_id():
    """The id of the request being served: the one sent in X-Request-ID when it is plain,
    else a new one (32 hex digits, as nginx makes them)."""
    if "request_id" not in g:
        sent = request.headers.get(HEADER, "")
        g.request_id = sent if ACCEPTED.fullmatch(sent) else secrets.token_hex(16)
    return g.request_id


def add_request_id_header(response):
    response.headers[HEADER] = request_id()
    return response


def remember_failure(sender, exception, **extra):
    """An exception no handler caught: the visitor gets the 500 page, with the id to quote."""
    g.failed_request_id = request_id()


def failed_request_id():
    return {"failed_request_id": g.get("failed_request_id")}


def init_app(app):
    app.after_request(add_request_id_header)
    got_request_exception.connect(remember_failure, app)
    app.context_processor(failed_request_id)
