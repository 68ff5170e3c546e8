"""Security headers on every response, a session cookie that is Secure over HTTPS, and
forms refused unless sent as the page's form sends them: URL-encoded UTF-8 text.

What each header is for, what is refused and why: docs/security.md.
"""

import base64
import hashlib
from urllib.parse import parse_qsl

from flask import abort, current_app, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import SecurityError


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


def add_security_headers(response):
    """Every response gets the security headers, unless its view set one itself."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the cookie Secure on every HTTPS request."""

    def get_cookie_secure(self, app):
        return super().get_cookie_secure(app) or request.is_secure


# What the page's form sends (a browser's default for <form method="post">), and the
# charsets that are UTF-8 or a subset of it.
FORM_TYPE = "application/x-www-form-urlencoded"
UTF8_CHARSETS = {"utf-8", "utf8", "us-ascii", "ascii"}


def form_body_problem():
    """Why the POST's body is not a form this site reads as sent, or None if it is.

    Werkzeug reads a form leniently: a byte that is not UTF-8 stays as its %XX escape,
    a multipart field's is replaced, a file is a field too. Read that way, a name would be
    stored as something else than what was sent.
    """
    if request.mimetype != FORM_TYPE:
        return f"it was sent as {request.mimetype or 'no form'}, not as {FORM_TYPE}"
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    try:
        if charset not in UTF8_CHARSETS:
            raise UnicodeError(f"charset={charset}")
        # the raw body (kept: the form is parsed from it next), then each %XX escape
        parse_qsl(request.get_data(cache=True).decode(), keep_blank_values=True, errors="strict")
    except UnicodeError as error:
        return f"it was not sent as UTF-8 text: {error}"
    return None


def refuse_forms_not_sent_as_text():
    """A POST whose body is not URL-encoded UTF-8 text gets the 400 page, and is logged."""
    if request.method == "POST" and (problem := form_body_problem()):
        current_app.logger.warning("Refused a form from %s: %s", request.remote_addr, problem)
        abort(400, description=problem.partition(":")[0])


def untrusted_host(error):
    """A Host not in TRUSTED_HOSTS: a plain 400, logged. Not the 400 page, whose links
    url_for cannot build for a request Flask refused to route."""
    current_app.logger.warning(
        "Refused a request from %s for %a, a host this site does not serve",
        request.remote_addr,
        request.headers.get("Host"),
    )
    return (
        "This site does not answer for that host name.\n",
        400,
        {"Content-Type": "text/plain; charset=utf-8"},
    )


def init_app(app):
    """Register before CSRFProtect, so that a form it cannot read is refused as such."""
    app.session_interface = SessionInterface()
    app.before_request(refuse_forms_not_sent_as_text)
    app.after_request(add_security_headers)
    app.register_error_handler(SecurityError, untrusted_host)
