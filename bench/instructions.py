"""Instructions per request, counted by valgrind's callgrind: the same count on every run.

    .venv/bin/python -m bench.instructions [--requests 50]

bench.inprocess's µs move by 10% or more between runs on a shared machine; an instruction
count does not move at all, so it shows what a change of a few percent buys. It counts
work, not time: a cache miss or a system call costs one instruction here and much more
on the clock, so judge speed by the µs and use this to compare two versions of the code.
The same requests, apps (hrllo, the book's) and floors as bench.inprocess, each case on its
own, after a warm-up.
Needs valgrind and gcc (Debian's valgrind and gcc packages).
"""

import argparse
import ctypes
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import inprocess

# callgrind's client requests, in a library Python can call with ctypes: each call to dump()
# closes a part of the profile, so every (case, target) gets its own instruction count.
MARKER = "#include <valgrind/callgrind.h>\nvoid dump(void) { CALLGRIND_DUMP_STATS; }\n"


def count(folder, requests):
    """Run this module under callgrind; returns {(case, target): instructions per request}."""
    databases = inprocess.prepare(folder)  # migrated here: under callgrind it takes minutes
    Path(folder, "marker.c").write_text(MARKER)
    marker = Path(folder, "marker.so")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", marker, Path(folder, "marker.c")], check=True)
    out = Path(folder, "callgrind.out")
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable]
        + ["-m", "bench.instructions", "--requests", str(requests), "--child", marker]
        + [str(database) for database in databases],
        check=True,
        capture_output=True,
    )
    parts = sorted(Path(folder).glob("callgrind.out.*"), key=lambda p: int(p.suffix[1:]))
    totals = [int(re.search(r"^summary: (\d+)", p.read_text(), re.M).group(1)) for p in parts]
    runs = [(case, target) for case in inprocess.CASES for target in inprocess.TARGETS]
    # the first part is everything up to the end of the warm-up
    return {run: total / requests for run, total in zip(runs, totals[1:], strict=True)}


def child(marker, databases, requests):
    """Under callgrind: a part of the profile for each (case, target)."""
    dump = ctypes.CDLL(marker).dump
    visitor = inprocess.visitor_for(*map(Path, databases))
    for case in inprocess.CASES:
        for target in inprocess.TARGETS:
            inprocess.time_requests(visitor, case, target, 10)
    dump()
    for case in inprocess.CASES:
        for target in inprocess.TARGETS:
            inprocess.time_requests(visitor, case, target, requests)
            dump()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50, help="per case and target")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1:], args.requests)
        return
    with tempfile.TemporaryDirectory() as folder:
        counts = count(folder, args.requests)
    print(f"\ninstructions per request (thousands), callgrind, {args.requests} requests each")
    print(f"{'case':<16} {'floor':>8} {'book':>8} {'hrllo':>8} {'hrllo ÷ book':>13} "
          f"{'hrllo ÷ floor':>14}")  # fmt: skip
    for case in inprocess.CASES:
        floor, book, hrllo = (counts[case, target] for target in ("floor", "book", "hrllo"))
        print(f"{case:<16} {floor / 1000:>8.0f} {book / 1000:>8.0f} {hrllo / 1000:>8.0f} "
              f"{hrllo / book:>12.2f}x {hrllo / floor:>13.2f}x")  # fmt: skip
    print("(floor: the bare page for GET, floor+db for POST)")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")  # the same hashes, the same count
    main()
