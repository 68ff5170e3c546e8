"""hrllo: the app of *Flask Web Development*, chapter 5 ("Databases"), on today's libraries.

Read top to bottom as the chapter builds it: configuration, extensions, models, form, view,
error pages, and the app with its shell context. Each feature beyond the chapter is a module
beside this one, named for what it does and wired into create_app with one line.
"""

import os
from datetime import UTC, datetime

from flask import Blueprint, Flask, redirect, render_template, session, url_for
from flask_bootstrap import Bootstrap5
from flask_migrate import Migrate
from flask_moment import Moment
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.exc import IntegrityError
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length

import assets
import backups
import database
import health
import logs
import metrics
import request_ids
import security
import settings
from names import normalise_name, shows_as_typed

basedir = os.path.abspath(os.path.dirname(__file__))


# --- Configuration ----------------------------------------------------------
# These settings are the same everywhere; the rest come from the environment (settings.py).


class Config:
    # The form posts a name of at most 64 characters and a token: anything larger is hostile.
    MAX_CONTENT_LENGTH = 4 * 1024
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session cookie
    # Bootstrap's files come from the Bootstrap-Flask package, never a CDN.
    BOOTSTRAP_SERVE_LOCAL = True
    # `flask digest compile` writes a .gz beside each digested asset, for nginx's gzip_static.
    FLASK_STATIC_DIGEST_COMPRESSION = ["gzip"]


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


class NameForm(FlaskForm):
    name = StringField(
        "What is your name?",
        # names.py: one visible name is one user, shown as it was typed (docs/names.md)
        filters=[normalise_name],
        validators=[
            DataRequired(message="Please enter your name."),
            # users.username is String(64), which PostgreSQL counts in code points
            Length(
                max=64,
                message="Please use at most 64 characters;"
                " some emoji and accented letters count as two or more.",
            ),
            shows_as_typed,
        ],
    )
    submit = SubmitField("Submit")


# --- View -------------------------------------------------------------------

main = Blueprint("main", __name__)


@main.route("/index", methods=["GET", "POST"])
@main.route("/", methods=["GET", "POST"])  # registered first, so url_for gives "/"
def index():
    form = NameForm()
    if form.validate_on_submit():
        name = form.name.data
        # Whether the name is known is all the view needs: it asks for the id only.
        known = db.session.scalar(db.select(User.id).filter_by(username=name)) is not None
        if not known:
            db.session.add(User(username=name))
            try:
                # Explicit: Flask-SQLAlchemy 3 has no SQLALCHEMY_COMMIT_ON_TEARDOWN.
                db.session.commit()
            except IntegrityError:
                # The same new name, sent by someone else at the same instant, was stored
                # first: the unique index on users.username refused ours.
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


# --- Error pages ------------------------------------------------------------

# What each error page tells the visitor: its title and what happened to their request.
ERROR_PAGES = {
    400: ("Bad Request", "Your form could not be checked ({reason}), so nothing was saved."),
    404: ("Not Found", "There is no page at this address."),
    413: ("Request Too Large", "That was more than this form ever sends, so nothing was saved."),
    500: ("Internal Server Error", "Something went wrong on our side and nothing was saved."),
    503: ("Service Unavailable", "{reason}, so nothing was saved. Please try again later."),
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
    app.config.update(settings.from_environment())
    if test_config:
        app.config.update(test_config)
    settings.init_app(app)  # checks the settings; a generated SECRET_KEY if none is given

    db.init_app(app)
    database.init_app(app)  # SQLite's pragmas; a full disk gets the 503 page
    migrate.init_app(app, db)
    bootstrap.init_app(app)
    moment.init_app(app)
    security.init_app(app)  # headers, Secure cookie over HTTPS; before csrf: forms as text
    csrf.init_app(app)
    app.register_blueprint(main)
    request_ids.init_app(app)  # X-Request-ID, and the id on the 500 page
    logs.init_app(app)  # under `flask run`: the request id on the app's log lines
    metrics.init_app(app)  # /metrics: requests, greetings, names stored, database errors
    health.init_app(app)  # /livez, /readyz (and /healthz)
    backups.init_app(app)  # flask backup, flask restore
    assets.init_app(app)  # moment.js and digested asset names; after every static folder

    @app.shell_context_processor
    def make_shell_context():
        return {"db": db, "User": User, "Role": Role}

    return app


app = create_app()
