"""Every page the app sends: error pages, headers, cookies, health check, assets."""

import base64
import hashlib
import re

import pytest

from hrllo import User, db
from tests.support import stored_usernames


def heading_and_title(page):
    heading = re.search(r"<h1>(.*?)</h1>", page).group(1)
    title = re.search(r"<title>(.*?) · hrllo</title>", page).group(1)
    return heading, title


def test_unknown_address_shows_the_apps_own_404_page(client):
    response = client.get("/no-such-page")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert heading_and_title(page) == ("Not Found", "Not Found")
    assert 'href="/"' in page  # a way back to the greeting page


@pytest.fixture
def failing_route(app):
    """A view that writes half a change and then fails, as a bug would."""
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/fails-half-way")
    def fails_half_way():
        db.session.add(User(username="half-done"))
        db.session.flush()
        raise RuntimeError("a bug")

    return "/fails-half-way"


def test_server_error_shows_the_500_page(client, failing_route):
    response = client.get(failing_route)
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert heading_and_title(page) == ("Internal Server Error", "Internal Server Error")
    assert "nothing was saved" in page


def test_request_after_a_server_error_starts_clean(greeter, failing_route, database_url):
    greeter.client.get(failing_route)
    assert greeter.submit("Ann").status_code == 303
    assert stored_usernames(database_url) == ["Ann"]  # the half-done row never lands


def test_oversized_request_gets_a_413_page_and_changes_nothing(client, database_url):
    response = client.post("/", data={"name": "x" * 10_000, "csrf_token": "x"})
    page = response.get_data(as_text=True)
    assert response.status_code == 413
    assert heading_and_title(page) == ("Request Too Large", "Request Too Large")
    assert "nothing was saved" in page
    assert stored_usernames(database_url) == []


@pytest.mark.parametrize(("size", "status"), [(4096, 400), (4097, 413)])
def test_request_bodies_over_4_kib_are_refused_unread(client, size, status):
    body = "name=" + "x" * (size - len("name="))
    response = client.post("/", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == status  # 400: read, and refused for its missing token


def test_bad_request_page_says_why_and_that_nothing_was_saved(client):
    response = client.post("/", data={"name": "Ann"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert heading_and_title(page) == ("Bad Request", "Bad Request")
    assert "CSRF token is missing" in page and "nothing was saved" in page


def test_session_cookie_is_httponly_and_samesite_lax(client):
    cookie = client.get("/").headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP in development


# One request of every kind of page the app sends.
PAGE_KINDS = {
    "page": lambda client, failing_route: client.get("/"),
    "bad request": lambda client, failing_route: client.post("/", data={"name": "Ann"}),
    "not found": lambda client, failing_route: client.get("/no-such-page"),
    "too large": lambda client, failing_route: client.post("/", data={"name": "x" * 10_000}),
    "server error": lambda client, failing_route: client.get(failing_route),
    "asset": lambda client, failing_route: client.get("/static/hrllo.css"),
}


@pytest.fixture(params=PAGE_KINDS)
def any_response(request, client, failing_route):
    response = PAGE_KINDS[request.param](client, failing_route)
    yield response
    response.close()


def test_every_response_carries_the_security_headers(any_response):
    headers = any_response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Cross-Origin-Resource-Policy"] == "same-origin"


def test_a_view_that_sets_a_security_header_keeps_its_own(app, client):
    @app.route("/framed")
    def framed():
        return "a page a same-site frame may show", {"X-Frame-Options": "SAMEORIGIN"}

    assert client.get("/framed").headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]


def test_every_response_carries_a_strict_content_security_policy(any_response):
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in any_response.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    for directive in ("script-src", "font-src", "connect-src", "form-action"):
        assert policy[directive] == "'self'", directive
    assert policy["img-src"] == "'self' data:"  # Bootstrap's icons are data: SVGs
    assert policy["base-uri"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    # Styles: files of this site, and one style attribute allowed by its hash, nothing else.
    assert re.fullmatch(r"'self' 'unsafe-hashes' 'sha256-[\w+/]+='", policy["style-src"])
    assert "unsafe-inline" not in any_response.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in any_response.headers["Content-Security-Policy"]


def style_attribute_hash(style):
    return "'sha256-" + base64.b64encode(hashlib.sha256(style.encode()).digest()).decode() + "'"


def test_no_page_has_inline_script_style_or_event_handler(greeter, failing_route):
    pages = [
        PAGE_KINDS[kind](greeter.client, failing_route).get_data(as_text=True)
        for kind in PAGE_KINDS
        if kind != "asset"
    ]
    pages.append(greeter.submit("").get_data(as_text=True))  # with a validation error
    for page in pages:
        for script in re.findall(r"<script\b[^>]*>", page):
            assert " src=" in script, script  # a file, never inline code
        assert not re.search(r"<style\b|\son\w+=", page)
        # Flask-Moment's style="display: none": allowed by its hash, as every other would be.
        policy = greeter.client.get("/").headers["Content-Security-Policy"]
        for style in re.findall(r'\sstyle="([^"]*)"', page):
            assert style_attribute_hash(style) in policy, style


def test_health_check_answers_when_the_database_does(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def asset_urls(page):
    return re.findall(r'<(?:link|script)[^>]*(?:href|src)="([^"]+)"', page)


@pytest.mark.parametrize("path", ["/", "/no-such-page"])
def test_every_stylesheet_script_and_icon_is_served_by_the_app(client, path):
    assets = asset_urls(client.get(path).get_data(as_text=True))
    # Named by their content (Flask-Static-Digest), e.g. bootstrap.min-<md5>.css
    for name in ("bootstrap.min-", "moment.min-", "hrllo-", "favicon-"):
        assert any(name in asset for asset in assets), name
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not served by the app"
        with client.get(asset) as response:
            assert response.status_code == 200, asset
