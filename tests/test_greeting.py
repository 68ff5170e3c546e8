"""The greeting: a stranger gives a name, is met, and is known when they come back."""

from sqlalchemy import create_engine, event, text

from hrllo import User, db
from settings import database_url as sqlalchemy_url
from tests.support import Greeter, form_field, stored_usernames


def test_first_visit_greets_a_stranger_and_asks_for_a_name(greeter):
    page = greeter.visit()
    assert "Hello, Stranger!" in page
    assert "What is your name?" in page


def test_new_name_redirects_home_and_is_pleased_to_meet_you(greeter):
    response = greeter.submit("Ann")
    assert response.status_code == 303  # See Other: the browser loads "/" with GET
    assert response.headers["Location"] == "/"

    page = greeter.visit()
    assert "Hello, Ann!" in page
    assert "Pleased to meet you." in page
    assert form_field(page, "name").get("value", "") == ""  # the field is cleared


def test_same_name_again_is_happy_to_see_you(greeter):
    greeter.submit("Ann")
    page = greeter.submit("Ann", follow_redirects=True).get_data(as_text=True)
    assert "Hello, Ann!" in page
    assert "Happy to see you again." in page
    assert "Pleased to meet you." not in page


def test_name_known_from_another_browser(app, greeter):
    greeter.submit("Ann")
    other_browser = Greeter(app.test_client())
    page = other_browser.submit("Ann", follow_redirects=True).get_data(as_text=True)
    assert "Happy to see you again." in page


def test_name_stored_by_another_browser_just_after_the_lookup(app, greeter, database_url):
    """Two people send the same new name at once: both looked it up before either stored it.

    The other person's insert is made, and committed, right after this request's lookup,
    through SQLAlchemy's own event hook: this request's insert is then refused by the
    unique index, and the visitor is greeted as known.
    """
    other_browser = create_engine(sqlalchemy_url(database_url))
    lookups = []

    def store_it_first(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().startswith("SELECT") and "FROM users" in statement:
            lookups.append(statement)
            if len(lookups) == 1:
                with other_browser.begin() as other:
                    other.execute(text("INSERT INTO users (username) VALUES ('Ann')"))

    with app.app_context():
        event.listen(db.engine, "after_cursor_execute", store_it_first)
    page = greeter.submit("Ann", follow_redirects=True).get_data(as_text=True)
    other_browser.dispose()

    assert len(lookups) == 1  # this request looked the name up before it was stored
    assert "Happy to see you again." in page
    assert stored_usernames(database_url) == ["Ann"]


def test_new_name_is_stored_and_committed_once(greeter, database_url):
    greeter.submit("Ann")
    greeter.submit("Ann")
    # A connection of its own sees only what was committed.
    assert stored_usernames(database_url) == ["Ann"]


def test_index_address_works_too(greeter):
    assert "Hello, Stranger!" in greeter.client.get("/index").get_data(as_text=True)


def test_a_name_sent_from_the_index_address_is_greeted_too(greeter):
    response = greeter.submit("Ann", address="/index")  # the form posts back to /index
    assert response.headers["Location"] == "/"
    assert "Hello, Ann!" in greeter.visit()


def test_page_gives_moment_js_the_server_time_in_utc(greeter):
    page = greeter.visit()
    # moment.js turns this UTC instant into the browser's local time ('LLL') and 'fromNow'.
    assert 'data-format="LLL"' in page and 'data-function="fromNow"' in page
    assert 'data-timestamp="20' in page and 'Z"' in page


def test_a_change_left_for_teardown_is_never_saved(app, client, database_url):
    # Why the view commits: SQLALCHEMY_COMMIT_ON_TEARDOWN is gone from Flask-SQLAlchemy 3.
    app.config["SQLALCHEMY_COMMIT_ON_TEARDOWN"] = True

    @app.route("/add-without-commit")
    def add_without_commit():
        db.session.add(User(username="Ann"))
        return "added"

    assert client.get("/add-without-commit").status_code == 200
    assert stored_usernames(database_url) == []
