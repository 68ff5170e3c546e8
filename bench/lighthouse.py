"""Lighthouse performance scores of hrllo behind nginx (`make stack`'s topology), on 127.0.0.1.

    .venv/bin/python -m bench.lighthouse [--runs 3]

Starts the stack (on DATABASE_URL, else HRLLO_TEST_POSTGRES_URL, else a fresh SQLite
file), runs Lighthouse's performance category with its desktop and mobile presets in
Debian's Chromium, and prints each preset's median score and metrics against the targets
(100 desktop, at least 95 mobile). Scores are timing: reported here, never asserted by the
tests. Results go to bench/results/lighthouse.json.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from deploy.nginx import NGINX
from deploy.stack import stack
from scripts.chromium import CHROMIUM, lighthouse, lighthouse_shortfalls

BENCH = Path(__file__).resolve().parent
TARGETS = {"desktop": 100, "mobile": 95}
METRICS = ["first-contentful-paint", "largest-contentful-paint", "total-blocking-time"]
METRICS += ["cumulative-layout-shift", "speed-index"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="Lighthouse runs per preset")
    args = parser.parse_args()
    missing = [path for path in (NGINX, CHROMIUM) if not shutil.which(path)]
    if missing:
        print(f"lighthouse: skipped, not installed: {', '.join(missing)}", file=sys.stderr)
        return 0

    database_url = os.environ.get("DATABASE_URL") or os.environ.get("HRLLO_TEST_POSTGRES_URL")
    with (
        tempfile.TemporaryDirectory() as folder,
        stack(database_url or f"sqlite:///{folder}/data.sqlite") as front,
    ):
        reports = {
            preset: [
                # Lighthouse's "mobile" is its default: no --preset.
                lighthouse(
                    front.https_url + "/",
                    front.certificate,
                    ["performance"],
                    preset=None if preset == "mobile" else preset,
                )
                for _ in range(args.runs)
            ]
            for preset in TARGETS
        }

    summary = {}
    print(
        f"\nLighthouse {reports['desktop'][0]['lighthouseVersion']}, performance, "
        f"median of {args.runs} runs (min-max)"
    )
    for preset, runs in reports.items():
        scores = [round(report["categories"]["performance"]["score"] * 100) for report in runs]
        score = statistics.median(scores)
        median_run = runs[scores.index(sorted(scores)[len(scores) // 2])]
        metrics = {m: median_run["audits"][m]["displayValue"] for m in METRICS}
        below = lighthouse_shortfalls(median_run)["performance"]
        summary[preset] = {
            "score": score,
            "scores": scores,
            "target": TARGETS[preset],
            "metrics": metrics,
            "below_100": below,
        }
        verdict = "ok" if score >= TARGETS[preset] else "BELOW TARGET"
        print(
            f"  {preset:<8} {score:>5} ({min(scores)}-{max(scores)})  "
            f"target {TARGETS[preset]}: {verdict}"
        )
        print("           " + ", ".join(f"{m} {v}" for m, v in metrics.items()))
        for audit in below:
            print(f"           below 100: {audit}")

    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    (out / "lighthouse.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nwritten: {out / 'lighthouse.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
