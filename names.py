"""How a typed name is read: one visible name is one user, shown as it was typed.

Rules modelled on PRECIS's Nickname profile (RFC 8266), built on the standard library.
NameForm uses normalise_name as its field's filter and shows_as_typed as a validator.
Which rules, and why: docs/names.md.
"""

import unicodedata

from wtforms.validators import ValidationError

# Invisible characters that change nothing (soft hyphen, zero-width space, word joiner,
# invisible operators, deprecated format characters, byte order mark, language tag): dropped.
INVISIBLE = {"\u00ad", "\u200b", *map(chr, range(0x2060, 0x2065)), *map(chr, range(0x206A, 0x2070))}
INVISIBLE |= {"\ufeff", "\U000e0001"}
ZWNJ, ZWJ = "\u200c", "\u200d"  # invisible too, but they can change how their neighbours look
SKIN_TONES = "".join(map(chr, range(0x1F3FB, 0x1F400)))
TAGS = "".join(map(chr, range(0xE0020, 0xE0080)))  # after a black flag, they spell a region
BLACK_FLAG = "\U0001f3f4"
# Letters that join their neighbours, where a ZWNJ keeps two apart (Persian names have it).
CURSIVE_LETTERS = ("ARABIC LETTER", "SYRIAC LETTER", "NKO LETTER", "MONGOLIAN LETTER", "ADLAM")
# Invisible characters that change the order in which the text around them is shown: refused.
BIDI_CONTROLS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
MAX_MARKS = 30  # on one letter: Unicode's limit for stream-safe text (UAX #15)


def letter_before(name, i):
    """The letter or emoji that name[i] follows, and the marks and skin tones between them."""
    start = i
    while start and (
        unicodedata.category(name[start - 1])[0] == "M" or name[start - 1] in SKIN_TONES
    ):
        start -= 1
    return name[start - 1 : start] or " ", name[start:i]


def joins(name, i):
    """Whether the joiner name[i] changes how name looks (RFC 5892's contexts, and emoji's)."""
    before, marks = letter_before(name, i)
    after = name[i + 1 : i + 2] or " "
    if any(unicodedata.combining(char) == 9 for char in marks + after):
        return True  # with a virama, it picks the form of a conjunct (Devanagari, Sinhala)
    if name[i] == ZWJ:  # between emoji, it makes one of them (👩‍💻)
        return all(unicodedata.category(char).startswith("S") for char in (before, after))
    return all(unicodedata.name(char, "").startswith(CURSIVE_LETTERS) for char in (before, after))


def is_invisible(name, i):
    """Whether name[i] shows nothing and changes nothing, so that dropping it changes nothing."""
    if name[i] in TAGS:
        return not name[:i].rstrip(TAGS).endswith(BLACK_FLAG)
    if name[i] in (ZWNJ, ZWJ):
        return not joins(name, i)
    return name[i] in INVISIBLE


def normalise_name(value):
    """The name as read: invisible characters dropped, NFC, every kind of space a plain one,
    trimmed, and each run of spaces made one (as a browser shows them)."""
    if not isinstance(value, str):
        return value
    name = unicodedata.normalize("NFC", value)
    name = "".join(char for i, char in enumerate(name) if not is_invisible(name, i))
    name = unicodedata.normalize("NFC", name)  # again: what a dropped character kept apart
    name = "".join(" " if unicodedata.category(char) == "Zs" else char for char in name)
    return " ".join(word for word in name.strip().split(" ") if word)


def described(char):
    """char as a message names it: "right-to-left override (U+202E)"."""
    return f"{unicodedata.name(char, 'control character').lower()} (U+{ord(char):04X})"


def shows_as_typed(form, field):
    """Refuse the characters that would show the name otherwise than as it was typed."""
    if unicodedata.category(field.data[0]).startswith("M"):
        raise ValidationError(
            f"Please begin your name with a letter, not a {described(field.data[0])}."
        )
    marks = 0
    for char in field.data:
        category = unicodedata.category(char)
        if category == "Cc":
            raise ValidationError(f"Please remove the {described(char)}.")
        if char in BIDI_CONTROLS:
            raise ValidationError(
                f"Please remove the invisible {described(char)}:"
                " it changes the order in which text is shown."
            )
        if category in ("Zl", "Zp"):
            raise ValidationError(
                f"Please write your name on one line, without the {described(char)}."
            )
        marks = marks + 1 if category.startswith("M") else 0
        if marks > MAX_MARKS:
            raise ValidationError(
                f"Please use at most {MAX_MARKS} accents or other combining marks on one letter."
            )
