"""What nginx answers by itself (docs/security.md): a Host that is not one of the site's names
gets no answer at all, and nginx's own answers (its HTTPS redirect, a request it refuses
before choosing a location, the 413 page) carry the site's headers. One stack, on SQLite."""

import pytest
import requests

from deploy.stack import stack
from scripts.visitor import csrf_token
from scripts.visitor import visitor as scripted_visitor
from security import CONTENT_SECURITY_POLICY
from tests.support import stored_usernames
from tests.topology.support import https_connection, require_nginx

require_nginx()


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    database_url = "sqlite:///" + str(tmp_path_factory.mktemp("stack") / "data.sqlite")
    with stack(database_url, hosts=1, workers=1) as running:
        yield running


def https_exchange(front, head, body=b""):
    """What the HTTPS port answers to one raw HTTP/1.1 request: b"" if it closes unanswered."""
    with https_connection(front) as connection:
        connection.sendall(head.encode() + b"\r\nConnection: close\r\n\r\n" + body)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return answer


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:{port}", "EVIL.Example.", "127.0.0.1.evil.example", None],
    ids=["another name", "with this port", "upper case, trailing dot", "a suffix", "no Host"],
)
def test_a_host_that_is_not_the_sites_gets_no_answer(front, host):
    port = front.https_url.rpartition(":")[2]
    head = "GET / HTTP/1.0" if host is None else f"GET / HTTP/1.1\r\nHost: {host.format(port=port)}"
    before = len(front.access_log())

    assert https_exchange(front, head) == b""
    assert len(front.logged(before, '"GET / HTTP/1.')) == 1
    assert " 444 " in front.logged(before, '"GET / HTTP/1.')[0]


def test_a_form_posted_under_another_host_with_its_own_referer_is_not_saved(front):
    session = scripted_visitor(front.https_url, front.certificate)
    token = csrf_token(session.get(front.https_url + "/", timeout=10).text)
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    body = f"csrf_token={token}&name=Mallory".encode()
    head = (
        "POST / HTTP/1.1\r\nHost: evil.example\r\nReferer: https://evil.example/\r\n"
        f"Cookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}"
    )

    assert https_exchange(front, head, body) == b""
    assert "Mallory" not in stored_usernames(front.database_url)


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost", "localhost:{port}"])
def test_the_sites_own_names_are_served(front, host):
    port = front.https_url.rpartition(":")[2]
    answer = https_exchange(front, f"GET / HTTP/1.1\r\nHost: {host.format(port=port)}")
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"What is your name?" in answer


def test_the_https_redirect_carries_the_sites_headers(front):
    response = requests.get(front.http_url + "/", allow_redirects=False, timeout=10)
    assert response.status_code == 301
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_a_request_refused_before_a_location_is_never_kept_and_not_a_warning(front):
    warnings = front.error_log().count("uninitialized")
    answer = https_exchange(front, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1")

    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"\r\nCache-Control: no-store\r\n" in answer
    assert f"\r\nContent-Security-Policy: {CONTENT_SECURITY_POLICY}\r\n".encode() in answer
    assert front.error_log().count("uninitialized") == warnings


def test_the_413_page_says_its_charset(front):
    response = scripted_visitor(front.https_url, front.certificate).post(
        front.https_url + "/", data={"name": "x" * 5000}, timeout=10
    )
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
