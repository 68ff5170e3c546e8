"""normalise usernames: one visible name, one row

Names were stored as sent: "Zoë" typed as one character and "Zoe" followed by a combining
diaeresis were two users, and so were "Ada" and "Ada" followed by a zero-width space. This
revision reads every stored name as the form reads names from now on (docs/names.md).

Two rows whose names become equal are merged, never lost silently. The older row (the
lower id) is kept, with its role, or with the role of a newer one if it had none; the
newer rows are deleted. Each merge is logged as a warning naming every row, its spelling
and its role, each rename as info; names are logged as ascii(), so that a control
character stored in one never reaches the terminal. A name that would come out empty or
longer than 64 characters is left as stored, with a warning.

A name holding a character the form now refuses (a control, a bidi control, a line
separator, too many marks) is left as stored: nobody can type it again, and rewriting or
deleting it would invent or lose a name. docs/names.md shows how to list them.

The rules are a frozen copy of hrllo.py's as of this revision, not an import: a revision
must do the same on every database, whenever it runs, and Alembic loads every revision
file for every `flask db` command, so importing app code that later moves or changes would
break every command or silently change what this revision did. Rules changed later come
with a migration of their own.

Downgrade does nothing: the spellings as sent are gone, and the normalised names are
valid names at the previous revision too.

Revision ID: f307f3521e2a
Revises: bd3493f70f72
Create Date: 2026-12-04 03:02:25.681507

"""
import logging
import unicodedata
from collections import defaultdict

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f307f3521e2a'
down_revision = 'bd3493f70f72'
branch_labels = None
depends_on = None

log = logging.getLogger('alembic.names')
users = sa.table('users', sa.column('id'), sa.column('username'), sa.column('role_id'))


# --- hrllo.normalise_name and what it uses, as of this revision -------------

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


# --- The migration ----------------------------------------------------------


def upgrade():
    connection = op.get_bind()
    spellings = defaultdict(list)  # a normalised name -> the rows that spell it otherwise
    # yield_per: a large table is read a thousand rows at a time, not all at once
    everyone = sa.select(users).order_by(users.c.id).execution_options(yield_per=1000)
    for row in connection.execute(everyone):
        name = normalise_name(row.username)
        if name == row.username:
            continue
        if not name or len(name) > 64:
            log.warning('user %d left as %a: the form would refuse it as %a',
                        row.id, row.username, name)
        else:
            spellings[name].append(row)

    for name, rows in spellings.items():
        same = connection.execute(sa.select(users).where(users.c.username == name)).first()
        keeper, *merged = sorted(rows + ([same] if same else []), key=lambda row: row.id)
        role_id = next((row.role_id for row in [keeper, *merged] if row.role_id is not None),
                       None)
        if merged:
            # deleted first: the kept row takes the name that one of them may still hold
            connection.execute(users.delete().where(users.c.id.in_([row.id for row in merged])))
            log.warning('%a: kept user %d (was %a, role %s) with role %s; deleted %s',
                        name, keeper.id, keeper.username, keeper.role_id, role_id,
                        ', '.join(f'user {row.id} ({row.username!a}, role {row.role_id})'
                                  for row in merged))
        else:
            log.info('user %d: %a is now %a', keeper.id, keeper.username, name)
        connection.execute(users.update().where(users.c.id == keeper.id)
                           .values(username=name, role_id=role_id))


def downgrade():
    # Nothing to undo that can be undone: the spellings as sent were not kept.
    pass
