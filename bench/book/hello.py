"""The book's chapter-5 app, the baseline `make bench` measures hrllo against.

*Flask Web Development* (Miguel Grinberg), chapter 5 ("Databases"): its `hello.py`, as
"Database Use in View Functions" and "Integration with the Python Shell" leave it, with
what the chapter elides filled in from the book's chapters 3 and 4 (the form, the error
pages, the templates), written here to run on the libraries hrllo pins. It is kept as the
book has it, except where that cannot run today; each change:

1. Configuration from the environment, as the book's chapter 7 `config.py` reads it:
   `SECRET_KEY` and `DATABASE_URL`, falling back to the book's values.
2. Bootstrap: the book's Flask-Bootstrap (Bootstrap 3, `bootstrap/base.html`,
   `bootstrap/wtf.html`'s `quick_form`) is not installable beside Bootstrap-Flask, which
   hrllo pins and which owns the same `flask_bootstrap` import name. So: `Bootstrap5`, with
   `templates/bootstrap/base.html` written as the Bootstrap 5 equivalent of Flask-Bootstrap's
   base (the same blocks: head, title, metas, styles, navbar, content, scripts), the navbar
   in Bootstrap 5's classes, and Bootstrap-Flask's `render_form` for `quick_form`.
   `BOOTSTRAP_SERVE_LOCAL`: no CDN is reachable here, and hrllo serves its own copy too.
3. `SQLALCHEMY_COMMIT_ON_TEARDOWN` does nothing since Flask-SQLAlchemy 3.0 (hrllo pins
   3.1.1), so the view would never store a name: it calls `db.session.commit()` after adding
   the user, as the book's later chapters do. The setting stays, as the book has it.
4. `datetime.utcnow()` is deprecated since Python 3.12: the same naive UTC time, from
   `datetime.now(UTC)`, as Flask-Moment itself computes it.
5. No `static/favicon.ico`: the book's icon file is not copied here; the page still links it
   (building that URL is part of the page's cost), and a browser gets a 404 for it.

`moment.include_moment()` stays as the book has it (a script tag for moment.js on a CDN):
the benchmark measures the server, which only writes the tag. The database is made with
`db.create_all()` (`flask shell`, as the book does at this point), not a migration: bench.run
does that. SQLite is used as the book configures it (no WAL, no busy timeout).
"""

import os
from datetime import UTC, datetime

from flask import Flask, redirect, render_template, session, url_for
from flask_bootstrap import Bootstrap5
from flask_migrate import Migrate
from flask_moment import Moment
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired

basedir = os.path.abspath(os.path.dirname(__file__))

app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY") or "hard to guess string"
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get(
    "DATABASE_URL"
) or "sqlite:///" + os.path.join(basedir, "data.sqlite")
app.config["SQLALCHEMY_COMMIT_ON_TEARDOWN"] = True
app.config["SQLALCHEMY_TRACK_MODIFICATIONS"] = False
app.config["BOOTSTRAP_SERVE_LOCAL"] = True

bootstrap = Bootstrap5(app)
moment = Moment(app)
db = SQLAlchemy(app)
migrate = Migrate(app, db)


class Role(db.Model):
    __tablename__ = "roles"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(64), unique=True)
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


class NameForm(FlaskForm):
    name = StringField("What is your name?", validators=[DataRequired()])
    submit = SubmitField("Submit")


@app.shell_context_processor
def make_shell_context():
    return dict(db=db, User=User, Role=Role)


@app.errorhandler(404)
def page_not_found(e):
    return render_template("404.html"), 404


@app.errorhandler(500)
def internal_server_error(e):
    return render_template("500.html"), 500


@app.route("/", methods=["GET", "POST"])
def index():
    form = NameForm()
    if form.validate_on_submit():
        user = User.query.filter_by(username=form.name.data).first()
        if user is None:
            user = User(username=form.name.data)
            db.session.add(user)
            db.session.commit()  # change 3: COMMIT_ON_TEARDOWN no longer commits
            session["known"] = False
        else:
            session["known"] = True
        session["name"] = form.name.data
        form.name.data = ""
        return redirect(url_for("index"))
    return render_template(
        "index.html",
        # change 4: datetime.utcnow(), without its deprecation warning
        current_time=datetime.now(UTC).replace(tzinfo=None),
        form=form,
        name=session.get("name"),
        known=session.get("known", False),
    )
