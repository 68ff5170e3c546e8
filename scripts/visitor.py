"""A scripted visitor of the greeting page: reads the form and its CSRF token from the page
and sends it back as a browser does (over HTTPS with the Referer Flask-WTF checks)."""

import html
import re
from urllib.parse import urljoin

import requests

GREETED = "greeted"  # what submit() returns for a name the site accepted and greeted

INPUT_TAG = re.compile(r"<input\b[^>]*>")
FORM_TAG = re.compile(r"<form\b[^>]*>")
ATTRIBUTE = re.compile(r'([\w-]+)="([^"]*)"')


def form_field(page, name):
    """The attributes of the page's <input name=...>, in whatever order the page has them."""
    for tag in INPUT_TAG.findall(page):
        attributes = {key: html.unescape(value) for key, value in ATTRIBUTE.findall(tag)}
        if attributes.get("name") == name:
            return attributes
    raise AssertionError(f"the page has no {name!r} field")


def csrf_token(page):
    """The CSRF token the page gave us, as a browser would send it back."""
    return form_field(page, "csrf_token")["value"]


def form_target(page, address):
    """Where a browser sends the form of the page loaded from address: to the form's
    action, or back to the page's own address when it has none."""
    form = FORM_TAG.search(page)
    if form is None:
        raise AssertionError("the page has no form")
    action = html.unescape(dict(ATTRIBUTE.findall(form.group())).get("action", ""))
    return urljoin(address, action)


def submit(session, url, name):
    """One visitor: load the page, send the name with its token, follow the redirect.

    Returns GREETED when the form was accepted (a redirect) and the page it led to greets
    the visitor by the name they sent, whatever the greeting's wording; otherwise the
    status of the request that failed, or "no greeting".
    """
    page = session.get(url + "/", timeout=10)
    if page.status_code != 200:
        return page.status_code
    response = session.post(
        form_target(page.text, page.url),
        data={"name": name, "csrf_token": csrf_token(page.text)},
        allow_redirects=False,
        timeout=10,
    )
    if not response.is_redirect:
        return response.status_code
    greeting = session.get(urljoin(response.url, response.headers["Location"]), timeout=10)
    if greeting.status_code != 200:
        return greeting.status_code
    return GREETED if html.escape(name) in greeting.text else "no greeting"


def visitor(base_url, certificate=None):
    """A browser-like HTTP client for base_url, trusting certificate if one is given."""
    session = requests.Session()
    if certificate:
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        session.verify = str(certificate)
    # On HTTPS, Flask-WTF also checks that a form comes from this site (WTF_CSRF_SSL_STRICT);
    # browsers say so in Referer (the app's Referrer-Policy is same-origin).
    session.headers["Referer"] = base_url + "/"
    return session
