#!/usr/bin/env python3
"""How deep an idle connection thread's stack has ever gone, to the byte.

Starts an echo server binary (for example bench/'s tinyws_echo_many, built in
release), opens N WebSocket connections to it over loopback, optionally sends
each a Ping and a 32-byte message, then reads every 64 KiB thread-stack
mapping through /proc/PID/mem. Stack memory is zero until written, so the
lowest non-zero byte is the deepest point the thread ever reached; the page
count that follows from it is what each idle connection keeps resident.
With --frames, also lists the return addresses found in one stack, resolved
with addr2line, to show which frames take the room.

With --tls, the connections are wss:// with the test certificates of
tests/certs (the binary is started as `BINARY 127.0.0.1:0 CERT KEY`, as
bench/'s tls_tinyws_echo takes them).

usage: scripts/stack_watermark.py BINARY [N (20)] [--ping] [--frames] [--tls]
Needs root (or ptrace rights over the child) and Linux.
"""
import os
import re
import socket
import ssl
import struct
import subprocess
import sys
import time

STACK = 64 * 1024  # tinyws's default Config::stack_size
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def stacks(pid):
    """(start, end) of each anonymous mapping of exactly STACK bytes."""
    out = []
    with open("/proc/%d/maps" % pid) as maps:
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) rw-p 00000000 00:00 0\s*$", line)
            if m and int(m.group(2), 16) - int(m.group(1), 16) == STACK:
                out.append((int(m.group(1), 16), int(m.group(2), 16)))
    return out


def frames(pid, binary, start, data, lowest):
    """Words in the used part of the stack that point into the binary's code."""
    base, text = None, []
    with open("/proc/%d/maps" % pid) as maps:
        for line in maps:
            if os.path.basename(binary) not in line:
                continue
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+)", line)
            lo, hi, perm, off = int(m.group(1), 16), int(m.group(2), 16), m.group(3), int(m.group(4), 16)
            base = lo - off if base is None else base
            if "x" in perm:
                text.append((lo, hi))
    found = []
    for k in range(lowest - lowest % 8, len(data), 8):
        word = struct.unpack("<Q", data[k:k + 8])[0]
        if any(lo <= word < hi for lo, hi in text):
            found.append((len(data) - k, word - base))
    names = subprocess.run(["addr2line", "-f", "-C", "-e", binary] + [hex(a) for _, a in found],
                           capture_output=True, text=True).stdout.splitlines()
    for i, (depth, _) in enumerate(found):
        print("  %5d bytes from the top: return into %s" % (depth, names[2 * i][:100]))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if not args:
        sys.exit(__doc__)
    binary, n = args[0], int(args[1]) if len(args) > 1 else 20
    env = dict(os.environ, RUST_LOG="warn", MALLOC_ARENA_MAX="1")
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
        conns = []
        for _ in range(n):
            s = socket.create_connection((host, int(port)), timeout=10)
            if tls:
                s = tls.wrap_socket(s, server_hostname="localhost")
            s.sendall(b"GET / HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (host.encode(), port.encode(), KEY))
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(1024)
            if not head.startswith(b"HTTP/1.1 101"):
                sys.exit("handshake refused: %r" % head[:60])
            conns.append(s)
        if "--ping" in sys.argv:
            mask = bytes([1, 2, 3, 4])
            for s in conns:
                s.sendall(bytes([0x89, 0x84]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(b"ping")))
                s.recv(64)
                s.sendall(bytes([0x82, 0x80 | 32]) + mask + bytes(mask[i % 4] for i in range(32)))
                got = b""
                while len(got) < 34:
                    got += s.recv(64)
        time.sleep(0.5)
        depths = []
        with open("/proc/%d/mem" % server.pid, "rb", 0) as mem:
            for start, end in stacks(server.pid):
                mem.seek(start)
                data = mem.read(end - start)
                lowest = next((i for i, b in enumerate(data) if b), None)
                if lowest is None:
                    continue
                depths.append(len(data) - lowest)
                if "--frames" in sys.argv and len(depths) == 1:
                    frames(server.pid, binary, start, data, lowest)
        depths.sort()
        deepest = depths[-1]
        print("%d thread stacks; deepest write %d..%d bytes from the top (median %d): %d resident pages each"
              % (len(depths), depths[0], deepest, depths[len(depths) // 2], -(-deepest // 4096)))
    finally:
        server.kill()


if __name__ == "__main__":
    main()
