"""The greeting page in a real Chromium, served by gunicorn on 127.0.0.1."""

import os
import re
from datetime import datetime, timedelta
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect, sync_playwright

from deploy.hosts import PROJECT, serve
from scripts.chromium import CHROMIUM, launch_chromium
from tests.support import require

require(
    os.path.exists(CHROMIUM),
    f"no Chromium at {CHROMIUM}",
    "apt-get install chromium to run the browser tests",
    "HRLLO_REQUIRE_BROWSER",
)

AXE = PROJECT / "node_modules" / "axe-core" / "axe.min.js"
BOOTSTRAP_PRIMARY = "rgb(13, 110, 253)"  # .btn-primary's background: only Bootstrap gives it


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    database = tmp_path_factory.mktemp("browser") / "data.sqlite"
    with serve("sqlite:///" + str(database), workers=1) as server:
        yield server.url


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


class Visit:
    """A browser tab that remembers every request and console error it saw."""

    def __init__(self, page, server):
        self.page = page
        self.server = server
        self.requests = []
        self.failures = []
        self.console_errors = []
        self.csp_violations = []
        page.expose_function("reportCspViolation", lambda v: self.csp_violations.append(v))
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e =>"
            " reportCspViolation(`${e.effectiveDirective} ${e.blockedURI}`))"
        )
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("requestfailed", lambda r: self.failures.append(r.url))
        page.on("response", lambda r: r.status >= 400 and self.failures.append(r.url))
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))

    def open(self, path="/"):
        return self.page.goto(self.server + path)

    def submit_name(self, name, press_enter=False):
        field = self.page.get_by_label("What is your name?")
        field.fill(name)
        if press_enter:
            field.press("Enter")
        else:
            self.page.get_by_role("button", name="Submit").click()
        self.page.wait_for_load_state()


@pytest.fixture
def visit(browser, server, request):
    options = getattr(request, "param", {})
    context = browser.new_context(**options)
    yield Visit(context.new_page(), server)
    context.close()


def test_greeting_flow_by_typing_and_clicking(visit):
    visit.open()
    expect(visit.page.get_by_role("heading", level=1)).to_have_text("Hello, Stranger!")

    visit.submit_name("Ada Lovelace")
    expect(visit.page.get_by_role("heading", level=1)).to_have_text("Hello, Ada Lovelace!")
    expect(visit.page.get_by_text("Pleased to meet you.")).to_be_visible()
    expect(visit.page.get_by_label("What is your name?")).to_have_value("")

    visit.submit_name("Ada Lovelace", press_enter=True)
    expect(visit.page.get_by_text("Happy to see you again.")).to_be_visible()
    expect(visit.page.get_by_label("What is your name?")).to_have_value("")


def test_page_loads_only_from_the_app_without_errors_and_is_styled(visit):
    visit.open()
    visit.page.wait_for_load_state("networkidle")
    hosts = {urlparse(url).hostname for url in visit.requests}
    assert hosts <= {"127.0.0.1", "localhost"}, hosts
    assert visit.failures == []
    assert visit.console_errors == []
    assert any("/vendor/moment/moment.min-" in url for url in visit.requests)
    submit = visit.page.get_by_role("button", name="Submit")
    expect(submit).to_have_css("background-color", BOOTSTRAP_PRIMARY)


@pytest.mark.parametrize("visit", [{"timezone_id": "Asia/Kathmandu"}], indirect=True)
def test_local_time_is_shown_in_the_browsers_time_zone(visit):
    visit.open()
    moment = visit.page.locator("[data-format='LLL']")
    expect(moment).to_be_visible()  # moment.js rendered it (it starts hidden)
    server_utc = datetime.fromisoformat(moment.get_attribute("data-timestamp"))
    shown = datetime.strptime(moment.inner_text(), "%B %d, %Y %I:%M %p")
    expected = server_utc.astimezone(ZoneInfo("Asia/Kathmandu")).replace(tzinfo=None)
    assert abs(shown - expected) < timedelta(minutes=1), (moment.inner_text(), expected)
    expect(visit.page.locator("[data-function='fromNow']")).to_have_text(
        re.compile(r"seconds? ago|a few seconds ago")
    )


def test_validation_error_is_visible_and_announced(visit):
    visit.open()
    visit.submit_name("   ")
    field = visit.page.get_by_label("What is your name?")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description("Please enter your name.")
    expect(visit.page.get_by_text("Please enter your name.")).to_be_visible()
    expect(visit.page.get_by_role("heading", level=1)).to_have_text("Hello, Stranger!")


PHONE = {"viewport": {"width": 375, "height": 667}, "is_mobile": True}


@pytest.mark.parametrize("visit", [PHONE], indirect=True)
def test_everything_works_under_the_content_security_policy(visit):
    visit.open()
    expect(visit.page.locator("[data-format='LLL']")).to_be_visible()  # moment.js ran
    visit.page.get_by_role("button", name="Toggle navigation").click()
    expect(visit.page.get_by_role("link", name="Home")).to_be_visible()  # Bootstrap's JS ran
    visit.submit_name("Ada")
    expect(visit.page.get_by_role("heading", level=1)).to_have_text("Hello, Ada!")
    visit.submit_name("")  # the invalid field shows Bootstrap's data: icon
    expect(visit.page.get_by_text("Please enter your name.")).to_be_visible()
    visit.open("/no-such-page")
    expect(visit.page.get_by_role("heading", level=1)).to_have_text("Not Found")
    assert visit.csp_violations == []


@pytest.mark.parametrize("visit", [PHONE], indirect=True)
def test_phone_sized_screen(visit):
    visit.open()
    home_link = visit.page.get_by_role("link", name="Home")
    expect(home_link).to_be_hidden()  # the navbar is collapsed
    visit.page.get_by_role("button", name="Toggle navigation").click()
    expect(home_link).to_be_visible()

    visit.submit_name("W" * 64)
    expect(visit.page.get_by_role("heading", level=1)).to_contain_text("W" * 64)
    overflow = visit.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0


def axe_violations(page):
    page.evaluate(AXE.read_text())  # not a <script> tag: the page's CSP would refuse it
    result = page.evaluate("axe.run()")
    return [(v["id"], [n["target"] for n in v["nodes"]]) for v in result["violations"]]


@pytest.mark.parametrize("path", ["/", "/no-such-page"])
def test_pages_have_no_accessibility_violations(visit, path):
    visit.open(path)
    assert axe_violations(visit.page) == []


def test_page_with_a_validation_error_has_no_accessibility_violations(visit):
    visit.open()
    visit.submit_name("")
    assert axe_violations(visit.page) == []
