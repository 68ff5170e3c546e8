"""hrllo: a Flask + SQLAlchemy + migrations greeting app, in one module.

Read top to bottom: configuration, extensions, models, form, views, security headers,
error handlers, the app itself with its shell context, and its backup and restore commands.
"""

import base64
import hashlib
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import unicodedata
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import click
from alembic.script import ScriptDirectory
from flask import (
    Blueprint,
    Flask,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.cli import with_appcontext
from flask.sessions import SecureCookieSessionInterface
from flask_bootstrap import Bootstrap5
from flask_migrate import Migrate
from flask_moment import Moment
from flask_sqlalchemy import SQLAlchemy
from flask_static_digest import FlaskStaticDigest
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, event, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length, ValidationError

basedir = os.path.abspath(os.path.dirname(__file__))

# moment.js comes from npm (`npm ci`): no Python package ships a current one.
MOMENT_JS_DIR = os.path.join(basedir, "node_modules", "moment", "min")


# --- Configuration (from the environment) ----------------------------------


def database_url(url=None):
    """The SQLAlchemy URL for url, or the SQLite file beside this module when it is empty."""
    if not url:
        return "sqlite:///" + os.path.join(basedir, "data.sqlite")
    # Heroku-style URLs and bare postgresql:// would pick psycopg2, which is not installed.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class ConfigurationError(click.ClickException):
    """A setting the app cannot start without: the `flask` command prints it as one line."""


def env_flag(value):
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def env_list(value):
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def env_count(environ, name, default):
    value = environ.get(name) or str(default)
    if not value.isdigit():
        raise ConfigurationError(f"{name} must be a whole number, not {value!r}")
    return int(value)


class Config:
    """Settings that do not depend on where the app runs."""

    # The form posts a name of at most 64 characters and a token: anything larger is hostile.
    MAX_CONTENT_LENGTH = 4 * 1024
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session cookie
    # Bootstrap's files come from the Bootstrap-Flask package, never a CDN.
    BOOTSTRAP_SERVE_LOCAL = True
    # `flask digest compile` writes a .gz beside each digested asset, for nginx's gzip_static.
    FLASK_STATIC_DIGEST_COMPRESSION = ["gzip"]


def settings_from_environment(environ=os.environ):
    """The settings a deployment gives through its environment (see the README)."""
    return {
        "SQLALCHEMY_DATABASE_URI": database_url(environ.get("DATABASE_URL")),
        "SECRET_KEY": environ.get("SECRET_KEY"),  # None: generated once, see instance_secret_key
        # Keys still accepted, never used to sign: a new SECRET_KEY keeps visitors' cookies.
        "SECRET_KEY_FALLBACKS": env_list(environ.get("SECRET_KEY_FALLBACKS")),
        "SESSION_COOKIE_SECURE": env_flag(environ.get("SESSION_COOKIE_SECURE")),
        # Connections per worker to a server database (a sync worker needs one at a time).
        "DATABASE_POOL_SIZE": env_count(environ, "DATABASE_POOL_SIZE", 1),
        "DATABASE_MAX_OVERFLOW": env_count(environ, "DATABASE_MAX_OVERFLOW", 0),
    }


MISSING_SECRET_KEY = (
    "SECRET_KEY is not set: with a server database every host must be given the same"
    " SECRET_KEY (e.g. the output of: python -c 'import secrets; print(secrets.token_hex(32))')"
)


def configure_server_database(config):
    """A server database (anything but SQLite) is shared by hosts: one key, a bounded pool."""
    if make_url(config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() == "sqlite":
        return
    # Hosts that each generated their own key would refuse each other's forms, silently.
    if not config["SECRET_KEY"]:
        raise ConfigurationError(MISSING_SECRET_KEY)
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
        # A connection the server closed (a restart) is replaced before use, not a 500.
        "pool_pre_ping": True,
        "pool_size": config["DATABASE_POOL_SIZE"],
        "max_overflow": config["DATABASE_MAX_OVERFLOW"],
    }


def instance_secret_key(instance_path):
    """Return the key in instance/secret_key, generating it on first use.

    Written to a temporary file and hard-linked into place, so that several
    server workers starting at once all end up with the same key.
    """
    path = os.path.join(instance_path, "secret_key")
    if not os.path.exists(path):
        os.makedirs(instance_path, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=instance_path)  # created with mode 0600
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race: use its key
        finally:
            os.unlink(tmp)
    with open(path) as f:
        return f.read().strip()


def configure_sqlite(dbapi_connection, connection_record):
    """Make every SQLite connection safe for a multi-worker server."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")  # SQLite ignores FOREIGN KEY otherwise
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA busy_timeout=5000")  # wait for the write lock, do not fail
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode, one fsync per checkpoint
    cursor.close()


# --- Extensions -------------------------------------------------------------

# Named constraints, so that batch migrations on SQLite can drop and alter them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
db = SQLAlchemy(metadata=metadata)
migrate = Migrate(render_as_batch=True)  # SQLite can only ALTER TABLE by copying it
bootstrap = Bootstrap5()
moment = Moment()
csrf = CSRFProtect()
static_digest = FlaskStaticDigest()


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the cookie Secure on every HTTPS request."""

    def get_cookie_secure(self, app):
        return super().get_cookie_secure(app) or request.is_secure


# --- Models -----------------------------------------------------------------


class Role(db.Model):
    __tablename__ = "roles"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(64), unique=True)
    # dynamic: role.users is a query to filter and order, not an already-loaded list
    users = db.relationship("User", backref="role", lazy="dynamic")

    def __repr__(self):
        return "<Role %r>" % self.name


