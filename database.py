"""How the app's database connections behave, beyond what Flask-SQLAlchemy sets, and what
a visitor is told when the database has no room to write."""

import os
import sqlite3

from flask import current_app
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import ServiceUnavailable

# The write-ahead log is checkpointed into the database every WAL_CHECKPOINT_PAGES pages
# (SQLite's default is 1,000: 4 MB, some 500 names), and cut back to WAL_SIZE_LIMIT after
# each checkpoint, so that it never holds more than a small disk can spare.
WAL_CHECKPOINT_PAGES = 64
WAL_SIZE_LIMIT = 512 * 1024
# PostgreSQL's SQLSTATE for "could not extend file ... No space left on device".
POSTGRES_DISK_FULL = "53100"


def configure_sqlite(dbapi_connection, connection_record):
    """Make every SQLite connection safe for a multi-worker server."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")  # SQLite ignores FOREIGN KEY otherwise
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA busy_timeout=5000")  # wait for the write lock, do not fail
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode, one fsync per checkpoint
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    cursor.close()


def is_disk_full(error):
    """Whether a database error says that the disk (or the database's limit) is full."""
    original = getattr(error, "orig", None)
    return (
        getattr(original, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        or getattr(original, "sqlstate", None) == POSTGRES_DISK_FULL
    )


def disk_full(error):
    """A write the database had no room for: the 503 page, and one log line that says why."""
    if not is_disk_full(error):
        raise error  # any other database error is a bug or an outage: the 500 page, logged
    current_app.logger.error(
        "The database has no room to write (%s): free space on its disk; nothing was saved",
        error.orig,
    )
    return current_app.handle_http_exception(
        ServiceUnavailable("The database has no room to write new names")
    )


def can_take_a_write(connection):
    """Whether the database of connection can take a write now: (True, "ok") or (False, why
    not). SQLite: the database's folder is writable and has room for a full write-ahead log.
    PostgreSQL: the server is not a read-only standby and the session is not read-only.
    """
    if connection.dialect.name == "sqlite":
        folder = os.path.dirname(os.path.abspath(connection.engine.url.database or "."))
        if not os.access(folder, os.W_OK):
            return False, f"{folder} is not writable"
        stat = os.statvfs(folder)
        free = stat.f_bavail * stat.f_frsize
        if free < 2 * WAL_SIZE_LIMIT:
            return False, f"only {free} bytes free on the database's disk"
        return True, "ok"
    read_only = connection.exec_driver_sql(
        "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'"
    ).scalar()
    return (False, "the database is read-only") if read_only else (True, "ok")


def init_app(app):
    db = app.extensions["sqlalchemy"]
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", configure_sqlite)
    app.register_error_handler(OperationalError, disk_full)
