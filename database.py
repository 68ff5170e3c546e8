"""How the app's database connections behave, beyond what Flask-SQLAlchemy sets."""

from sqlalchemy import event


def configure_sqlite(dbapi_connection, connection_record):
    """Make every SQLite connection safe for a multi-worker server."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")  # SQLite ignores FOREIGN KEY otherwise
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA busy_timeout=5000")  # wait for the write lock, do not fail
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode, one fsync per checkpoint
    cursor.close()


def init_app(app):
    db = app.extensions["sqlalchemy"]
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", configure_sqlite)
