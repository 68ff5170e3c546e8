"""Is this host alive, and is it ready for visitors? Two questions, two answers.

/livez: the process answers requests; it never touches the database, so a database restart
never makes a container platform restart every host. /readyz (and /healthz, its old name):
the database answers too; a load balancer sends visitors only to a host that says so.
Which probe uses which: docs/operations.md.
"""

from flask import Blueprint, current_app
from sqlalchemy.exc import SQLAlchemyError

from database import can_take_a_write

health = Blueprint("health", __name__)


@health.route("/livez")
def livez():
    """For a liveness probe: 200 whenever a worker can answer at all."""
    return {"status": "ok"}


@health.route("/healthz")  # its old name, for whatever already probes it
@health.route("/readyz")
def readyz():
    """For load balancers: 200 when the database answers and can take a write, else 503."""
    db = current_app.extensions["sqlalchemy"]
    try:
        # The request's own connection: a worker's pool may hold only one.
        writable, reason = can_take_a_write(db.session.connection())
    except SQLAlchemyError:
        db.session.rollback()
        return {"status": "database unavailable"}, 503
    if not writable:
        return {"status": reason}, 503
    return {"status": "ok"}


def init_app(app):
    app.register_blueprint(health)
