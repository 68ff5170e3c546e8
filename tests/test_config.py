"""Configuration from the environment, and what the app sets up at start."""

import logging
import os
import re
import stat
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

import assets
import hrllo
from hrllo import create_app, db
from settings import ConfigurationError, database_url, instance_secret_key


def test_default_database_is_data_sqlite_next_to_hrllo(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    expected = "sqlite:///" + os.path.join(os.path.dirname(hrllo.__file__), "data.sqlite")
    assert create_app().config["SQLALCHEMY_DATABASE_URI"] == expected


def test_environment_is_read_when_the_app_is_created(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/other.sqlite")
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    config = create_app().config
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/other.sqlite"
    assert config["SECRET_KEY"] == "from-the-environment"
    assert config["SESSION_COOKIE_SECURE"] is True


def test_postgres_urls_use_psycopg_3():
    assert database_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert database_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert database_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"


def test_secret_key_is_generated_once_and_private(tmp_path):
    key = instance_secret_key(str(tmp_path / "instance"))
    assert len(key) == 64
    assert instance_secret_key(str(tmp_path / "instance")) == key
    mode = stat.S_IMODE(os.stat(tmp_path / "instance" / "secret_key").st_mode)
    assert mode == 0o600


def test_workers_starting_at_once_agree_on_the_secret_key(tmp_path):
    code = "import sys, settings; print(settings.instance_secret_key(sys.argv[1]))"
    instance = str(tmp_path / "instance")
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", code, instance],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "SECRET_KEY": "unused-by-this-check"},
        )
        for _ in range(6)
    ]
    keys = {worker.communicate(timeout=60)[0].strip() for worker in workers}
    assert len(keys) == 1 and len(keys.pop()) == 64
    assert os.listdir(instance) == ["secret_key"]  # no temporary file left behind


def sqlite_app(tmp_path):
    return create_app({"SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/db"})


def test_every_sqlite_connection_is_set_up_for_several_workers(tmp_path):
    pragmas = ["journal_mode", "busy_timeout", "synchronous", "foreign_keys"]
    with sqlite_app(tmp_path).app_context():
        # Three at once: the pool opens new connections, each must be set up the same way.
        connections = [db.engine.connect() for _ in range(3)]
        for conn in connections:
            values = [conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in pragmas]
            assert values == ["wal", 5000, 1, 1]  # synchronous 1 is NORMAL
        for conn in connections:
            conn.close()
        db.engine.dispose()


def test_other_sqlite_engines_in_the_process_are_left_alone(tmp_path):
    sqlite_app(tmp_path)
    engine = create_engine(f"sqlite:///{tmp_path}/unrelated.sqlite")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "delete"
    engine.dispose()


def test_missing_moment_js_is_logged_at_start(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(assets, "MOMENT_JS_DIR", str(tmp_path))
    with caplog.at_level(logging.ERROR):
        create_app({"SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert "moment.js is missing" in caplog.text and "npm ci" in caplog.text


def test_without_moment_js_the_page_tells_the_time_in_a_sentence(monkeypatch, tmp_path):
    monkeypatch.setattr(assets, "MOMENT_JS_DIR", str(tmp_path))
    app = create_app({"SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    page = app.test_client().get("/").get_data(as_text=True)
    assert re.search(r"The server's date and time is \w+ \d+, \d{4} \d\d:\d\d UTC\.", page)
    assert "moment.min.js" not in page and "flask-moment" not in page


def test_health_check_says_503_when_the_database_is_unreachable(tmp_path):
    app = create_app(
        {
            "SECRET_KEY": "test",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/no/such/dir/db.sqlite",
        }
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "database unavailable"}


def test_a_user_with_a_role_that_does_not_exist_is_refused(app):
    with app.app_context():
        db.session.add(hrllo.User(username="orphan", role_id=999))
        with pytest.raises(IntegrityError, match="(?i)foreign key"):
            db.session.commit()
        db.session.rollback()
        assert db.session.scalars(db.select(hrllo.User)).all() == []


def test_a_pool_size_that_is_not_a_number_is_refused_with_its_name(monkeypatch):
    monkeypatch.setenv("DATABASE_POOL_SIZE", "lots")
    with pytest.raises(ConfigurationError, match="DATABASE_POOL_SIZE must be a whole number"):
        create_app()