class User(db.Model):
    __tablename__ = "users"
    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(64), unique=True, index=True)
    role_id = db.Column(db.Integer, db.ForeignKey("roles.id"))

    def __repr__(self):
        return "<User %r>" % self.username


# --- Form -------------------------------------------------------------------

# How a name is read: rules modelled on PRECIS's Nickname profile (RFC 8266), built on the
# standard library, so that one visible name is one user, shown as it was typed. Which rules,
# and why: docs/names.md.
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


class NameForm(FlaskForm):
    class Meta:
        # CSRFProtect checks every POST before any view runs, and the page writes its token
        # with csrf_token() (Flask-WTF's docs): the form need not make or check one again.
        csrf = False

    name = StringField(
        "What is your name?",
        filters=[normalise_name],
        validators=[
            DataRequired(message="Please enter your name."),
            # users.username is String(64), which PostgreSQL counts in code points
            Length(
                max=64,
                message="Please use at most 64 characters;"
                " some emoji and accented letters count as two or more.",
            ),
            # NUL cannot be stored in PostgreSQL text; the rest would mislead whoever reads it
            shows_as_typed,
        ],
    )
    submit = SubmitField("Submit")


# --- Views ------------------------------------------------------------------

main = Blueprint("main", __name__)


@main.route("/index", methods=["GET", "POST"])
@main.route("/", methods=["GET", "POST"])  # registered first, so url_for gives "/"
def index():
    form = NameForm()
    if form.validate_on_submit():
        name = form.name.data
        # Only the id: whether the name is known is all the view needs.
        known = db.session.scalar(db.select(User.id).where(User.username == name)) is not None
        if not known:
            db.session.add(User(username=name))
            try:
                # Explicit: Flask-SQLAlchemy 3 has no SQLALCHEMY_COMMIT_ON_TEARDOWN.
                db.session.commit()
            except IntegrityError:
                # Someone sent the same new name at the same instant, and their insert won
                # (the unique index on users.username refused ours).
                db.session.rollback()
                known = True
        session["known"] = known
        session["name"] = name
        # 303 See Other: the browser loads the page with GET (post/redirect/get).
        return redirect(url_for("main.index"), code=303)
    return render_template(
        "index.html",
        form=form,
        name=session.get("name"),
        known=session.get("known", False),
        current_time=datetime.now(UTC),
    )


