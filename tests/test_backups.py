"""Backups (docs/backups.md): `flask backup FILE` while visitors keep arriving, `flask
restore FILE` into an empty database, and a file that is not this code's backup refused in
one line, with nothing changed. On SQLite and on PostgreSQL."""

import shutil
import threading
import time
from contextlib import contextmanager

import pytest
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from hrllo import create_app, db
from tests.support import (
    MIGRATIONS,
    Greeter,
    another_postgres_database,
    run_command,
    stored_usernames,
)

HEAD = ScriptDirectory(MIGRATIONS).get_current_head()
pytestmark = pytest.mark.usefixtures("postgres_client_programs")


@contextmanager
def another_database(database_url, tmp_path):
    """A second, empty database of the same kind as database_url."""
    if database_url.startswith("sqlite"):
        yield "sqlite:///" + str(tmp_path / "another.sqlite")
    else:
        with another_postgres_database(database_url) as url:
            yield url


@contextmanager
def app_on(database_url):
    """The app on database_url, as `flask` runs it with DATABASE_URL set."""
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": database_url}
    )
    yield app
    with app.app_context():
        db.engine.dispose()


def flask(app, *args):
    """`flask ARGS` on app's database: the exit status and everything it printed."""
    result = app.test_cli_runner().invoke(args=[str(arg) for arg in args])
    return result.exit_code, result.output


def revisions(database_url):
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    finally:
        engine.dispose()


# --- A backup while the site serves, restored ---------------------------------------------


def test_a_backup_taken_while_names_arrive_restores_every_name_greeted_before_it(
    app, database_url, tmp_path
):
    greeted = []
    stop = threading.Event()

    def visitor(number):
        greeter = Greeter(app.test_client())
        for n in range(10_000):
            if stop.is_set():
                return
            name = f"visitor {number}-{n}"
            if greeter.submit(name).status_code == 303:
                greeted.append(name)

    def once_greeted(count, timeout=30):
        deadline = time.monotonic() + timeout
        while len(greeted) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(greeted)

    visitors = [threading.Thread(target=visitor, args=(i,)) for i in range(2)]
    for thread in visitors:
        thread.start()
    try:
        greeted_before = once_greeted(20)
        backed_up = flask(app, "backup", tmp_path / "site.backup")
        greeted_after = once_greeted(len(greeted) + 20)  # still arriving once it is done
    finally:
        stop.set()
        for thread in visitors:
            thread.join(timeout=30)
    assert backed_up == (0, f"Backed up the database to {tmp_path / 'site.backup'}\n")
    assert len(greeted_after) >= len(greeted_before) + 20

    with another_database(database_url, tmp_path) as fresh, app_on(fresh) as restored:
        restore = flask(restored, "restore", tmp_path / "site.backup")
        current = run_command(
            ["flask", "db", "current"], env={"DATABASE_URL": fresh, "SECRET_KEY": "test"}
        )
        restored_names = stored_usernames(fresh)
        # The site runs on it: a new name gets the next id (PostgreSQL's sequences came too).
        Greeter(restored.test_client()).submit("Grace, after the restore")
        names_now = stored_usernames(fresh)

    assert restore == (
        0,
        f"Restored {tmp_path / 'site.backup'}: the schema is at revision {HEAD}\n",
    )
    assert current.stdout == f"{HEAD} (head)\n"
    assert set(greeted_before) <= set(restored_names)
    assert set(names_now) - set(restored_names) == {"Grace, after the restore"}


# --- Only into an empty database, unless told ---------------------------------------------


def test_restore_refuses_a_database_that_has_tables(app, greeter, database_url, tmp_path):
    greeter.submit("Ada")
    flask(app, "backup", tmp_path / "site.backup")
    greeter.submit("Grace")

    status, output = flask(app, "restore", tmp_path / "site.backup")

    assert status == 1
    assert output == (
        "Error: the database is not empty (it has alembic_version, roles, users):"
        " restore into an empty one, or add --replace\n"
    )
    assert sorted(stored_usernames(database_url)) == ["Ada", "Grace"]


