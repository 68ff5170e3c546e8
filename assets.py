"""The pages' files, all served by this deployment, never a CDN: pages work offline.

Bootstrap comes from the Bootstrap-Flask package; moment.js from npm (`npm ci`), since no
Python package ships a current one; Flask-Moment's supporting code from Flask-Moment, as a
file, so that no page needs an inline script (`moment.include_moment()` writes one).
Flask-Static-Digest names each file by its content (`flask digest compile`).
"""

import os

from flask import Blueprint, current_app, request
from flask_static_digest import FlaskStaticDigest

basedir = os.path.abspath(os.path.dirname(__file__))
MOMENT_JS_DIR = os.path.join(basedir, "node_modules", "moment", "min")

static_digest = FlaskStaticDigest()
vendor = Blueprint(
    "vendor", __name__, static_folder=MOMENT_JS_DIR, static_url_path="/vendor/moment"
)


@vendor.route("/vendor/flask-moment.js")
def flask_moment_js():
    moment = current_app.extensions["moment"]
    response = current_app.response_class(moment.flask_moment_js(), mimetype="text/javascript")
    # Revalidated on each visit, answered 304 while Flask-Moment is the same version.
    response.cache_control.no_cache = True
    response.add_etag()
    return response.make_conditional(request)


def init_app(app):
    """Call after every other static folder is registered: the digest reads their manifests."""
    app.register_blueprint(vendor)
    static_digest.init_app(app)
    installed = os.path.exists(os.path.join(MOMENT_JS_DIR, "moment.min.js"))
    if not installed:
        app.logger.error(
            "moment.js is missing from %s: run `npm ci`; pages show the server's time in UTC",
            MOMENT_JS_DIR,
        )
    # Without moment.js, a page shows the time as the server knows it, still as a sentence.
    app.jinja_env.globals["local_time_available"] = installed
