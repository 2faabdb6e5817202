#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Counts individual test cases across meson test logs.

Usage: test-summary.py BUILDDIR... ; prints one line per build dir and a
final 'N passed, N failed, N skipped' line. cmocka binaries are counted by
their own summary lines, pytest by its junit file, any other test as one.
Exits 1 when anything failed.
"""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

total = {"passed": 0, "failed": 0, "skipped": 0}


def count_build(bdir):
    c = {"passed": 0, "failed": 0, "skipped": 0}
    log = os.path.join(bdir, "meson-logs", "testlog.json")
    if not os.path.exists(log):
        print(f"{bdir}: no test log", file=sys.stderr)
        c["failed"] += 1
        return c
    with open(log) as f:
        for line in f:
            t = json.loads(line)
            res = t.get("result")
            out = (t.get("stdout") or "") + (t.get("stderr") or "")
            name = t.get("name", "")
            # longest name first: "integration" is part of the other's name
            junit = {"integration-io-uring": "integration-io-uring.xml",
                     "integration": "integration.xml", "debian12-root": "slow.xml"}
            key = next((k for k in junit if k in name), None)
            if key:
                xml = os.path.join(bdir, "tests", junit[key])
                try:
                    root = ET.parse(xml).getroot()
                    suites = [root] if root.tag == "testsuite" else list(root)
                    n = sum(int(s.get("tests", 0)) for s in suites)
                    fl = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
                    sk = sum(int(s.get("skipped", 0)) for s in suites)
                    c["passed"] += n - fl - sk
                    c["failed"] += fl
                    c["skipped"] += sk
                    if res not in ("OK", "SKIP") and fl == 0:
                        c["failed"] += 1
                    continue
                except (OSError, ET.ParseError):
                    pass
            m_pass = re.search(r"\[  PASSED  \] (\d+) test", out)
            m_fail = re.search(r"\[  FAILED  \] (\d+) test", out)
            m_skip = re.search(r"\[  SKIPPED \] (\d+) test", out)
            if m_pass or m_fail:
                c["passed"] += int(m_pass.group(1)) if m_pass else 0
                c["failed"] += int(m_fail.group(1)) if m_fail else 0
                c["skipped"] += int(m_skip.group(1)) if m_skip else 0
                if res not in ("OK", "SKIP") and not m_fail:
                    c["failed"] += 1
            elif res == "OK":
                c["passed"] += 1
            elif res == "SKIP":
                c["skipped"] += 1
            else:
                c["failed"] += 1
    return c


for b in sys.argv[1:]:
    c = count_build(b)
    print(f"{b}: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped")
    for k in total:
        total[k] += c[k]
line = f"{total['passed']} passed, {total['failed']} failed"
if total["skipped"]:
    line += f", {total['skipped']} skipped"
print(line)
sys.exit(1 if total["failed"] else 0)
