#!/usr/bin/env python3
"""Checks an Autobahn fuzzingclient report against tinyws's rules and the
committed expected results.

usage: check.py REPORT_INDEX_JSON EXPECTED_JSON [--update | --without 12,13]

--without 12,13: the run left out those case groups (the wss:// run), so
they are left out of the expected results too; the rest must match.
"""
import json
import sys


def major(case):
    return int(case.split(".")[0])


def main():
    index, expected_path = sys.argv[1], sys.argv[2]
    update = "--update" in sys.argv[3:]
    without = set()
    if "--without" in sys.argv[3:]:
        without = {int(m) for m in sys.argv[sys.argv.index("--without") + 1].split(",")}
        if update:
            print("check.py: --update and --without do not go together")
            return 2
    report = json.load(open(index))
    cases = next(iter(report.values()))
    got = {c: {"behavior": r["behavior"], "behaviorClose": r["behaviorClose"]} for c, r in cases.items()}

    problems = []
    for case, r in sorted(got.items()):
        b = r["behavior"]
        if b in ("NON-STRICT", "FAILED", "WRONG CODE", "UNCLEAN") or r["behaviorClose"] in ("FAILED", "WRONG CODE", "UNCLEAN"):
            problems.append("%s: %s / close %s" % (case, b, r["behaviorClose"]))
        elif major(case) <= 10 and b not in ("OK", "INFORMATIONAL"):
            problems.append("%s: %s (1.* to 10.* must be OK or INFORMATIONAL)" % (case, b))
        elif major(case) in (12, 13) and b not in ("OK", "UNIMPLEMENTED"):
            problems.append("%s: %s" % (case, b))

    if update and not problems:
        with open(expected_path, "w") as f:
            json.dump(got, f, indent=1, sort_keys=True)
            f.write("\n")
        print("check.py: wrote %s (%d cases)" % (expected_path, len(got)))
    expected = json.load(open(expected_path))
    expected = {c: r for c, r in expected.items() if major(c) not in without}
    for case in sorted(set(expected) | set(got)):
        if expected.get(case) != got.get(case):
            problems.append("%s: expected %s, got %s" % (case, expected.get(case), got.get(case)))

    counts = {}
    for r in got.values():
        counts[r["behavior"]] = counts.get(r["behavior"], 0) + 1
    summary = " ".join("%s=%d" % (k.lower(), v) for k, v in sorted(counts.items()))
    if problems:
        print("autobahn check: FAILED (%d problems) %s" % (len(problems), summary))
        for p in problems[:50]:
            print("  " + p)
        return 1
    print("autobahn check: %d cases as expected: %s" % (len(got), summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
