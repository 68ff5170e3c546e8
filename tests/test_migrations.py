import shutil
import sqlite3

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from hrllo import db
from tests.conftest import PROJECT, run_project_command

MIGRATIONS = str(PROJECT / "migrations")


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
    result = run_project_command(["flask", "db", "check"], env={"DATABASE_URL": database_url})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No new upgrade operations detected" in result.stdout


def test_downgrade_to_base_and_upgrade_again(app):
    with app.app_context():
        downgrade(directory=MIGRATIONS, revision="base")
    assert schema(app)[0] == set()
    with app.app_context():
        upgrade(directory=MIGRATIONS)
    assert schema(app) == ({"roles", "users"}, {"ix_users_username": True})


def copy_project(tmp_path, with_migrations=True):
    copy = tmp_path / "hrllo"
    copy.mkdir()
    shutil.copy(PROJECT / "hrllo.py", copy)
    shutil.copy(PROJECT / ".flaskenv", copy)
    if with_migrations:
        shutil.copytree(PROJECT / "migrations", copy / "migrations")
    return copy


def flask(copy, *args, database):
    result = run_project_command(
        ["flask", *args], cwd=copy, env={"DATABASE_URL": "sqlite:///" + str(database)}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def user_columns(database):
    with sqlite3.connect(database) as conn:
        return [row[1] for row in conn.execute("PRAGMA table_info(users)")]


def test_changing_a_model_migrates_upgrades_and_downgrades(tmp_path):
    copy = copy_project(tmp_path)
    database = tmp_path / "data.sqlite"
    flask(copy, "db", "upgrade", database=database)

    source = (copy / "hrllo.py").read_text()
    role_id = '    role_id = db.Column(db.Integer, db.ForeignKey("roles.id"))\n'
    assert role_id in source
    (copy / "hrllo.py").write_text(
        source.replace(role_id, role_id + "    email = db.Column(db.String(120), unique=True)\n")
    )

    output = flask(copy, "db", "migrate", "-m", "add email", database=database)
    assert "Detected added column 'users.email'" in output
    (revision,) = (copy / "migrations" / "versions").glob("*_add_email.py")
    text = revision.read_text()
    assert "batch_alter_table('users'" in text and "uq_users_email" in text

    flask(copy, "db", "upgrade", database=database)
    assert "email" in user_columns(database)

    flask(copy, "db", "downgrade", database=database)
    assert user_columns(database) == ["id", "username", "role_id"]


def test_db_init_creates_a_migration_repository(tmp_path):
    copy = copy_project(tmp_path, with_migrations=False)
    flask(copy, "db", "init", database=tmp_path / "data.sqlite")
    assert (copy / "migrations" / "env.py").exists()
    assert (copy / "migrations" / "alembic.ini").exists()
