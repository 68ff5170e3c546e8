import logging
import os
import stat
import subprocess
import sys

import hrllo
from hrllo import create_app, database_url, instance_secret_key


def test_default_database_is_data_sqlite_next_to_hrllo(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    expected = "sqlite:///" + os.path.join(os.path.dirname(hrllo.__file__), "data.sqlite")
    assert database_url() == expected


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
    code = (
        "import sys; from hrllo import instance_secret_key; print(instance_secret_key(sys.argv[1]))"
    )
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


def test_missing_moment_js_is_logged_at_start(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(hrllo, "MOMENT_JS_DIR", str(tmp_path))
    with caplog.at_level(logging.ERROR):
        create_app({"SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert "moment.js is missing" in caplog.text and "npm ci" in caplog.text


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
