"""Debian's Chromium, driven by Playwright (which never downloads a browser here), and
Lighthouse from npm: what the browser tests, the screenshots and the benchmark share."""

import base64
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

from deploy.hosts import PROJECT

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


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def certificate_pin(certificate):
    """The base64 SHA-256 of a certificate's public key, as Chromium's SPKI flags take it."""
    public_key = subprocess.run(
        ["openssl", "x509", "-in", certificate, "-pubkey", "-noout"],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "der"],
        input=public_key,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def chromium_args_trusting(certificate):
    """CHROMIUM_ARGS plus trust in certificate (the stack's self-signed one).

    Trusted, not ignored: Chromium caches nothing from a site whose certificate error it
    was told to ignore, so a repeat view or Lighthouse would not see what a visitor does.
    """
    return [*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={certificate_pin(certificate)}"]


def launch_chromium_trusting(playwright, certificate):
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=chromium_args_trusting(certificate)
    )


LIGHTHOUSE = PROJECT / "node_modules" / ".bin" / "lighthouse"  # pinned in package.json


def lighthouse(url, certificate, categories, preset=None, timeout=180):
    """Lighthouse's report (a dict) for url, in Debian's Chromium trusting certificate."""
    flags = ["--headless=new", *chromium_args_trusting(certificate)]
    with tempfile.TemporaryDirectory(prefix="hrllo-lighthouse-") as folder:
        report = Path(folder, "report.json")
        subprocess.run(
            [LIGHTHOUSE, url, "--output=json", f"--output-path={report}", "--quiet"]
            + ["--no-enable-error-reporting", f"--chrome-flags={' '.join(flags)}"]
            + [f"--only-categories={','.join(categories)}"]
            + ([f"--preset={preset}"] if preset else []),
            env={**os.environ, "CHROME_PATH": CHROMIUM},
            cwd=folder,
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        return json.loads(report.read_text())


def lighthouse_shortfalls(report):
    """Every scored audit below 1, by category: what keeps a score from 100."""
    return {
        name: [
            f"{ref['id']}: {report['audits'][ref['id']]['title']}"
            for ref in category["auditRefs"]
            if ref["weight"] and report["audits"][ref["id"]]["score"] not in (None, 1)
        ]
        for name, category in report["categories"].items()
    }
