"""Security headers on every response, and a session cookie that is Secure over HTTPS.

What each header is for, and how the Content-Security-Policy was checked: docs/security.md.
"""

import base64
import hashlib

from flask import request
from flask.sessions import SecureCookieSessionInterface


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


def init_app(app):
    app.session_interface = SessionInterface()
    app.after_request(add_security_headers)
