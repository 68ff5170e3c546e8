"""hrllo under gunicorn, with many users at once and a worker killed: nothing lost."""

import threading

import requests

from scripts.load import gunicorn, load_test, stored_usernames, submit
from tests.conftest import run_project_command


def test_many_clients_and_a_killed_worker_lose_nothing(database_url):
    report = load_test(database_url, clients=50, seconds=4, max_requests=800, kill_worker=True)
    assert report["requests"] > 50
    assert report["server_errors"] == 0, report["statuses"]
    assert report["statuses"].get("302", 0) > 0
    assert report["worker_replaced"] is True
    assert report["rows_missing"] == []
    assert report["rows_duplicated"] == []
    assert report["integrity_check"] in ("ok", "n/a")


def test_same_new_name_at_the_same_instant_is_stored_once(database_url):
    clients = 16
    start = threading.Barrier(clients)
    outcomes = []

    with gunicorn(database_url) as (url, _server):

        def person():
            session = requests.Session()
            session.get(url + "/", timeout=10)  # get a session cookie first
            start.wait(timeout=30)
            outcomes.append(submit(session, url, "Simultaneous"))

        threads = [threading.Thread(target=person) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)

    assert outcomes == [302] * clients
    assert stored_usernames(database_url) == ["Simultaneous"]


def test_health_check_under_gunicorn(database_url):
    with gunicorn(database_url) as (url, _server):
        response = requests.get(url + "/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_session_cookie_is_secure_when_configured_for_https():
    code = "from hrllo import app; print(app.config['SESSION_COOKIE_SECURE'])"
    secure = run_project_command(["python", "-c", code], env={"SESSION_COOKIE_SECURE": "1"})
    default = run_project_command(["python", "-c", code], env={"SESSION_COOKIE_SECURE": ""})
    assert secure.stdout.strip() == "True"
    assert default.stdout.strip() == "False"


def test_oversized_body_gets_the_413_page_from_the_real_server(database_url):
    with gunicorn(database_url) as (url, _server):
        response = requests.post(url + "/", data={"name": "x" * 1_000_000}, timeout=10)
    assert response.status_code == 413
    assert "larger than this form ever sends" in response.text
    assert stored_usernames(database_url) == []
