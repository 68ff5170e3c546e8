"""Debian's Chromium, driven by Playwright: shared by the browser tests and screenshots."""

import os

CHROMIUM = os.environ.get("HRLLO_CHROMIUM", "/usr/bin/chromium")
# No network here but loopback: stop Chromium from calling home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
