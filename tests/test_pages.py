import re

import pytest

from hrllo import User, db


def test_unknown_address_shows_the_apps_own_404_page(client):
    response = client.get("/no-such-page")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "<h1>Not Found</h1>" in page
    assert 'class="navbar-brand"' in page  # it extends base.html


def test_server_error_shows_the_500_page_and_rolls_back(app, client):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/boom")
    def boom():
        db.session.add(User(username="half-done"))
        db.session.flush()
        raise RuntimeError("boom")

    response = client.get("/boom")
    assert response.status_code == 500
    assert "<h1>Internal Server Error</h1>" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(db.select(User)).all() == []


def test_oversized_request_gets_a_413_page_and_changes_nothing(app, client):
    response = client.post("/", data={"name": "x" * 10_000, "csrf_token": "x"})
    assert response.status_code == 413
    assert "larger than this form ever sends" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(db.select(User)).all() == []


def test_session_cookie_is_httponly_and_samesite_lax(client):
    cookie = client.get("/").headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_security_headers(client):
    headers = client.get("/").headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"


def test_health_check_answers_when_the_database_does(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


@pytest.mark.parametrize("path", ["/", "/no-such-page"])
def test_every_stylesheet_script_and_icon_is_served_by_the_app(client, path):
    page = client.get(path).get_data(as_text=True)
    assets = re.findall(r'<(?:link|script)[^>]*(?:href|src)="([^"]+)"', page)
    assert any("bootstrap.min.css" in a for a in assets)
    assert any("bootstrap.min.js" in a for a in assets)
    assert any("moment.min.js" in a for a in assets)
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not served by the app"
        with client.get(asset) as response:
            assert response.status_code == 200, asset
