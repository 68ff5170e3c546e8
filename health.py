"""/healthz, for load balancers: whether this host can serve a visitor."""

from flask import Blueprint, current_app
from sqlalchemy.exc import SQLAlchemyError

health = Blueprint("health", __name__)


@health.route("/healthz")
def healthz():
    """200 when the database answers, 503 when it does not."""
    db = current_app.extensions["sqlalchemy"]
    try:
        db.session.execute(db.text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return {"status": "database unavailable"}, 503
    return {"status": "ok"}


def init_app(app):
    app.register_blueprint(health)