def test_restore_with_replace_puts_the_database_back_as_it_was(
    app, greeter, database_url, tmp_path
):
    greeter.submit("Ada")
    flask(app, "backup", tmp_path / "site.backup")
    greeter.submit("Grace")

    status, output = flask(app, "restore", "--replace", tmp_path / "site.backup")

    assert status == 0, output
    assert stored_usernames(database_url) == ["Ada"]


# --- A file that is not this code's backup ------------------------------------------------

# A revision written after hrllo's (never a real one: this test survives them all).
NEWER_REVISION = '''\
"""a later release's revision: one table more"""
import sqlalchemy as sa
from alembic import op

revision = "newerrelease1"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("newer_probes", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("newer_probes")
'''


def backup_of(database_url, file, tmp_path, prepare):
    """The file `flask backup` writes for another database, made ready by prepare(app)."""
    with another_database(database_url, tmp_path) as url, app_on(url) as other:
        with other.app_context():
            prepare(other)
        assert flask(other, "backup", file)[0] == 0
    return file


def no_file(database_url, tmp_path):
    return tmp_path / "no-such.backup"


def names_in_a_text_file(database_url, tmp_path):
    file = tmp_path / "names.txt"
    file.write_text("Ada\nGrace\n")
    return file


def another_apps_backup(database_url, tmp_path):
    def another_app(app):
        with db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE posts (id INTEGER PRIMARY KEY, body TEXT)"))
            conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
            conn.execute(text("INSERT INTO alembic_version VALUES ('5f3e2a1b9c8d')"))

    return backup_of(database_url, tmp_path / "blog.backup", tmp_path, another_app)


def newer_migrations(folder):
    """hrllo's migrations and a revision after them, as a later release has them."""
    shutil.copytree(MIGRATIONS, folder / "migrations")
    (folder / "migrations" / "versions" / "newerrelease1.py").write_text(
        NEWER_REVISION.format(head=HEAD)
    )
    return folder / "migrations"


def a_newer_releases_backup(database_url, tmp_path):
    newer = newer_migrations(tmp_path / "newer-release")
    return backup_of(
        database_url,
        tmp_path / "newer.backup",
        tmp_path,
        lambda app: upgrade(directory=str(newer)),
    )


@pytest.mark.parametrize(
    "bad_file, error",
    [
        (no_file, "no backup at {file}"),
        (names_in_a_text_file, "{file} is not a backup made by flask backup on {kind}"),
        (
            another_apps_backup,
            "{file} is a backup of another app: its schema is at revision 5f3e2a1b9c8d,"
            " and it has no users and roles tables",
        ),
        (
            a_newer_releases_backup,
            "{file} comes from a newer release of hrllo: its schema is at revision"
            " newerrelease1, which migrations/versions does not have; restore it with that"
            " release's code",
        ),
    ],
    ids=["missing", "not a backup", "another app", "newer release"],
)
def test_a_bad_backup_is_refused_in_one_line_and_nothing_changes(
    app, greeter, database_url, tmp_path, bad_file, error
):
    greeter.submit("Ada")
    file = bad_file(database_url, tmp_path)
    kind = "SQLite" if database_url.startswith("sqlite") else "PostgreSQL"

    status, output = flask(app, "restore", "--replace", file)  # even when told to replace

    assert (status, output) == (1, "Error: " + error.format(file=file, kind=kind) + "\n")
    assert stored_usernames(database_url) == ["Ada"]
    assert revisions(database_url) == [HEAD]


# --- A backup whose schema is not the one its revision makes ------------------------------

