"""Names as people type them: one visible name is one person, greeted and shown as typed."""

import unicodedata

import pytest
from flask_migrate import downgrade, upgrade

from hrllo import Role, User, db
from tests.support import MIGRATIONS, Greeter, stored_usernames

WALES = "\U0001f3f4\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f"  # 🏴 + tags


def nfd(name):
    """name as some systems type or paste it: each accented letter as letter + accent."""
    return unicodedata.normalize("NFD", name)


def greet_from_another_browser(app, name):
    return Greeter(app.test_client()).submit(name, follow_redirects=True).get_data(as_text=True)


@pytest.mark.parametrize(
    ("name", "same_name"),
    [
        pytest.param("Zo\u00eb", "Zoe\u0308", id="e-diaeresis-then-e-and-combining-diaeresis"),
        pytest.param("Zo\u00eb", "Zoe\u200b\u0308", id="zero-width-space-inside-a-letter"),
        pytest.param("김민준", nfd("김민준"), id="hangul-syllables-then-their-jamo"),
        pytest.param("Ada", "Ada\u200b", id="zero-width-space"),
        pytest.param("Ada", "\ufeffAda", id="byte-order-mark"),
        pytest.param("Ada", "A\u00adda", id="soft-hyphen"),
        pytest.param("Ada", "Ad\u200da", id="joiner-between-latin-letters"),
        pytest.param("Ada", "Ada\U000e0041", id="tag-character-outside-a-flag"),
        pytest.param("Ann Lee", "Ann\u00a0Lee", id="no-break-space"),
        pytest.param("Ann Lee", "Ann   Lee", id="run-of-spaces"),
        pytest.param("山田 太郎", "山田\u3000太郎", id="ideographic-space"),
    ],
)
def test_the_same_visible_name_typed_another_way_is_known(
    app, greeter, database_url, name, same_name
):
    greeter.submit(name)
    page = greet_from_another_browser(app, same_name)
    assert f"Hello, {name}!" in page
    assert "Happy to see you again." in page
    assert stored_usernames(database_url) == [name]


@pytest.mark.parametrize(
    ("name", "other_name"),
    [
        pytest.param("Ada", "ada", id="case"),
        pytest.param("zoe", "ｚｏｅ", id="fullwidth-letters"),
        pytest.param("क्षितिज", "क्\u200dषितिज", id="conjunct-then-half-form-with-zwj"),
        pytest.param("क्षितिज", "क्\u200cषितिज", id="conjunct-then-visible-virama-with-zwnj"),
        pytest.param("Sam ❤", "Sam ❤\ufe0f", id="text-heart-then-emoji-heart"),
    ],
)
def test_names_that_look_different_are_different_people(
    app, greeter, database_url, name, other_name
):
    greeter.submit(name)
    page = greet_from_another_browser(app, other_name)
    assert f"Hello, {other_name}!" in page
    assert "Pleased to meet you." in page
    assert sorted(stored_usernames(database_url)) == sorted([name, other_name])


@pytest.mark.parametrize(
    "name",
    [
        "Zoë Ångström",
        "李小龙",
        "Ὀδυσσεύς 🙂",
        "Nguyễn Thị Minh Khai",  # two marks on a letter, precomposed
        "Ọ̀ṣun",  # a mark no precomposed letter has
        "김민준",
        "क्\u200dषितिज",  # ZWJ after a virama: a half form
        "ශ්\u200dරීමාලි",  # ZWJ after the Sinhala virama: a touching letter
        "علی\u200cرضا",  # ZWNJ between Persian letters: they stay unjoined
        "Ada 👩\u200d💻",  # emoji joined by ZWJ
        "Alex 🏳\ufe0f\u200d🌈",
        "Sam 👩🏽\u200d🚀",  # with a skin tone
        "Gareth " + WALES,  # a flag spelled with tag characters
        pytest.param("x" + "\u0301" * 30, id="30-marks-on-a-letter"),  # the most allowed
    ],
)
def test_names_are_stored_once_and_shown_as_typed(app, greeter, database_url, name):
    page = greeter.submit(name, follow_redirects=True).get_data(as_text=True)
    assert f"Hello, {name}!" in page
    assert "Happy to see you again." in greet_from_another_browser(app, name)
    assert stored_usernames(database_url) == [name]


