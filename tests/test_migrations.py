"""The database is built by the migrations, which stay in step with the models."""

import shutil
import sqlite3

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from hrllo import db
from tests.support import MIGRATIONS, PROJECT, run_command


def schema(app):
    with app.app_context():
        inspector = inspect(db.engine)
        tables = set(inspector.get_table_names()) - {"alembic_version"}
        indexes = (
            {ix["name"]: ix["unique"] for ix in inspector.get_indexes("users")}
            if "users" in tables
            else {}
        )
        return tables, indexes


def test_upgrade_builds_both_tables_and_the_unique_username_index(app):
    tables, indexes = schema(app)
    assert tables == {"roles", "users"}
    assert indexes == {"ix_users_username": True}


def test_migrations_are_in_step_with_the_models(app, database_url):
    env = {"DATABASE_URL": database_url, "SECRET_KEY": "test"}  # a server database needs one
    result = run_command(["flask", "db", "check"], env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No new upgrade operations detected" in result.stdout


def test_downgrade_to_base_and_upgrade_again(app):
    with app.app_context():
        downgrade(directory=MIGRATIONS, revision="base")
    assert schema(app)[0] == set()
    with app.app_context():
        upgrade(directory=MIGRATIONS)
    assert schema(app) == ({"roles", "users"}, {"ix_users_username": True})


# An app with one model more than hrllo's, as a maintainer's next change would have:
# a model nobody will add for real, so this test survives every real model change.
APP_WITH_A_NEW_MODEL = """\
from hrllo import app, db


class MigrationProbe(db.Model):
    __tablename__ = "migration_probes"
    id = db.Column(db.Integer, primary_key=True)
    label = db.Column(db.String(32), unique=True)
"""
# The same model with a column added: SQLite can only do that in batch mode.
APP_WITH_A_CHANGED_MODEL = (
    APP_WITH_A_NEW_MODEL + "    code = db.Column(db.String(8), unique=True)\n"
)


def flask(folder, *args, database, app="hrllo"):
    result = run_command(
        ["flask", "--app", app, *args],
        cwd=folder,
        env={"DATABASE_URL": "sqlite:///" + str(database), "PYTHONPATH": str(PROJECT)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def tables(database):
    with sqlite3.connect(database) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def probe_columns(database):
    with sqlite3.connect(database) as conn:
        return [row[1] for row in conn.execute("PRAGMA table_info(migration_probes)")]


def migrate(folder, app_source, message, database):
    """Write the changed app, then `flask db migrate`; return its output and the new revision."""
    (folder / "changed.py").write_text(app_source)
    output = flask(folder, "db", "migrate", "-m", message, database=database, app="changed")
    (revision,) = (folder / "migrations" / "versions").glob(f"*_{message.replace(' ', '_')}.py")
    return output, revision.read_text()


def test_changing_a_model_migrates_upgrades_and_downgrades(tmp_path):
    shutil.copytree(MIGRATIONS, tmp_path / "migrations")
    database = tmp_path / "data.sqlite"
    flask(tmp_path, "db", "upgrade", database=database)

    output, revision = migrate(tmp_path, APP_WITH_A_NEW_MODEL, "add probes", database)
    assert "Detected added table 'migration_probes'" in output
    assert "uq_migration_probes_label" in revision  # constraints get the convention's names
    flask(tmp_path, "db", "upgrade", database=database, app="changed")
    assert "migration_probes" in tables(database)

    output, revision = migrate(tmp_path, APP_WITH_A_CHANGED_MODEL, "add code", database)
    assert "Detected added column 'migration_probes.code'" in output
    assert "batch_alter_table('migration_probes'" in revision
    flask(tmp_path, "db", "upgrade", database=database, app="changed")
    assert probe_columns(database) == ["id", "label", "code"]

    flask(tmp_path, "db", "downgrade", database=database, app="changed")
    assert probe_columns(database) == ["id", "label"]
    flask(tmp_path, "db", "downgrade", database=database, app="changed")
    assert tables(database) == {"alembic_version", "roles", "users"}


def test_db_init_creates_a_migration_repository(tmp_path):
    flask(tmp_path, "db", "init", database=tmp_path / "data.sqlite")
    assert (tmp_path / "migrations" / "env.py").exists()
    assert (tmp_path / "migrations" / "alembic.ini").exists()
