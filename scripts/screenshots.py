"""Screenshots of the greeting page for the README (desktop and phone).

.venv/bin/python -m scripts.screenshots     # writes docs/screenshot-*.png
"""

import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from deploy.hosts import PROJECT, serve
from scripts.chromium import launch_chromium

SIZES = {  # kind: (viewport, the name typed)
    "desktop": ({"width": 1024, "height": 560}, "Ada"),
    "phone": ({"width": 375, "height": 667}, "Grace"),
}


def main():
    out = PROJECT / "docs"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        database = "sqlite:///" + str(Path(tmp) / "data.sqlite")
        with serve(database, workers=1) as server:
            url = server.url
            browser = launch_chromium(playwright)
            for kind, (viewport, name) in SIZES.items():
                page = browser.new_page(viewport=viewport, timezone_id="Europe/London")
                page.goto(url)
                page.get_by_label("What is your name?").fill(name)
                page.get_by_role("button", name="Submit").click()
                page.get_by_role("heading", level=1).filter(has_text=name).wait_for()
                page.screenshot(path=out / f"screenshot-{kind}.png")
                print(out / f"screenshot-{kind}.png")
                page.close()
            browser.close()


if __name__ == "__main__":
    main()
