#!/usr/bin/env python3
"""What `tinyws --static` holds for downloads that a client does not read.

Starts the tinyws binary with --static on a scratch directory holding one file
of SIZE MiB, downloads it once in full (to check it and warm the process
up), then opens N connections that each ask for the file and read only its
first byte. Their answers stall behind full socket buffers, so whatever the
server keeps per download stays resident. Prints the RSS before and after.

usage: scripts/static_memory.py BINARY [N (64)] [SIZE_MIB (64)]
Linux only (reads /proc/PID/status).
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    size = (int(sys.argv[3]) if len(sys.argv) > 3 else 64) << 20
    www = tempfile.mkdtemp(prefix="tinyws-static-memory-")
    try:
        with open(os.path.join(www, "big.bin"), "wb") as f:
            f.write(os.urandom(size))
        server = subprocess.Popen(
            [binary, "echo", "--addr", "127.0.0.1:0", "--static", www,
             "--log-level", "warn"],
            stderr=subprocess.PIPE, text=True)
        try:
            measure(server, n, size)
        finally:
            server.terminate()
            server.wait()
    finally:
        shutil.rmtree(www)


def measure(server, n, size):
    first = server.stderr.readline()
    host, port = first.split("listening on ")[1].strip().rsplit(":", 1)
    addr = (host, int(port))
    request = b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"

    def rss():
        status = open("/proc/%d/status" % server.pid).read()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))

    with socket.create_connection(addr, timeout=10) as s:
        s.sendall(request)
        got = 0
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
    assert got > size, "short download: %d bytes" % got
    before = rss()
    stalled = []
    for _ in range(n):
        c = socket.create_connection(addr, timeout=10)
        c.sendall(request)
        c.recv(1, socket.MSG_PEEK)
        stalled.append(c)
    # Let every answer run into its full socket buffers.
    time.sleep(0.5)
    after = rss()
    grown = after - before
    print("RSS before: %d KiB; with %d stalled %d MiB downloads: %d KiB" %
          (before, n, size >> 20, after))
    print("growth: %d KiB, %.1f KiB per download" % (grown, grown / n))
    for c in stalled:
        c.close()


if __name__ == "__main__":
    main()
