#!/usr/bin/env python3
"""Where an idle connection's resident memory sits: thread stack or heap.

Starts an echo server binary (for example bench/'s tinyws_echo_many, built in
release) with MALLOC_ARENA_MAX=1 (or, with --default-arenas, glibc's own
setting, where threads spread over up to 8 arenas per core that live outside
[heap] and count as "anon"), opens N WebSocket connections to it over
loopback, and prints the growth of the server's resident memory per
connection, split by mapping: the 64 KiB thread stacks, [heap], other
anonymous memory and files (from /proc/PID/smaps). Complements
stack_watermark.py, which tells how deep the stacks went.

With --tls, the connections are wss:// with the test certificates of
tests/certs (the binary is started as `BINARY 127.0.0.1:0 CERT KEY`, as
bench/'s tls_tinyws_echo takes them) and each echoes 32 bytes once.

usage: scripts/idle_rss_split.py BINARY [N (2000)] [--default-arenas] [--tls]
Linux only.
"""
import os
import re
import socket
import ssl
import subprocess
import sys
import time

STACK = 64 * 1024  # tinyws's default Config::stack_size
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def rss_by_kind(pid):
    out, kind = {}, None
    with open("/proc/%d/smaps" % pid) as smaps:
        for line in smaps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$", line)
            if m:
                size = int(m.group(2), 16) - int(m.group(1), 16)
                name = m.group(3).strip()
                if not name:
                    kind = "stacks" if size == STACK else "anon"
                else:
                    kind = "heap" if name == "[heap]" else "files"
            elif line.startswith("Rss:"):
                out[kind] = out.get(kind, 0) + int(line.split()[1])
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if not args:
        sys.exit(__doc__)
    binary = args[0]
    n = int(args[1]) if len(args) > 1 else 2000
    env = {"RUST_LOG": "warn"}
    if "--default-arenas" not in sys.argv:
        env["MALLOC_ARENA_MAX"] = "1"
    certs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "certs")
    tls = None
    cmd = [binary, "127.0.0.1:0"]
    if "--tls" in sys.argv:
        tls = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
        cmd += [os.path.join(certs, "a.pem"), os.path.join(certs, "a.key")]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
    try:
        banner = server.stdout.readline().decode()
        host, port = re.search(r"(\d+\.\d+\.\d+\.\d+):(\d+)", banner).groups()
        time.sleep(0.3)
        before = rss_by_kind(server.pid)
        conns = []
        for _ in range(n):
            s = socket.create_connection((host, int(port)), timeout=10)
            if tls:
                s = tls.wrap_socket(s, server_hostname="localhost")
            s.sendall(b"GET / HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (host.encode(), port.encode(), KEY))
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(1024)
                if not chunk:
                    sys.exit("connection closed during the handshake")
                head += chunk
            if not head.startswith(b"HTTP/1.1 101"):
                sys.exit("handshake refused: %r" % head[:60])
            if tls:
                mask = bytes([1, 2, 3, 4])
                s.sendall(bytes([0x82, 0x80 | 32]) + mask + bytes(mask[i % 4] for i in range(32)))
                got = b""
                while len(got) < 34:
                    got += s.recv(64)
            conns.append(s)
        time.sleep(1.5)
        after = rss_by_kind(server.pid)
        kinds = ["stacks", "heap", "anon", "files"]
        total = sum(after.get(k, 0) - before.get(k, 0) for k in kinds) / n
        print("%d idle connections, %s, KiB per connection: %s; total %.3f" % (
            n, env.get("MALLOC_ARENA_MAX") and "MALLOC_ARENA_MAX=1" or "default arenas", ", ".join("%s %.3f" % (k, (after.get(k, 0) - before.get(k, 0)) / n) for k in kinds), total))
    finally:
        server.kill()


if __name__ == "__main__":
    main()
