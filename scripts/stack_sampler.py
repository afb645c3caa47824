#!/usr/bin/env python3
"""Samples the resident size of every connection-thread stack of a process.

usage: stack_sampler.py PID STACK_KIB OUTFILE

Thread stacks are the anonymous mappings whose size is exactly STACK_KIB
(pick a size nothing else in the process uses). Every 10 ms until the process
exits or OUTFILE.stop appears, reads /proc/PID/smaps and records the largest
Rss seen in one stack, and how many stacks were sampled. Writes
"max_rss_kib samples stacks_seen" to OUTFILE.
"""
import os
import sys
import time

pid, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
best, samples, seen = 0, 0, 0
while not os.path.exists(out + ".stop"):
    try:
        with open(f"/proc/{pid}/smaps") as f:
            text = f.read()
    except OSError:
        break
    cur_size = None
    for line in text.splitlines():
        if line.startswith("Size:"):
            cur_size = int(line.split()[1])
        elif line.startswith("Rss:") and cur_size == size:
            rss = int(line.split()[1])
            seen += 1
            best = max(best, rss)
    samples += 1
    time.sleep(0.01)
with open(out, "w") as f:
    f.write(f"{best} {samples} {seen}\n")
