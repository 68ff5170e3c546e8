"""hrllo: a Flask + SQLAlchemy + migrations greeting app, in one module.

Read top to bottom: configuration, extensions, models, form, views,
error handlers, shell context, and the app itself.
"""

import hashlib
import ipaddress
import os
import secrets
import tempfile
import unicodedata
from datetime import UTC, datetime
from functools import lru_cache

import click
from flask import (
    Blueprint,
    Flask,
    current_app,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_bootstrap import Bootstrap5
from flask_migrate import Migrate
from flask_moment import Moment
from flask_moment import moment as MomentMarkup
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from itsdangerous import TimedSerializer, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, want_bytes
from markupsafe import Markup
from sqlalchemy import MetaData, event, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.security import safe_join
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length, ValidationError

basedir = os.path.abspath(os.path.dirname(__file__))

# moment.js comes from npm (`npm ci`), no Python package ships a current one.
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


def env_flag(value):
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


class Config:
    """Settings that do not depend on where the app runs."""

    # The form posts a name of at most 64 characters and a token: anything larger is hostile.
    MAX_CONTENT_LENGTH = 4 * 1024
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session cookie
    # Bootstrap's files come from the Bootstrap-Flask package, never a CDN (base.html links
    # them itself; this keeps bootstrap.load_css() and load_js() local too).
    BOOTSTRAP_SERVE_LOCAL = True


def env_list(value):
    return [item.strip() for item in (value or "").split(",") if item.strip()]


class ConfigurationError(click.ClickException):
    """A setting the app cannot start without: the `flask` command prints it as one line."""


def env_count(environ, name, default):
    value = environ.get(name) or str(default)
    if not value.isdigit():
        raise ConfigurationError(f"{name} must be a whole number, not {value!r}")
    return int(value)


def settings_from_environment(environ=os.environ):
    """The settings a deployment gives through its environment (see the README)."""
    return {
        "SQLALCHEMY_DATABASE_URI": database_url(environ.get("DATABASE_URL")),
        "SECRET_KEY": environ.get("SECRET_KEY"),  # None: generated once, see instance_secret_key
        # Keys still accepted, never used to sign: a new SECRET_KEY keeps visitors' cookies.
        "SECRET_KEY_FALLBACKS": env_list(environ.get("SECRET_KEY_FALLBACKS")),
        "SESSION_COOKIE_SECURE": env_flag(environ.get("SESSION_COOKIE_SECURE")),
        # Who may tell the app the client's address and scheme: gunicorn's own setting and default.
        "FORWARDED_ALLOW_IPS": environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1"),
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
        # (A SQLite file cannot close a connection: there the ping is one query for nothing.)
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


class FromTrustedProxy:
    """Werkzeug's ProxyFix for requests from the front proxy only (one hop).

    The proxy (nginx) overwrites X-Forwarded-For and X-Forwarded-Proto; a client that
    reaches gunicorn from any other address has its X-Forwarded-* headers ignored.
    """

    def __init__(self, wsgi_app, allowed):
        self.direct = wsgi_app
        self.proxied = ProxyFix(wsgi_app, x_for=1, x_proto=1)
        entries = [entry.strip() for entry in allowed.split(",") if entry.strip()]
        self.anyone = "*" in entries
        self.networks = [ipaddress.ip_network(e, strict=False) for e in entries if e != "*"]
        # Every request asks; nearly all come from the same few addresses (the proxies).
        self.is_trusted = lru_cache(maxsize=1024)(self.is_trusted)

    def is_trusted(self, address):
        try:
            address = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def __call__(self, environ, start_response):
        if self.anyone or self.is_trusted(environ.get("REMOTE_ADDR", "")):
            return self.proxied(environ, start_response)
        return self.direct(environ, start_response)


class WithSecurityHeaders:
    """SECURITY_HEADERS (see the views) on every response, unless the app set one itself.

    Added to the WSGI response rather than in an after_request hook, where Werkzeug's
    Headers.setdefault cost 7% of a page for six headers.
    """

    def __init__(self, wsgi_app, headers):
        self.wsgi_app = wsgi_app
        self.headers = [(name.lower(), name, value) for name, value in headers.items()]

    def __call__(self, environ, start_response):
        def start_with_headers(status, headers, exc_info=None):
            present = {name.lower() for name, _ in headers}
            added = [(name, value) for key, name, value in self.headers if key not in present]
            return start_response(status, headers + added, exc_info)

        return self.wsgi_app(environ, start_with_headers)


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


class MomentWithoutInlineStyle(MomentMarkup):
    """Flask-Moment's <span>s without their style attribute, which the CSP refuses.

    hrllo.css hides a .flask-moment span instead, until the script renders it.
    """

    def _render(self, *args, **kwargs):
        # str.replace: Markup's own replace would escape its arguments first, for nothing.
        return Markup(str.replace(super()._render(*args, **kwargs), ' style="display: none"', ""))


class CookieSigner(TimestampSigner):
    """itsdangerous's timestamp signer, deriving each signing key from its secret once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.derived_keys = {}

    def derive_key(self, secret_key=None):
        if secret_key not in self.derived_keys:
            self.derived_keys[secret_key] = super().derive_key(secret_key)
        return self.derived_keys[secret_key]


class CookieSerializer(URLSafeTimedSerializer):
    """itsdangerous's signed, URL-safe serializer without its zlib attempt: a session of a
    few short strings never gets shorter, and setting up zlib cost 4% of a request. (A
    cookie that was written compressed still loads.) Its signer is built once: itsdangerous
    builds one, and derives its key again, for every cookie read or written."""

    default_signer = CookieSigner
    _signer = None

    def dump_payload(self, obj):
        return base64_encode(TimedSerializer.dump_payload(self, obj))

    def make_signer(self, salt=None):
        if salt is not None and want_bytes(salt) != self.salt:
            return super().make_signer(salt)
        if self._signer is None:
            self._signer = super().make_signer()
        return self._signer


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, Secure on every HTTPS request (not only with
    SESSION_COOKIE_SECURE), their serializer kept while the keys stay the same.

    Flask builds a new serializer twice a request (to read and to write the cookie), which
    costs about as much as signing it.
    """

    _keys = _serializer = None
    # The same SHA-1, given as OpenSSL's function: Flask's lazy wrapper around it sends
    # every HMAC down Python's slower pure-Python path.
    digest_method = staticmethod(hashlib.sha1)

    def get_cookie_secure(self, app):
        return super().get_cookie_secure(app) or request.is_secure

    def get_signing_serializer(self, app):
        # As Flask builds it: the fallbacks, then the key that signs (itsdangerous's order).
        keys = [*(app.config["SECRET_KEY_FALLBACKS"] or ()), app.secret_key]
        if keys != self._keys:
            self._keys = keys
            self._serializer = CookieSerializer(
                keys,
                salt=self.salt,
                serializer=self.serializer,
                signer_kwargs={
                    "key_derivation": self.key_derivation,
                    "digest_method": self.digest_method,
                },
            )
        return self._serializer


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
        # CSRFProtect checks every POST before any view runs; the page writes its token
        # with csrf_token(), so the form need not make or check one a second time.
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


# Statements on the users table, built once: building a query costs as much as running it
# on SQLite. They run on a connection of the engine rather than db.session: this view never
# loads a User, and the ORM session's set-up and clean-up were 12% of an insert and 8% of
# a lookup. That connection is the request's one connection: a view that also used
# db.session while holding it would need two per worker (DATABASE_POOL_SIZE is 1).
users_table = User.__table__
FIND_USER = db.select(users_table.c.id).where(users_table.c.username == db.bindparam("name"))
ADD_USER = db.insert(users_table)


def is_stored(connection, name):
    return connection.scalar(FIND_USER, {"name": name}) is not None


def remember(name):
    """Store name if it is new; return True if it was already known."""
    with db.engine.connect() as connection:  # back to the pool at the end, rolled back if need be
        if is_stored(connection, name):
            return True
        try:
            connection.execute(ADD_USER, {"username": name})
            # Explicit: Flask-SQLAlchemy 3 has no SQLALCHEMY_COMMIT_ON_TEARDOWN.
            connection.commit()
        except IntegrityError:
            # Someone submitted the same new name at the same instant and won.
            connection.rollback()
            if not is_stored(connection, name):
                raise
            return True
    return False


@main.route("/index", methods=["GET", "POST"])
@main.route("/", methods=["GET", "POST"])  # listed last, so url_for gives "/"
def index():
    form = NameForm()
    if form.validate_on_submit():
        session["known"] = remember(form.name.data)
        session["name"] = form.name.data
        return redirect(url_for("main.index"))
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


# On every response. The policy allows only this site's own files: no inline script or
# style, no plugin, no frame; Bootstrap's CSS draws its icons from data: images, and
# connect-src lets tools such as Lighthouse fetch /robots.txt from the page.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
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

# moment.js (from node_modules) and Flask-Moment's supporting code, both served by the app:
# pages work offline, and no page needs an inline script.
vendor = Blueprint(
    "vendor", __name__, static_folder=MOMENT_JS_DIR, static_url_path="/vendor/moment"
)


@vendor.route("/vendor/flask-moment.js")
def flask_moment_js():
    headers = {"Content-Type": "text/javascript; charset=utf-8"}
    if request.args.get("v") == asset_version("vendor.flask_moment_js"):
        headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return moment.flask_moment_js(), headers


def content_hash(data):
    """A short hash of an asset's content: its URL changes when the content does."""
    return hashlib.sha256(data).hexdigest()[:12]


def asset_version(endpoint, filename=None):
    """The content hash of an asset, read once per app: new assets come with a restart,
    as new code does (a SIGHUP reload is enough). None for a missing file."""
    versions = current_app.extensions.setdefault("asset_versions", {})
    key = (endpoint, filename)
    if key not in versions:
        if endpoint == "vendor.flask_moment_js":
            versions[key] = content_hash(moment.flask_moment_js().encode())
        else:
            blueprint = endpoint.rpartition(".")[0]
            scaffold = current_app.blueprints[blueprint] if blueprint else current_app
            path = safe_join(scaffold.static_folder, filename)
            try:
                with open(path, "rb") as f:
                    versions[key] = content_hash(f.read())
            except (OSError, TypeError):
                versions[key] = None  # a missing or outside file: a plain URL, and its 404
    return versions[key]


def is_asset(endpoint):
    return endpoint in ("static", "vendor.flask_moment_js") or endpoint.endswith(".static")


@main.app_url_defaults
def versioned_assets(endpoint, values):
    """Every asset URL carries ?v=<hash of its content>, so assets can be cached for a year."""
    if is_asset(endpoint):
        version = asset_version(endpoint, values.get("filename"))
        if version:
            values.setdefault("v", version)


# --- Error handlers ---------------------------------------------------------


# What each error page tells the visitor: its title and what happened to their request.
ERROR_PAGES = {
    400: ("Bad Request", "Your form could not be checked ({reason}), so nothing was saved."),
    404: ("Not Found", "There is no page at this address."),
    413: ("Request Too Large", "That was more than this form ever sends, so nothing was saved."),
    500: ("Internal Server Error", "Something went wrong on our side and nothing was saved."),
}


def error_page(error):
    # A failed request's transaction is rolled back: the view's at the end of its `with`
    # block, any other through db.session when Flask-SQLAlchemy removes the session.
    title, message = ERROR_PAGES[error.code]
    message = message.format(reason=error.description.rstrip("."))
    return render_template("error.html", title=title, message=message), error.code


for code in ERROR_PAGES:  # CSRFError is a 400, so a missing token gets the 400 page
    main.app_errorhandler(code)(error_page)


# --- The app, its shell context and CLI -------------------------------------


class Hrllo(Flask):
    """Flask, remembering the URL of each asset it links to.

    Building the six a page links (routing, the ?v= hash, quoting) cost 11% of the page.
    An asset's URL depends only on the arguments and on where the app is mounted; an
    external URL (with the host) is built every time.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cached_url_for = lru_cache(maxsize=256)(self.cached_url_for)

    def cached_url_for(self, root_path, endpoint, arguments):
        return super().url_for(endpoint, **dict(arguments))

    def url_for(self, endpoint, /, **values):
        if is_asset(endpoint) and not values.get("_external") and has_request_context():
            return self.cached_url_for(request.root_path, endpoint, frozenset(values.items()))
        return super().url_for(endpoint, **values)


def create_app(test_config=None):
    app = Hrllo(__name__, instance_path=os.path.join(basedir, "instance"))
    app.config.from_object(Config)
    app.config.update(settings_from_environment())
    if test_config:
        app.config.update(test_config)
    configure_server_database(app.config)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = instance_secret_key(app.instance_path)
    app.wsgi_app = WithSecurityHeaders(app.wsgi_app, SECURITY_HEADERS)
    app.wsgi_app = FromTrustedProxy(app.wsgi_app, app.config["FORWARDED_ALLOW_IPS"])
    if app.config["SECRET_KEY_FALLBACKS"]:
        # Flask checks the session cookie against the fallbacks, Flask-WTF 1.3 checks CSRF
        # tokens against one key: itsdangerous takes a list, oldest first, signs with the last.
        app.config.setdefault(
            "WTF_CSRF_SECRET_KEY", [*app.config["SECRET_KEY_FALLBACKS"], app.config["SECRET_KEY"]]
        )

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", configure_sqlite)
    migrate.init_app(app, db)
    bootstrap.init_app(app)
    moment.init_app(app)
    app.extensions["moment"] = MomentWithoutInlineStyle
    csrf.init_app(app)
    app.session_interface = CookieSessions()
    app.register_blueprint(main)

    app.register_blueprint(vendor)
    if not os.path.exists(os.path.join(MOMENT_JS_DIR, "moment.min.js")):
        app.logger.error(
            "moment.js is missing from %s: run `npm ci`; pages will show no local time",
            MOMENT_JS_DIR,
        )

    @app.shell_context_processor
    def make_shell_context():
        return {"db": db, "User": User, "Role": Role}

    return app


app = create_app()
