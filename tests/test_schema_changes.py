"""Changing the schema while the site serves (docs/schema-changes.md), on PostgreSQL.

The worked example: users get an optional email (tests/release_with_email.py). A migration
that would wait for a lock stops soon, in one line, instead of keeping visitors waiting
behind it.
"""

import shutil
import time

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from deploy.hosts import PROJECT, run_project_command

MIGRATIONS = PROJECT / "migrations"
HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()
RELEASE_WITH_EMAIL = "tests.release_with_email"


def flask(*args, database_url, env=None, timeout=60):
    """`flask ARGS`, typed in the project folder with DATABASE_URL=database_url."""
    return run_project_command(
        ["flask", *args],
        env={"DATABASE_URL": database_url, "SECRET_KEY": "test", **(env or {})},
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def migrations(tmp_path_factory):
    """hrllo's migrations (a copy) and the revision `flask db migrate` writes for the release
    with email: the expand step. Returns the folder and that revision's id."""
    folder = tmp_path_factory.mktemp("schema-change")
    shutil.copytree(MIGRATIONS, folder / "migrations")
    scratch = "sqlite:///" + str(folder / "scratch.sqlite")  # at head, to compare the models with
    for args in (
        ["db", "upgrade"],
        ["--app", RELEASE_WITH_EMAIL, "db", "migrate", "-m", "users get an optional email"],
    ):
        result = flask(*args, "--directory", folder / "migrations", database_url=scratch)
        assert result.returncode == 0, result.stderr
    return folder / "migrations", ScriptDirectory(str(folder / "migrations")).get_current_head()


def users_table(database_url):
    """The columns of users, the file that holds the table, and the schema's revision."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            columns = [column["name"] for column in inspect(conn).get_columns("users")]
            table_file = conn.execute(text("SELECT pg_relation_filenode('users')")).scalar()
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            return columns, table_file, revision
    finally:
        engine.dispose()


# --- A migration never keeps the site waiting for long ------------------------------------


@pytest.mark.parametrize(
    "limits, stopped",
    [
        (
            {"MIGRATION_LOCK_TIMEOUT": "1s"},
            "waited longer than MIGRATION_LOCK_TIMEOUT=1s for a lock that another"
            " transaction holds",
        ),
        (
            {"MIGRATION_LOCK_TIMEOUT": "0", "MIGRATION_STATEMENT_TIMEOUT": "1s"},
            "ran a statement for longer than MIGRATION_STATEMENT_TIMEOUT=1s",
        ),
    ],
    ids=["lock_timeout", "statement_timeout"],
)
def test_a_migration_blocked_by_a_lock_stops_soon_and_changes_nothing(
    postgres_url, migrations, limits, stopped
):
    folder, _ = migrations
    assert flask("db", "upgrade", database_url=postgres_url).returncode == 0
    before = users_table(postgres_url)
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as long_report:
            # A transaction still open after reading users (a report, a forgotten shell)
            # holds a lock that adding a column must wait for.
            long_report.execute(text("SELECT count(*) FROM users"))
            started = time.monotonic()
            result = flask(
                "db",
                "upgrade",
                "--directory",
                folder,
                database_url=postgres_url,
                env=limits,
                timeout=20,  # without a limit it would wait for as long as the lock is held
            )
            took = time.monotonic() - started
            long_report.rollback()
    finally:
        engine.dispose()

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"Error: the migration {stopped}, and was stopped: nothing was changed."
        " Run it again later (docs/schema-changes.md)"
    )
    assert "Traceback" not in result.stderr
    assert took < 10  # flask's start, then a second of waiting
    assert users_table(postgres_url) == before
    # Once the lock is free, the same command goes through (the migration lock was released).
    assert flask("db", "upgrade", "--directory", folder, database_url=postgres_url).returncode == 0
    assert users_table(postgres_url)[0][-1] == "email"
