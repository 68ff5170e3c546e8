"""Changing the schema while the site serves (docs/schema-changes.md), on PostgreSQL.

The worked example: users get an optional email (tests/topology/release_with_email.py). Under
visitors through nginx, its expand migration runs, then one host gets the new code and
serves beside the other, still on the old; rolling back is the same in reverse: that
host's code first, then the downgrade. And a migration that would wait for a lock stops
soon, in one line, instead of keeping visitors waiting behind it.
"""

import re
import shutil
import time

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from deploy.hosts import PROJECT, run_project_command
from deploy.stack import stack
from scripts.load import load_report, run_clients, stored_usernames
from tests.support import another_postgres_database
from tests.topology.support import require_nginx

MIGRATIONS = PROJECT / "migrations"
HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()
RELEASE_WITH_EMAIL = "tests.topology.release_with_email"


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


# --- Expand, and its downgrade, under visitors --------------------------------------------

# Host 2 serves release:app from a folder of its own: a deploy writes the release's code
# there and reloads gunicorn (SIGHUP), whose new workers import it.
OLD_CODE = "from hrllo import app\n"
NEW_CODE = f"from {RELEASE_WITH_EMAIL} import app\n"


@pytest.fixture(scope="module")
def host_2_code(tmp_path_factory):
    folder = tmp_path_factory.mktemp("host-2-code")
    (folder / "release.py").write_text(OLD_CODE)
    return folder


def deploy(host, folder, code):
    (folder / "release.py").write_text(code)
    host.reload()  # returns once every worker runs the new code


@pytest.fixture(scope="module")
def front(postgres_server_url, host_2_code):
    """The stack, on a database of its own: nginx in front of host 1, always on the old
    code, and host 2, whose code each test deploys."""
    require_nginx()
    with (
        another_postgres_database(postgres_server_url) as database_url,
        stack(database_url) as running,
    ):
        host_2 = running.hosts[1]
        host_2.app, host_2.gunicorn_args = "release:app", ["--pythonpath", str(host_2_code)]
        host_2.restart()
        yield running


def answered_by(lines):
    """The gunicorn hosts (addresses) that answered these access-log lines."""
    upstreams = (re.search(r"upstream=(\S.*?) upstream_time=", line) for line in lines)
    return {u.group(1).split(", ")[-1] for u in upstreams if u and u.group(1) != "-"}


def under_visitors(front, steps):
    """steps() 1.5 s into 8 s of visitors, 20 greetings a second through nginx: the report
    of what they were told against what was stored."""

    def after_a_while():
        time.sleep(1.5)
        steps()

    statuses, saved = run_clients(
        front.https_url,
        clients=4,
        seconds=8,
        max_requests=160,
        during=after_a_while,
        certificate=front.certificate,
        rate=20,
    )
    return load_report(statuses, saved, front.database_url)


def names_stored(front):
    return len(stored_usernames(front.database_url))


def test_the_expand_migration_then_new_code_on_one_host_fail_no_visitor(
    front, host_2_code, migrations
):
    folder, with_email = migrations
    columns, table_file, _ = users_table(front.database_url)
    host_1, host_2 = front.hosts
    seen = {}

    def deploy_host_2():
        """As a host is deployed: the migration first, then its new code."""
        seen["before"] = names_stored(front)
        seen["migration"] = flask(
            "db", "upgrade", "--directory", folder, database_url=front.database_url
        )
        seen["after migration"] = names_stored(front)
        deploy(host_2, host_2_code, NEW_CODE)
        seen["side by side"] = len(front.access_log())

    report = under_visitors(front, deploy_host_2)

    assert seen["migration"].returncode == 0, seen["migration"].stderr
    assert report["statuses"] == {"greeted": report["requests"]} and report["requests"] >= 140
    assert report["rows_missing"] == [] and report["rows_duplicated"] == []
    assert 0 < seen["before"] < seen["after migration"] < report["rows_found"]
    # Then the old code (host 1) and the new (host 2) both greeted visitors.
    side_by_side = front.access_log()[seen["side by side"] :]
    assert answered_by(side_by_side) == {host_1.address, host_2.address}
    # Added in place: the table's file is the same one (PostgreSQL did not rewrite it).
    assert users_table(front.database_url) == (columns + ["email"], table_file, with_email)


def test_rolling_back_code_then_the_downgrade_fail_no_visitor(front, host_2_code, migrations):
    folder, with_email = migrations
    host_2 = front.hosts[1]
    if users_table(front.database_url)[2] != with_email:  # run on its own: expand first
        flask("db", "upgrade", "--directory", folder, database_url=front.database_url)
        deploy(host_2, host_2_code, NEW_CODE)
    columns, table_file, _ = users_table(front.database_url)
    assert "email" in columns
    seen = {}

    def roll_back():
        """Code first, host by host (here only host 2 had the new code), then the schema."""
        deploy(host_2, host_2_code, OLD_CODE)
        seen["before"] = names_stored(front)
        seen["migration"] = flask(
            "db", "downgrade", "--directory", folder, HEAD, database_url=front.database_url
        )
        seen["after migration"] = names_stored(front)

    report = under_visitors(front, roll_back)

    assert seen["migration"].returncode == 0, seen["migration"].stderr
    assert report["statuses"] == {"greeted": report["requests"]} and report["requests"] >= 140
    assert report["rows_missing"] == [] and report["rows_duplicated"] == []
    assert 0 < seen["before"] < seen["after migration"] < report["rows_found"]
    without_email = [column for column in columns if column != "email"]
    assert users_table(front.database_url) == (without_email, table_file, HEAD)


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
