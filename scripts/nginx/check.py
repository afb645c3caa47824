#!/usr/bin/env python3
"""Checks tinyws behind a real nginx (deploy/nginx.conf); run by
scripts/nginx-test.sh, which starts everything and passes the addresses.

    check.py FEED_FRONT FEED_LOG ECHO_FRONT SILENT_FRONT READ_TIMEOUT

FEED_FRONT is nginx in front of examples/sensor_feed (trusting nginx),
FEED_LOG that server's log file. ECHO_FRONT is nginx in front of
`tinyws echo` pinging every second, SILENT_FRONT the same with pings off.
READ_TIMEOUT is nginx's proxy_read_timeout in seconds.

Every client connects from 127.0.0.2, so that the client's address and
nginx's (127.0.0.1) can be told apart in the server's log. Standard
library only: a raw WebSocket client over a socket.
"""

import base64
import os
import socket
import struct
import sys
import time

CLIENT_IP = "127.0.0.2"
TIMEOUT = 10.0


def fail(message):
    sys.exit("nginx-test: FAILED: " + message)


def connect(front):
    host, port = front.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.bind((CLIENT_IP, 0))
    s.connect((host, int(port)))
    return s


def read_head(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            fail("connection closed before a response head: %r" % data)
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


def status_of(head):
    return int(head.split(" ", 2)[1])


def http_get(front, path, host):
    s = connect(front)
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, body = data.split(b"\r\n\r\n", 1)
    return status_of(head.decode("latin-1")), body


class Ws:
    """A minimal client: handshake, masked frames out, frames in."""

    def __init__(self, front, path, host, origin=None):
        self.sock = connect(front)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            "GET %s HTTP/1.1" % path,
            "Host: %s" % host,
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: %s" % key,
            "Sec-WebSocket-Version: 13",
        ]
        if origin:
            lines.append("Origin: %s" % origin)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.head, self.buf = read_head(self.sock)
        self.status = status_of(self.head)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed with %d of %d bytes" % (len(self.buf), n))
            self.buf += chunk

    def read_frame(self):
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        length, at = b1 & 0x7F, 2
        if length == 126:
            self._need(4)
            length, at = struct.unpack("!H", self.buf[2:4])[0], 4
        elif length == 127:
            self._need(10)
            length, at = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(at + length)
        payload = self.buf[at:at + length]
        self.buf = self.buf[at + length:]
        return b0 & 0x0F, payload

    def send(self, opcode, payload):
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        else:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)


def check_page_and_feed(front, log):
    status, body = http_get(front, "/", front)
    if status != 200 or b"tinyws sensor feed" not in body:
        fail("the page through nginx: %d %r" % (status, body[:200]))
    print("nginx-test: the page loads through nginx (%d bytes)" % len(body))
    # What the page does: ws://<location.host>/ws, with its own origin.
    # nginx sends "Host: 127.0.0.1" (no port, $host); only the forwarded
    # host lets this same-origin page in.
    ws = Ws(front, "/ws", front, origin="http://" + front)
    if ws.status != 101:
        fail("the page's WebSocket through nginx: %s" % ws.head)
    opcode, payload = ws.read_frame()
    while opcode != 1:
        opcode, payload = ws.read_frame()
    if b'"celsius"' not in payload:
        fail("not a reading: %r" % payload)
    print("nginx-test: the page's WebSocket connects through nginx: %s" % payload.decode())
    ws.send(8, struct.pack("!H", 1000))
    ws.sock.close()

    ws = Ws(front, "/ws", front, origin="http://evil.example")
    if ws.status != 403:
        fail("a cross-site page was not refused: %s" % ws.head)
    print("nginx-test: a cross-site page gets 403 through nginx")
    port = front.rsplit(":", 1)[1]
    ws = Ws(front, "/ws", "attacker.example:" + port, origin="http://attacker.example:" + port)
    if ws.status != 421:
        fail("a rebound name was not refused: %s" % ws.head)
    print("nginx-test: a DNS-rebound name gets 421 through nginx")

    deadline = time.time() + TIMEOUT
    while True:
        with open(log, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        connected = [l for l in lines if " connected /ws" in l]
        refused = [l for l in lines if "refused: 403 " in l]
        if connected and refused:
            break
        if time.time() > deadline:
            fail("no connect or refusal line in the log:\n" + "\n".join(lines))
        time.sleep(0.05)
    for line in connected + refused:
        if CLIENT_IP + " via 127.0.0.1:" not in line:
            fail("the log does not show the client's address: %r" % line)
    for part in ('origin="http://evil.example"', 'host="%s"' % front, "forwarded"):
        if part not in refused[0]:
            fail("the refusal line lacks %s: %r" % (part, refused[0]))
    print("nginx-test: the log shows the client, not nginx:\n  %s\n  %s" % (connected[0], refused[0]))


def idle(front, seconds):
    """Opens an echo connection, stays idle (answering Pings) for `seconds`,
    then sends a message. Returns (pings seen, whether the echo came back)."""
    ws = Ws(front, "/", front)
    if ws.status != 101:
        fail("echo through nginx: %s" % ws.head)
    pings = 0
    end = time.time() + seconds
    try:
        while time.time() < end:
            ws.sock.settimeout(max(0.05, end - time.time()))
            try:
                opcode, payload = ws.read_frame()
            except socket.timeout:
                break
            if opcode == 9:
                pings += 1
                ws.send(10, payload)
            elif opcode == 8:
                return pings, False
        ws.sock.settimeout(TIMEOUT)
        ws.send(1, b"still here")
        while True:
            opcode, payload = ws.read_frame()
            if opcode == 1:
                return pings, payload == b"still here"
            if opcode == 9:
                ws.send(10, payload)
            if opcode == 8:
                return pings, False
    except (EOFError, ConnectionError, BrokenPipeError):
        return pings, False


def check_keepalive(echo_front, silent_front, read_timeout):
    wait = 2 * read_timeout
    pings, alive = idle(echo_front, wait)
    if not alive or pings == 0:
        fail("an idle connection with pings did not survive %ss through nginx "
             "(pings=%d)" % (wait, pings))
    print("nginx-test: %d keepalive pings kept an idle connection open %ss, "
          "twice nginx's %ss proxy_read_timeout" % (pings, wait, read_timeout))
    # The control: the same without pings is cut by nginx, so the check above
    # really measured the pings.
    pings, alive = idle(silent_front, wait)
    if alive:
        fail("nginx did not cut an idle connection without pings: the "
             "keepalive check proves nothing")
    print("nginx-test: without pings nginx cut the same connection, as expected")


def main():
    feed_front, feed_log, echo_front, silent_front, read_timeout = sys.argv[1:6]
    check_page_and_feed(feed_front, feed_log)
    check_keepalive(echo_front, silent_front, int(read_timeout))
    print("nginx-test: all checks passed")


if __name__ == "__main__":
    main()
