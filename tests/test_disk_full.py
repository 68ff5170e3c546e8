"""SQLite on a small disk that fills up: a clear 503 page while it is full, nothing saved,
one log line that says why, and back to work once space is freed. The write-ahead log
stays small enough for such a disk. A real 2 MB tmpfs, mounted for each test (as root)."""

import errno
import logging
import subprocess

import pytest
from flask_migrate import upgrade

import database
from hrllo import create_app, db
from tests.support import MIGRATIONS, Greeter, require, stored_usernames

DISK_SIZE = "2m"


@pytest.fixture
def small_disk(tmp_path):
    folder = tmp_path / "disk"
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0700", "hrllo-test", folder]
    mounted = subprocess.run(mount, capture_output=True, text=True)
    require(
        mounted.returncode == 0,
        f"cannot mount a {DISK_SIZE} tmpfs ({mounted.stderr.strip()})",
        "run the tests as root to fill a real disk",
        "HRLLO_REQUIRE_SMALL_DISK",
    )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", folder], check=True)


@pytest.fixture
def app_on_small_disk(small_disk):
    url = f"sqlite:///{small_disk}/data.sqlite"
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(directory=MIGRATIONS)
    yield app, url
    with app.app_context():
        db.engine.dispose()


def fill(folder):
    """Write a file until the disk has no room left; returns it, to free the space."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as f, pytest.raises(OSError) as full:
        while True:
            f.write(b"\0" * 4096)
    assert full.value.errno == errno.ENOSPC
    return filler


def readiness(app):
    response = app.test_client().get("/readyz")
    return response.status_code, response.json["status"]


def test_a_full_disk_gets_the_503_page_saves_nothing_and_logs_why(
    app_on_small_disk, small_disk, caplog
):
    app, url = app_on_small_disk
    greeter = Greeter(app.test_client())
    assert greeter.submit("Ada").status_code == 303
    filler = fill(small_disk)
    caplog.set_level(logging.ERROR)

    response = greeter.submit("Grace, on a full disk")
    page = response.get_data(as_text=True)

    assert response.status_code == 503
    assert "<h1>Service Unavailable</h1>" in page
    assert "The database has no room to write new names, so nothing was saved." in page
    assert [r.getMessage() for r in caplog.records] == [
        "The database has no room to write (database or disk is full): free space on its"
        " disk; nothing was saved"
    ]
    status, reason = readiness(app)
    assert status == 503 and reason.startswith("only ") and "free on the database's disk" in reason

    filler.unlink()
    assert readiness(app) == (200, "ok")
    assert greeter.submit("Grace, once there is room").status_code == 303
    assert stored_usernames(url) == ["Ada", "Grace, once there is room"]


def test_the_write_ahead_log_stays_small_enough_for_a_small_disk(app_on_small_disk, small_disk):
    """Each new name adds two pages (8 KB) to the log: unbounded, 600 names would need
    4.8 MB before SQLite's default checkpoint, more than this disk has."""
    app, url = app_on_small_disk
    greeter = Greeter(app.test_client())
    names = [f"visitor {n}" for n in range(600)]

    statuses = {greeter.submit(name).status_code for name in names}

    assert statuses == {303}
    assert sorted(stored_usernames(url)) == sorted(names)
    assert (small_disk / "data.sqlite-wal").stat().st_size <= database.WAL_SIZE_LIMIT
