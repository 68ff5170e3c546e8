"""Bad input gets a clear message next to the field and changes nothing."""

import pytest
from flask import Flask

from hrllo import NameForm
from tests.support import csrf_token, form_field, stored_usernames


def test_post_without_csrf_token_is_refused(client, database_url):
    response = client.post("/", data={"name": "Ann"})
    assert response.status_code == 400
    assert "nothing was saved" in response.get_data(as_text=True)
    assert stored_usernames(database_url) == []


def test_post_with_wrong_csrf_token_is_refused(client, database_url):
    client.get("/")
    response = client.post("/", data={"name": "Ann", "csrf_token": "forged"})
    assert response.status_code == 400
    assert stored_usernames(database_url) == []


def test_name_form_checks_its_own_csrf_token_without_csrf_protect():
    # A reader who copies NameForm into an app without CSRFProtect is still protected.
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "test"
    with app.test_request_context("/", method="POST", data={"name": "Ann"}):
        form = NameForm()
        assert not form.validate_on_submit()
        assert form.errors == {"csrf_token": ["The CSRF token is missing."]}


def test_csrf_token_from_another_session_is_refused(app, client, database_url):
    token = csrf_token(app.test_client().get("/").get_data(as_text=True))
    client.get("/")
    assert client.post("/", data={"name": "Ann", "csrf_token": token}).status_code == 400
    assert stored_usernames(database_url) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Please enter your name."),
        ("   \t ", "Please enter your name."),
        (
            "x" * 65,
            "Please use at most 64 characters; some emoji and accented letters count as two"
            " or more.",
        ),
        ("Ann\x00", "Please remove the control character (U+0000)."),
        ("An\x07n", "Please remove the control character (U+0007)."),
    ],
)
def test_bad_name_shows_a_message_next_to_the_field_and_changes_nothing(
    greeter, database_url, name, message
):
    response = greeter.submit(name)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in page
    field = form_field(page, "name")
    assert field["aria-invalid"] == "true"
    assert f'id="{field["aria-describedby"]}"' in page  # the message is tied to the field
    assert stored_usernames(database_url) == []
    assert "Hello, Stranger!" in greeter.visit()


def test_64_characters_is_the_longest_name_accepted(greeter, database_url):
    name = "x" * 64
    assert greeter.submit(name).status_code == 303
    assert stored_usernames(database_url) == [name]


def test_surrounding_whitespace_is_not_part_of_the_name(greeter, database_url):
    greeter.submit("  Ann \t")
    assert stored_usernames(database_url) == ["Ann"]
    assert "Hello, Ann!" in greeter.visit()


def test_html_in_a_name_is_shown_as_text(greeter, database_url):
    name = "<script>alert(1)</script>"
    page = greeter.submit(name, follow_redirects=True).get_data(as_text=True)
    assert "Hello, &lt;script&gt;alert(1)&lt;/script&gt;!" in page
    assert "<script>alert(1)" not in page
    assert stored_usernames(database_url) == [name]


def test_sql_metacharacters_are_just_characters(greeter, database_url):
    name = "Robert'); DROP TABLE users;--"
    page = greeter.submit(name, follow_redirects=True).get_data(as_text=True)
    assert "Hello, Robert&#39;); DROP TABLE users;--!" in page
    assert stored_usernames(database_url) == [name]