# What someone who had the file could add to it, in each database's SQL, and how the refusal
# names it: objects the next visitor's name would set off, or that let duplicates in.
TAMPERED = {
    "a trigger that wipes every other user": (
        {
            "sqlite": [
                "CREATE TRIGGER wipe AFTER INSERT ON users"
                " BEGIN DELETE FROM users WHERE id <> NEW.id; END"
            ],
            "postgresql": [
                "CREATE FUNCTION wipe() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN DELETE FROM users WHERE id <> NEW.id; RETURN NEW; END $$",
                "CREATE TRIGGER wipe AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION wipe()",
            ],
        },
        {
            "sqlite": "it has a trigger wipe on users, which they do not make",
            "postgresql": "it has a function wipe(), which they do not make;"
            " it has a trigger users wipe, which they do not make",
        },
    ),
    "the unique index made not unique": (
        {
            "sqlite": [
                "DROP INDEX ix_users_username",
                "CREATE INDEX ix_users_username ON users (username)",
            ],
            "postgresql": [
                "DROP INDEX ix_users_username",
                "CREATE INDEX ix_users_username ON users (username)",
            ],
        },
        {
            "sqlite": "its index ix_users_username on users is not as they make it",
            "postgresql": "its index ix_users_username is not as they make it",
        },
    ),
    "the unique index dropped": (
        dict.fromkeys(["sqlite", "postgresql"], ["DROP INDEX ix_users_username"]),
        {
            "sqlite": "it has no index ix_users_username on users",
            "postgresql": "it has no index ix_users_username",
        },
    ),
    "a view": (
        dict.fromkeys(
            ["sqlite", "postgresql"], ["CREATE VIEW names AS SELECT username FROM users"]
        ),
        {
            "sqlite": "it has a view names, which they do not make",
            "postgresql": "it has a view names, which they do not make",
        },
    ),
    "a column more": (
        dict.fromkeys(["sqlite", "postgresql"], ["ALTER TABLE users ADD COLUMN admin BOOLEAN"]),
        {
            "sqlite": "its table users is not as they make it",
            "postgresql": "its table users is not as they make it",
        },
    ),
}


@pytest.mark.parametrize("tampering", TAMPERED, ids=list(TAMPERED))
def test_a_backup_with_a_schema_its_revision_does_not_make_is_refused(
    app, greeter, database_url, tmp_path, tampering
):
    greeter.submit("Ada")
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    statements, refusal = TAMPERED[tampering]

    def tamper(other):
        upgrade(directory=MIGRATIONS)
        with db.engine.begin() as conn:
            for statement in statements[kind]:
                conn.exec_driver_sql(statement)

    file = backup_of(database_url, tmp_path / "tampered.backup", tmp_path, tamper)

    status, output = flask(app, "restore", "--replace", file)

    assert (status, output) == (
        1,
        f"Error: {file} is not as hrllo's migrations make a database at revision {HEAD}:"
        f" {refusal[kind]}. Nothing was restored.\n",
    )
    assert stored_usernames(database_url) == ["Ada"]
    assert revisions(database_url) == [HEAD]


def test_a_backup_into_a_folder_that_does_not_exist_is_refused_in_one_line(app, tmp_path):
    file = tmp_path / "no-such-folder" / "site.backup"
    assert flask(app, "backup", file) == (
        1,
        f"Error: no folder {file.parent} to write the backup in\n",
    )


def test_a_backup_from_an_older_release_is_restored_and_says_how_to_upgrade(
    app, greeter, database_url, tmp_path, monkeypatch
):
    greeter.submit("Ada")
    flask(app, "backup", tmp_path / "site.backup")
    monkeypatch.chdir(newer_migrations(tmp_path / "newer-release").parent)  # its flask command

    with another_database(database_url, tmp_path) as fresh, app_on(fresh) as newer_release:
        restore = flask(newer_release, "restore", tmp_path / "site.backup")
        names = stored_usernames(fresh)

    assert restore == (
        0,
        f"Restored {tmp_path / 'site.backup'}: the schema is at revision {HEAD}"
        " (`flask db upgrade` takes it to newerrelease1)\n",
    )
    assert names == ["Ada"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("command, program", [("backup", "pg_dump"), ("restore", "pg_restore")])
def test_without_postgresqls_client_programs_it_says_what_to_install(
    app, tmp_path, monkeypatch, command, program
):
    flask(app, "backup", tmp_path / "site.backup")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))

    status, output = flask(app, command, tmp_path / "site.backup")

    assert (status, output) == (
        1,
        f"Error: {program} is not on the PATH: install PostgreSQL's client programs, of the"
        " server's major version or newer (Debian: apt-get install postgresql-client)\n",
    )