BIDI = "it changes the order in which text is shown."


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Ada\u202eecalevoL", f"the invisible right-to-left override (U+202E): {BIDI}"),
        ("\u200fAda", f"the invisible right-to-left mark (U+200F): {BIDI}"),
        ("Ada \u2066Lovelace\u2069", f"the invisible left-to-right isolate (U+2066): {BIDI}"),
        ("Ada\u0085Lovelace", "Please remove the control character (U+0085)."),
        ("\u009b31mAda", "Please remove the control character (U+009B)."),
        ("Ada\u2028Lovelace", "on one line, without the line separator (U+2028)."),
        ("Ada\u2029Lovelace", "on one line, without the paragraph separator (U+2029)."),
        pytest.param(
            "Z" + "\u0301" * 63,
            "Please use at most 30 accents or other combining marks on one",
            id="63-marks-on-a-letter",
        ),
        pytest.param(
            "x" + "\u0301" * 31,
            "Please use at most 30 accents or other combining marks on one",
            id="31-marks-on-a-letter",
        ),
        (
            "\u0301Ada",
            "Please begin your name with a letter, not a combining acute accent (U+0301).",
        ),
        ("\u200b\u200d\ufeff", "Please enter your name."),
    ],
)
def test_a_name_that_would_show_otherwise_is_refused_and_says_why(
    greeter, database_url, name, message
):
    response = greeter.submit(name)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert stored_usernames(database_url) == []


def test_64_characters_are_counted_after_accents_join_their_letters(greeter, database_url):
    assert greeter.submit("e\u0301" * 64).status_code == 303  # 128 code points as sent
    assert stored_usernames(database_url) == ["é" * 64]


def test_an_emoji_made_of_several_characters_counts_as_each(greeter, database_url):
    page = greeter.submit("x" * 62 + "👩\u200d💻").get_data(as_text=True)  # 62 + 3
    assert "Please use at most 64 characters; some emoji and accented letters count" in page
    assert stored_usernames(database_url) == []


# --- Names stored before names were normalised -------------------------------

BEFORE_NAMES = "bd3493f70f72"  # the revision before f307f3521e2a, which normalises names


def test_upgrade_merges_the_spellings_of_a_name_into_the_older_user(app, database_url, capsys):
    with app.app_context():
        downgrade(directory=MIGRATIONS, revision=BEFORE_NAMES)  # names stored as sent
        admin, member = Role(name="Administrator"), Role(name="Member")
        users = [
            User(username="Zoe\u0308"),
            User(username="Ann"),
            User(username="Ada", role=admin),
            User(username="Zo\u00eb", role=member),
            User(username="Ada\u200b", role=member),
            User(username="Eve\u00a0"),
            User(username="\u200b"),  # nothing once read: the form would refuse it
        ]
        for user in users:  # one at a time: the ids are in this order
            db.session.add(user)
            db.session.flush()
        zoe_nfd, ann, ada, zoe_nfc, ada_zwsp, eve, blank = (user.id for user in users)
        admin_id, member_id = admin.id, member.id
        db.session.commit()

        upgrade(directory=MIGRATIONS)
        rows = db.session.execute(db.select(User.id, User.username, User.role_id).order_by(User.id))
        assert rows.all() == [
            (zoe_nfd, "Zo\u00eb", member_id),  # the older row, with the only role
            (ann, "Ann", None),
            (ada, "Ada", admin_id),  # the older row, with its own role
            (eve, "Eve", None),
            (blank, "\u200b", None),  # left as it was
        ]
    log = capsys.readouterr().err
    assert f"kept user {zoe_nfd} " in log and f"deleted user {zoe_nfc} " in log
    assert f"kept user {ada} " in log and f"deleted user {ada_zwsp} " in log
    assert f"user {blank} left as '\\u200b'" in log
    assert "Happy to see you again." in greet_from_another_browser(app, "Zo\u00eb")
