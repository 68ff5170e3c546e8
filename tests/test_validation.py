import pytest

from hrllo import User, db
from tests.conftest import csrf_token


def stored_names(app):
    with app.app_context():
        return db.session.scalars(db.select(User.username)).all()


def test_post_without_csrf_token_is_refused(app, client):
    response = client.post("/", data={"name": "Ann"})
    assert response.status_code == 400
    assert "nothing was saved" in response.get_data(as_text=True)
    assert stored_names(app) == []


def test_post_with_wrong_csrf_token_is_refused(app, client):
    client.get("/")
    response = client.post("/", data={"name": "Ann", "csrf_token": "forged"})
    assert response.status_code == 400
    assert stored_names(app) == []


def test_csrf_token_from_another_session_is_refused(app, client):
    token = csrf_token(app.test_client().get("/").get_data(as_text=True))
    client.get("/")
    assert client.post("/", data={"name": "Ann", "csrf_token": token}).status_code == 400
    assert stored_names(app) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Please enter your name."),
        ("   \t ", "Please enter your name."),
        ("x" * 65, "Please use at most 64 characters."),
        ("Ann\x00", "Please use letters, digits, spaces and punctuation only."),
        ("An\x07n", "Please use letters, digits, spaces and punctuation only."),
    ],
)
def test_bad_name_shows_a_message_next_to_the_field_and_changes_nothing(
    app, greeter, name, message
):
    response = greeter.submit(name)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'<div id="name-error" class="invalid-feedback d-block">{message}</div>' in page
    assert 'aria-describedby="name-error" aria-invalid="true"' in page
    assert stored_names(app) == []
    assert "Hello, Stranger!" in greeter.visit()


def test_64_characters_is_the_longest_name_accepted(app, greeter):
    name = "x" * 64
    assert greeter.submit(name).status_code == 302
    assert stored_names(app) == [name]


def test_surrounding_whitespace_is_not_part_of_the_name(app, greeter):
    greeter.submit("  Ann \t")
    assert stored_names(app) == ["Ann"]
    assert "Hello, Ann!" in greeter.visit()


def test_html_in_a_name_is_shown_as_text(app, greeter):
    name = "<script>alert(1)</script>"
    page = greeter.submit(name, follow_redirects=True).get_data(as_text=True)
    assert "Hello, &lt;script&gt;alert(1)&lt;/script&gt;!" in page
    assert "<script>alert(1)" not in page
    assert stored_names(app) == [name]


@pytest.mark.parametrize("name", ["Zoë Ångström", "李小龙", "Ὀδυσσεύς 🙂"])
def test_unicode_name_is_shown_intact(app, greeter, name):
    page = greeter.submit(name, follow_redirects=True).get_data(as_text=True)
    assert f"Hello, {name}!" in page
    assert stored_names(app) == [name]


def test_sql_metacharacters_are_just_characters(app, greeter):
    name = "Robert'); DROP TABLE users;--"
    page = greeter.submit(name, follow_redirects=True).get_data(as_text=True)
    assert "Hello, Robert&#39;); DROP TABLE users;--!" in page
    assert stored_names(app) == [name]
