#!/usr/bin/env python3
"""vgcheck.py LOGDIR - judge the valgrind (memcheck) logs of every docchat process that
tests/run's valgrind tier started (one vg.PID.log each, from --log-file=LOGDIR/vg.%p.log).

A process passes when its log ends with "ERROR SUMMARY: 0 errors": with
--errors-for-leak-kinds=definite a definite leak counts as an error, so this covers
invalid reads and writes, uses of uninitialised values, bad frees and definite leaks
alike. Processes may still be finishing (lighttpd stops its children without waiting,
and the leak check at exit takes a moment), so logs without a summary are waited for.
Prints "PASS ..." or one "FAIL ..." per bad log with its first error, and exits 1 on any
failure.
"""

import glob
import os
import re
import sys
import time

WAIT_S = 60.0
SUMMARY_RE = re.compile(r"ERROR SUMMARY: (\d+) errors")
LOST_RE = re.compile(r"definitely lost: ([\d,]+) bytes in ([\d,]+) blocks")
EXCERPT_LINES = 40


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def first_error(text):
    """The first error block of a memcheck log (lines after the preamble up to the
    next blank line), without the ==PID== prefixes."""
    lines = [re.sub(r"^==\d+== ?", "", l) for l in text.splitlines()]
    start = None
    for i, l in enumerate(lines):
        if i > 0 and lines[i - 1] == "" and l and not l.startswith(("Memcheck", "Copyright",
                                                                    "Using Valgrind",
                                                                    "Command:", "Parent PID",
                                                                    "HEAP SUMMARY",
                                                                    "LEAK SUMMARY")):
            start = i
            break
    if start is None:
        return ""
    block = []
    for l in lines[start:]:
        if l == "" and block:
            break
        block.append(l)
    return "\n".join(block[:EXCERPT_LINES])


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: vgcheck.py LOGDIR\n")
        return 2
    logs = sorted(glob.glob(os.path.join(argv[1], "vg.*.log")))
    if not logs:
        print("FAIL valgrind: no logs in %s (did the tests run docchat at all?)" % argv[1])
        return 1
    deadline = time.monotonic() + WAIT_S
    while True:
        pending = [p for p in logs if not SUMMARY_RE.search(read(p))]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    failed = 0
    for p in logs:
        text = read(p)
        name = os.path.basename(p)
        cmd = re.search(r"Command: (.*)", text)
        what = "%s (%s)" % (name, cmd.group(1).strip() if cmd else "?")
        m = SUMMARY_RE.search(text)
        if not m:
            print("FAIL valgrind %s: no ERROR SUMMARY after %.0fs (killed?)" % (what, WAIT_S))
            failed += 1
            continue
        lost = LOST_RE.search(text)
        nlost = int(lost.group(1).replace(",", "")) if lost else 0
        if int(m.group(1)) or nlost:
            print("FAIL valgrind %s: %s errors, %d bytes definitely lost\n%s" % (
                what, m.group(1), nlost, first_error(text)))
            failed += 1
    if not failed:
        print("PASS valgrind: %d docchat processes, no memory errors, no definite leaks" %
              len(logs))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
