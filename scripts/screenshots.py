"""Screenshots of the greeting page for the README (desktop and phone).

.venv/bin/python scripts/screenshots.py     # writes docs/screenshot-*.png
"""

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.browser import launch  # noqa: E402
from scripts.load import PROJECT, gunicorn  # noqa: E402

SIZES = {  # kind: (viewport, the name typed)
    "desktop": ({"width": 1024, "height": 560}, "Ada"),
    "phone": ({"width": 375, "height": 667}, "Grace"),
}


def main():
    out = PROJECT / "docs"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        database = "sqlite:///" + str(Path(tmp) / "data.sqlite")
        with gunicorn(database, workers=1) as (url, _server):  # noqa: SIM117
            browser = launch(playwright)
            for kind, (viewport, name) in SIZES.items():
                page = browser.new_page(viewport=viewport, timezone_id="Europe/London")
                page.goto(url)
                page.get_by_label("What is your name?").fill(name)
                page.get_by_role("button", name="Submit").click()
                page.get_by_text("Pleased to meet you.").wait_for()
                page.screenshot(path=out / f"screenshot-{kind}.png")
                print(out / f"screenshot-{kind}.png")
                page.close()
            browser.close()


if __name__ == "__main__":
    main()