@main.route("/healthz")
def healthz():
    """For load balancers: 200 when the database answers, 503 when it does not."""
    try:
        db.session.execute(db.text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return {"status": "database unavailable"}, 503
    return {"status": "ok"}


# moment.js (from node_modules) and Flask-Moment's supporting code, both served by the app:
# pages work offline, and no page needs an inline script (`moment.include_moment()` writes
# one).
vendor = Blueprint(
    "vendor", __name__, static_folder=MOMENT_JS_DIR, static_url_path="/vendor/moment"
)


@vendor.route("/vendor/flask-moment.js")
def flask_moment_js():
    response = current_app.response_class(moment.flask_moment_js(), mimetype="text/javascript")
    # Revalidated on each visit, answered 304 while Flask-Moment is the same version.
    response.cache_control.no_cache = True
    response.add_etag()
    return response.make_conditional(request)


# --- Security headers -------------------------------------------------------


def style_hash(style):
    """A CSP source that allows exactly this style attribute, and no other."""
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    return f"'sha256-{digest}'"


# The policy allows only this site's own files: no inline script, no plugin, no frame.
# The one inline style allowed is Flask-Moment's style="display: none" on the times it
# renders, by its hash ('unsafe-hashes' applies the hash to style attributes); Bootstrap's
# CSS draws its icons from data: images; connect-src lets tools such as Lighthouse fetch
# /robots.txt from the page.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        f"style-src 'self' 'unsafe-hashes' {style_hash('display: none')}",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


@main.after_app_request
def add_security_headers(response):
    """Every response gets the security headers, unless its view set one itself."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


# --- Error handlers ---------------------------------------------------------

# What each error page tells the visitor: its title and what happened to their request.
ERROR_PAGES = {
    400: ("Bad Request", "Your form could not be checked ({reason}), so nothing was saved."),
    404: ("Not Found", "There is no page at this address."),
    413: ("Request Too Large", "That was more than this form ever sends, so nothing was saved."),
    500: ("Internal Server Error", "Something went wrong on our side and nothing was saved."),
}


def error_page(error):
    # A failed request's transaction is rolled back when Flask-SQLAlchemy removes the session.
    title, message = ERROR_PAGES[error.code]
    message = message.format(reason=error.description.rstrip("."))
    return render_template("error.html", title=title, message=message), error.code


for code in ERROR_PAGES:  # CSRFError is a 400, so a missing token gets the 400 page
    main.app_errorhandler(code)(error_page)


# --- The app and its shell context ------------------------------------------


def create_app(test_config=None):
    app = Flask(__name__, instance_path=os.path.join(basedir, "instance"))
    app.config.from_object(Config)
    app.config.update(settings_from_environment())
    if test_config:
        app.config.update(test_config)
    configure_server_database(app.config)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = instance_secret_key(app.instance_path)
    if app.config["SECRET_KEY_FALLBACKS"]:
        # Flask checks the session cookie against the fallbacks, Flask-WTF 1.3 checks CSRF
        # tokens against one key: itsdangerous takes a list, oldest first, signs with the last.
        app.config.setdefault(
            "WTF_CSRF_SECRET_KEY", [*app.config["SECRET_KEY_FALLBACKS"], app.config["SECRET_KEY"]]
        )
    app.session_interface = SessionInterface()

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", configure_sqlite)
    migrate.init_app(app, db)
    bootstrap.init_app(app)
    moment.init_app(app)
    csrf.init_app(app)
    app.register_blueprint(main)
    app.register_blueprint(vendor)
    # Last: it reads the manifest of every static folder registered so far.
    static_digest.init_app(app)
    if not os.path.exists(os.path.join(MOMENT_JS_DIR, "moment.min.js")):
        app.logger.error(
            "moment.js is missing from %s: run `npm ci`; pages will show no local time",
            MOMENT_JS_DIR,
        )

    @app.shell_context_processor
    def make_shell_context():
        return {"db": db, "User": User, "Role": Role}

    app.cli.add_command(backup)
    app.cli.add_command(restore)
    return app


# --- Backup and restore: flask backup FILE, flask restore FILE ------------------------
# See docs/backups.md. SQLite: a copy made by SQLite's online backup API. PostgreSQL:
# pg_dump's custom format, read back by pg_restore, both found on the PATH.

# The first bytes of a backup of each: an SQLite database, a pg_dump archive (custom format).
BACKUP_SIGNATURES = {"sqlite": b"SQLite format 3\x00", "postgresql": b"PGDMP"}
BACKEND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def backup_backend():
    name = db.engine.dialect.name
    if name not in BACKUP_SIGNATURES:
        raise click.ClickException(
            f"flask backup and restore know SQLite and PostgreSQL, not {name}"
        )
    return name


def postgres_tool(program, *args, connect=True):
    """Run pg_dump or pg_restore (on this app's database if connect): its output, or its
    error as one line."""
    path = shutil.which(program)
    if path is None:
        raise click.ClickException(
            f"{program} is not on the PATH: install PostgreSQL's client programs, of the"
            " server's major version or newer (Debian: apt-get install postgresql-client)"
        )
    env = dict(os.environ)
    if connect:
        url = db.engine.url.set(drivername="postgresql")  # libpq's URL: no driver name
        if url.password:
            env["PGPASSWORD"] = url.password  # not on a command line, where ps shows it
        args = ("--dbname", url.set(password=None).render_as_string(), *args)
    result = subprocess.run([path, *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise click.ClickException(" ".join(result.stderr.split()))
    return result.stdout


def sqlite_backup_file(file):
    """A backup file of SQLite, opened read-only: restoring never changes it."""
    return closing(sqlite3.connect(file.resolve().as_uri() + "?mode=ro", uri=True))


def backup_contents(backend, file):
    """The tables in a backup, and the migration revisions its schema is at."""
    if backend == "postgresql":
        tables = re.findall(
            r"^\d+; \d+ \d+ TABLE \S+ (\S+) ",
            postgres_tool("pg_restore", "--list", file, connect=False),
            re.M,
        )
        data = postgres_tool(
            "pg_restore", "--data-only", "--table=alembic_version", "--file=-", file, connect=False
        )
        rows = re.search(r"^COPY .*? FROM stdin;\n(.*?)^\\\.$", data, re.M | re.S)
        return set(tables), rows.group(1).split() if rows else []
    try:
        with sqlite_backup_file(file) as copy:
            tables = {name for (name,) in copy.execute("SELECT name FROM sqlite_master")}
            if "alembic_version" not in tables:
                return tables, []
            return tables, [
                rev for (rev,) in copy.execute("SELECT version_num FROM alembic_version")
            ]
    except sqlite3.DatabaseError as error:
        raise click.ClickException(f"{file} cannot be read: {error}") from error


def check_backup(file, backend):
    """The revisions of a backup this code can restore; else a one-line error."""
    if not file.is_file():
        raise click.ClickException(f"no backup at {file}")
    with file.open("rb") as f:
        if f.read(len(BACKUP_SIGNATURES[backend])) != BACKUP_SIGNATURES[backend]:
            raise click.ClickException(
                f"{file} is not a backup made by flask backup on {BACKEND_NAMES[backend]}"
            )
    tables, revisions = backup_contents(backend, file)
    if not revisions:
        raise click.ClickException(f"{file} is not a backup of hrllo: no migration ran on it")
    script = ScriptDirectory.from_config(migrate.get_config())
    unknown = set(revisions) - {revision.revision for revision in script.walk_revisions()}
    if unknown and {"roles", "users"} <= tables:
        raise click.ClickException(
            f"{file} comes from a newer release of hrllo: its schema is at revision"
            f" {', '.join(unknown)}, which {script.dir}/versions does not have; restore it"
            " with that release's code"
        )
    if unknown:
        raise click.ClickException(
            f"{file} is a backup of another app: its schema is at revision"
            f" {', '.join(unknown)}, and it has no users and roles tables"
        )
    return revisions, script.get_current_head()


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup(file):
    """Write a consistent copy of the database to FILE, while the site serves."""
    backend = backup_backend()
    if not file.parent.is_dir():
        raise click.ClickException(f"no folder {file.parent} to write the backup in")
    partial = file.with_name(file.name + ".partial")  # FILE is whole, or as it was before
    try:
        if backend == "sqlite":
            with (
                closing(sqlite3.connect(db.engine.url.database)) as source,
                closing(sqlite3.connect(partial)) as copy,
            ):
                source.backup(copy)  # in one step: the database as it was at one instant
                copy.execute("PRAGMA journal_mode=DELETE")  # one file, with no -wal beside it
        else:
            postgres_tool("pg_dump", "--format=custom", "--file", partial)
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)
    click.echo(f"Backed up the database to {file}")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Restore over the tables the database has now.")
@with_appcontext
def restore(file, replace):
    """Load FILE, a backup written by flask backup, into this empty database."""
    backend = backup_backend()
    revisions, head = check_backup(file, backend)
    if (tables := db.inspect(db.engine).get_table_names()) and not replace:
        raise click.ClickException(
            f"the database is not empty (it has {', '.join(sorted(tables))}): restore into"
            " an empty one, or add --replace"
        )
    if backend == "sqlite":
        with (
            sqlite_backup_file(file) as source,
            closing(sqlite3.connect(db.engine.url.database)) as target,
        ):
            source.backup(target)
    else:
        # One transaction: a restore that fails half-way leaves the database as it was.
        clean = ["--clean", "--if-exists"] if replace else []
        postgres_tool(
            "pg_restore", "--single-transaction", "--no-owner", "--no-privileges", *clean, file
        )
    upgrade = "" if revisions == [head] else f" (`flask db upgrade` takes it to {head})"
    click.echo(f"Restored {file}: the schema is at revision {', '.join(revisions)}{upgrade}")


app = create_app()
