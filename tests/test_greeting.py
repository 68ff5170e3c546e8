from sqlalchemy import create_engine, text

from hrllo import User, db


def count_users(app, username):
    """Count rows through a separate connection: only committed data is visible there."""
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT count(*) FROM users WHERE username = :u"), {"u": username}
            ).scalar()
    finally:
        engine.dispose()


def test_first_visit_greets_a_stranger_and_asks_for_a_name(greeter):
    page = greeter.visit()
    assert "Hello, Stranger!" in page
    assert "What is your name?" in page
    assert 'class="flask-moment"' in page and 'data-format="LLL"' in page
    assert 'data-function="fromNow"' in page and 'data-refresh="60000"' in page


def test_new_name_redirects_home_and_is_pleased_to_meet_you(greeter):
    response = greeter.submit("Ann")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"

    page = greeter.visit()
    assert "Hello, Ann!" in page
    assert "Pleased to meet you." in page
    assert 'name="name" required type="text" value=""' in page  # the field is cleared


def test_same_name_again_is_happy_to_see_you(greeter):
    greeter.submit("Ann")
    page = greeter.submit("Ann", follow_redirects=True).get_data(as_text=True)
    assert "Hello, Ann!" in page
    assert "Happy to see you again." in page
    assert "Pleased to meet you." not in page


def test_name_known_from_another_browser(app, greeter):
    greeter.submit("Ann")
    other_browser = type(greeter)(app.test_client())
    page = other_browser.submit("Ann", follow_redirects=True).get_data(as_text=True)
    assert "Happy to see you again." in page


def test_new_name_is_stored_and_committed_once(app, greeter):
    greeter.submit("Ann")
    greeter.submit("Ann")
    assert count_users(app, "Ann") == 1
    with app.app_context():
        assert db.session.scalars(db.select(User.username)).all() == ["Ann"]


def test_index_address_works_too(greeter):
    assert "Hello, Stranger!" in greeter.client.get("/index").get_data(as_text=True)


def test_page_shows_the_server_time_in_utc_for_moment_js(greeter):
    page = greeter.visit()
    # moment.js converts this UTC instant to the browser's own time zone.
    assert 'data-timestamp="20' in page and 'Z" data-function="format"' in page
