"""What a hostile client sends instead of the page's form (docs/security.md): each gets a
400 page that says why, stores nothing, and is logged once."""

import io
import logging
from urllib.parse import quote

import pytest

import settings
from hrllo import create_app
from tests.support import csrf_token, stored_usernames

NOT_UTF8 = "Your form could not be checked (it was not sent as UTF-8 text), so nothing was saved."


@pytest.fixture
def token(client):
    """The CSRF token of the client's session: every refusal below is for its body alone."""
    return csrf_token(client.get("/").get_data(as_text=True))


def refused_warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("Refused a form")]


def assert_refused(response, caplog, database_url, message):
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in page
    assert stored_usernames(database_url) == []
    assert len(refused_warnings(caplog)) == 1


@pytest.mark.parametrize("as_file", ["name", "csrf_token", "submit"])
def test_a_field_sent_as_a_file_is_refused(client, token, database_url, caplog, as_file):
    fields = {"name": "Ann", "csrf_token": token, "submit": "Submit"}
    fields[as_file] = (io.BytesIO(fields[as_file].encode()), "field.txt")
    caplog.set_level(logging.WARNING)

    response = client.post("/", data=fields, content_type="multipart/form-data")

    assert_refused(
        response,
        caplog,
        database_url,
        "Your form could not be checked (it was sent as multipart/form-data, not as"
        " application/x-www-form-urlencoded), so nothing was saved.",
    )


def test_a_multipart_form_of_text_is_refused_too(client, token, database_url, caplog):
    """Werkzeug decodes a multipart field by the charset its part names (latin-1 too), and
    replaces what does not decode: the page's form never sends one."""
    caplog.set_level(logging.WARNING)
    response = client.post(
        "/", data={"name": "Ann", "csrf_token": token}, content_type="multipart/form-data"
    )
    assert_refused(response, caplog, database_url, "multipart/form-data")


@pytest.mark.parametrize(
    "name",
    [b"%FF%FE", b"%ED%A0%80", b"%C0%AF", b"%E9", b"Zo%EB"],
    ids=["not UTF-8", "a surrogate", "overlong", "latin-1 e acute", "latin-1 in a name"],
)
def test_a_name_that_is_not_utf8_is_refused_not_stored_as_its_escapes(
    client, token, database_url, caplog, name
):
    caplog.set_level(logging.WARNING)
    body = b"csrf_token=" + token.encode() + b"&name=" + name
    response = client.post("/", data=body, content_type="application/x-www-form-urlencoded")
    assert_refused(response, caplog, database_url, NOT_UTF8)
    assert "Hello, Stranger!" in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"csrf_token={token}&name=\xff\xfe", "application/x-www-form-urlencoded"),
        (b"csrf_token={token}&name=%E9", "application/x-www-form-urlencoded; charset=latin-1"),
        (b"csrf_token={token}&name=Ann", "application/x-www-form-urlencoded; charset=latin-1"),
        ("csrf_token={token}&name=Ann", "application/x-www-form-urlencoded; charset=utf-16"),
        ("\ufeffcsrf_token={token}&name=Ann", "application/x-www-form-urlencoded"),
    ],
    ids=["raw bytes", "latin-1", "said to be latin-1", "utf-16", "utf-16 unlabelled"],
)
def test_a_body_in_another_encoding_is_refused(
    client, token, database_url, caplog, body, content_type
):
    if isinstance(body, str):
        body = body.format(token=token).encode("utf-16")
    else:
        body = body.replace(b"{token}", token.encode())
    caplog.set_level(logging.WARNING)
    response = client.post("/", data=body, content_type=content_type)
    assert_refused(response, caplog, database_url, NOT_UTF8)


@pytest.mark.parametrize("typed", ["%FF%FE", "Zoë", "名前"])
def test_what_a_visitor_types_is_stored_as_typed(client, token, database_url, typed):
    """The same characters typed, URL-encoded as a browser sends them, are a name."""
    body = f"csrf_token={token}&name={quote(typed)}"
    response = client.post("/", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 303
    assert stored_usernames(database_url) == [typed]


# --- A Host this site does not serve ---------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:443", "localhost.evil.example", "LOCALHOST", "localhost."],
)
def test_a_host_this_site_does_not_serve_is_refused(client, caplog, host):
    caplog.set_level(logging.WARNING)
    response = client.get("/", headers={"Host": host})
    assert response.status_code == 400
    assert response.get_data(as_text=True) == "This site does not answer for that host name.\n"
    assert [r.getMessage() for r in caplog.records] == [
        f"Refused a request from 127.0.0.1 for {host!a}, a host this site does not serve"
    ]


@pytest.mark.parametrize("host", ["localhost", "localhost:5000", "127.0.0.1:8443"])
def test_this_machines_names_are_served_by_default(client, host):
    assert client.get("/", headers={"Host": host}).status_code == 200


def test_a_form_posted_under_another_host_with_its_own_referer_is_refused(app, database_url):
    """Flask-WTF's Referer check compares with the Host the client sent: both can lie."""
    client = app.test_client()
    evil = {"base_url": "https://evil.example", "headers": {"Referer": "https://evil.example/"}}
    token = csrf_token(client.get("/").get_data(as_text=True))  # on this site: localhost

    response = client.post("/", data={"name": "Mallory", "csrf_token": token}, **evil)

    assert response.status_code == 400
    assert "does not answer for that host name" in response.get_data(as_text=True)
    assert stored_usernames(database_url) == []


def test_trusted_hosts_come_from_the_environment(database_url, monkeypatch):
    monkeypatch.setenv("TRUSTED_HOSTS", "Example.com, www.example.com")
    client = create_app(
        {"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": database_url}
    ).test_client()
    assert client.get("/404", base_url="https://www.example.com").status_code == 404
    assert client.get("/404", base_url="https://example.com").status_code == 404
    assert client.get("/404", base_url="http://localhost").status_code == 400


@pytest.mark.parametrize("value", ["https://example.com", "example.com:443", "example.com."])
def test_trusted_hosts_are_names_only(value):
    with pytest.raises(settings.ConfigurationError, match="TRUSTED_HOSTS names hosts"):
        settings.from_environment({"TRUSTED_HOSTS": value})
