#!/usr/bin/env python3
"""WebSocket smoke client for the tinyws release binaries (standard library only).

    ws_smoke.py echo HOST:PORT
    ws_smoke.py deflate HOST:PORT
    ws_smoke.py broadcast HOST:PORT [--count N] [--prefix TEXT]

echo: checks the opening handshake (status 101, Upgrade, Connection and the
Sec-WebSocket-Accept value of RFC 6455 section 4.2.2), echoes text and binary
messages of 0 B, 125 B, 126 B, 65535 B, 64 KiB and 1 MiB, a fragmented text
message with a Ping between its fragments, a Ping with a payload, then closes
from the client side (Close 1000 answered by Close 1000, then TCP EOF from the
server) and opens a second connection to show the server still serves.

deflate: offers permessage-deflate (RFC 7692) with no context takeover,
checks that the server agrees, sends compressed text and binary messages
(RSV1, raw DEFLATE with the 00 00 FF FF tail stripped, by Python's zlib) and
an uncompressed short one, and checks each echo; the large echoes must come
back compressed, so the server's compressor and decompressor both ran.

broadcast: receives N text messages "PREFIX<number>" with consecutive numbers,
as a server broadcasting the lines of a counting shell loop sends them, then
closes cleanly.

Exit status 0 when every check passed, 1 on the first failure. Every socket
operation has a timeout (WS_SMOKE_TIMEOUT seconds, default 60), so a hung
server fails the check instead of hanging it. Needs Python 3.6 or later and
nothing from pip, so CI can run it on a bare machine.

With WS_SMOKE_CA=FILE the same checks run over TLS (wss://) through
Python's ssl module (OpenSSL), trusting only the CA certificates in FILE and
checking the server's certificate against HOST; the client offers ALPN h2
and http/1.1, and the server must choose http/1.1.
"""
import base64
import hashlib
import os
import socket
import struct
import sys
import time
import zlib

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TIMEOUT = float(os.environ.get("WS_SMOKE_TIMEOUT", "60"))
TEXT, BINARY, CLOSE, PING, PONG, CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def mask(data, key):
    """XOR data with the 4-byte key, a whole integer at a time (fast for 1 MiB)."""
    n = len(data)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


def text_payload(size):
    """Exactly `size` bytes of valid UTF-8 with 1-, 2-, 3- and 4-byte characters."""
    unit = "tinyws h\u00e9llo \u2713 \U0001d11e ".encode("utf-8")
    out = unit * (size // len(unit))
    return out + b"x" * (size - len(out))


class Client:
    def __init__(self, host, port, deflate=False):
        self.host, self.port = host, port
        self.offer_deflate, self.deflate = deflate, False
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ca = os.environ.get("WS_SMOKE_CA")
        if ca:
            import ssl
            context = ssl.create_default_context(cafile=ca)
            context.set_alpn_protocols(["h2", "http/1.1"])
            self.sock = context.wrap_socket(self.sock, server_hostname=host)
            check(self.sock.selected_alpn_protocol() == "http/1.1",
                  "ALPN chose {!r}, want 'http/1.1'".format(self.sock.selected_alpn_protocol()))
            print("  tls: {}, {}, certificate verified for {}".format(
                self.sock.version(), self.sock.cipher()[0], host))
        self.buf = bytearray()

    # -- bytes ---------------------------------------------------------------
    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise Fail("server closed the TCP connection unexpectedly")
        self.buf += chunk

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    # -- handshake (RFC 6455 section 4) --------------------------------------
    def handshake(self):
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        req = (
            "GET / HTTP/1.1\r\n"
            "Host: {}:{}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Key: {}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "{}"
            "\r\n"
        ).format(self.host, self.port, key, EXTENSION_OFFER if self.offer_deflate else "")
        self.sock.sendall(req.encode("ascii"))
        while b"\r\n\r\n" not in self.buf:
            check(len(self.buf) < 8192, "handshake response longer than 8 KiB")
            self._fill()
        end = self.buf.index(b"\r\n\r\n")
        head = bytes(self.buf[:end]).decode("latin-1")
        del self.buf[: end + 4]
        lines = head.split("\r\n")
        check(lines[0].startswith("HTTP/1.1 101"), "handshake status: " + repr(lines[0]))
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        want = base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")
        check(headers.get("sec-websocket-accept") == want,
              "Sec-WebSocket-Accept {!r}, want {!r}".format(headers.get("sec-websocket-accept"), want))
        check(headers.get("upgrade", "").lower() == "websocket", "Upgrade header: " + repr(headers.get("upgrade")))
        tokens = [t.strip().lower() for t in headers.get("connection", "").split(",")]
        check("upgrade" in tokens, "Connection header: " + repr(headers.get("connection")))
        agreed = headers.get("sec-websocket-extensions", "")
        if self.offer_deflate:
            params = [p.strip().lower() for p in agreed.split(";")]
            check(params[0] == "permessage-deflate",
                  "permessage-deflate offered, the server answered {!r}".format(agreed))
            check("client_no_context_takeover" in params and "server_no_context_takeover" in params,
                  "no context takeover asked for, the server answered {!r}".format(agreed))
            self.deflate = True
            return agreed
        check(not agreed, "extensions agreed without an offer: {!r}".format(agreed))
        return None

    # -- frames (RFC 6455 section 5) -----------------------------------------
    def send_frame(self, opcode, payload, fin=True, rsv1=False):
        n = len(payload)
        head = bytearray([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
        if n < 126:
            head.append(0x80 | n)
        elif n < 65536:
            head.append(0x80 | 126)
            head += struct.pack("!H", n)
        else:
            head.append(0x80 | 127)
            head += struct.pack("!Q", n)
        key = os.urandom(4)  # client frames must be masked (section 5.3)
        self.sock.sendall(bytes(head) + key + mask(payload, key))

    def recv_frame(self):
        b0, b1 = self._take(2)
        fin, rsv, opcode = bool(b0 & 0x80), b0 & 0x70, b0 & 0x0F
        rsv1 = bool(rsv & 0x40) and self.deflate
        check(rsv & ~(0x40 if rsv1 else 0) == 0, "server frame has reserved bits set")
        check(not rsv1 or opcode in (TEXT, BINARY), "RSV1 on a frame that is not a message's first")
        check(not b1 & 0x80, "server frame is masked (section 5.1 forbids it)")
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._take(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._take(8))
        if opcode >= 0x8:
            check(fin and n <= 125, "server control frame fragmented or longer than 125 bytes")
        self.last_rsv1 = rsv1
        return fin, opcode, self._take(n)

    def recv_message(self):
        """The next message or control frame: (opcode, payload).

        Reassembles fragments and answers keepalive Pings, so the caller sees
        TEXT/BINARY messages and CLOSE/PONG frames only. A compressed
        message is inflated; `self.compressed` says whether it was."""
        first, parts = None, []
        while True:
            fin, opcode, payload = self.recv_frame()
            if opcode == PING:
                self.send_frame(PONG, payload)
                continue
            if opcode in (CLOSE, PONG):
                return opcode, payload
            if first is None:
                check(opcode in (TEXT, BINARY), "unexpected opcode {:#x}".format(opcode))
                first = opcode
                self.compressed = self.last_rsv1
            else:
                check(opcode == CONT, "new data frame inside a fragmented message")
            parts.append(payload)
            if fin:
                data = b"".join(parts)
                if self.compressed:
                    inflater = zlib.decompressobj(-15)
                    data = inflater.decompress(data + b"\x00\x00\xff\xff")
                return first, data

    def close(self, code=1000, reason=b"smoke done"):
        """Client-initiated close: Close answered by Close, then EOF (section 7)."""
        self.send_frame(CLOSE, struct.pack("!H", code) + reason)
        while True:
            opcode, payload = self.recv_message()
            if opcode == CLOSE:
                break
            check(opcode != PONG, "unexpected Pong while closing")  # data may still drain
        check(len(payload) >= 2, "server Close frame has no status code")
        (got,) = struct.unpack("!H", payload[:2])
        check(got == code, "server Close code {}, want {}".format(got, code))
        # The server closes TCP first after the close handshake (section 7.1.1).
        while True:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            check(False, "bytes after the Close frame: {!r}".format(chunk[:32]))
        self.sock.close()


EXTENSION_OFFER = ("Sec-WebSocket-Extensions: permessage-deflate; "
                   "client_no_context_takeover; server_no_context_takeover\r\n")


def deflate(data):
    """One message's payload as RFC 7692 sends it: raw DEFLATE, sync-flushed,
    without its last 00 00 FF FF (section 7.2.1)."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    check(out.endswith(b"\x00\x00\xff\xff"), "zlib's sync flush has no empty block")
    return out[:-4]


def name(opcode):
    return {TEXT: "text", BINARY: "binary", CLOSE: "close", PONG: "pong"}.get(opcode, hex(opcode))


def echo_one(c, opcode, payload):
    c.send_frame(opcode, payload)
    got_op, got = c.recv_message()
    check(got_op == opcode, "sent {} [{} B], got {} frame".format(name(opcode), len(payload), name(got_op)))
    check(got == payload, "{} [{} B] came back changed ({} B)".format(name(opcode), len(payload), len(got)))


def run_echo(host, port):
    sizes = [0, 125, 126, 65535, 65536, 1 << 20]
    t0 = time.monotonic()
    c = Client(host, port)
    c.handshake()
    print("  handshake: 101, Sec-WebSocket-Accept verified")
    for opcode in (TEXT, BINARY):
        t = time.monotonic()
        for size in sizes:
            payload = text_payload(size) if opcode == TEXT else os.urandom(size)
            echo_one(c, opcode, payload)
        print("  echo {}: {} B ok ({:.2f} s)".format(
            name(opcode), ", ".join(str(s) for s in sizes), time.monotonic() - t))

    # A text message in three fragments with a Ping between them (section 5.4:
    # control frames may be injected in the middle of a fragmented message).
    parts = [text_payload(1000), text_payload(70000), text_payload(3)]
    c.send_frame(TEXT, parts[0], fin=False)
    c.send_frame(PING, b"mid-message")
    c.send_frame(CONT, parts[1], fin=False)
    c.send_frame(CONT, parts[2], fin=True)
    got = {}
    while len(got) < 2:
        opcode, payload = c.recv_message()
        check(opcode in (PONG, TEXT) and opcode not in got, "unexpected {} frame".format(name(opcode)))
        got[opcode] = payload
    check(got[PONG] == b"mid-message", "Pong payload {!r}".format(got[PONG]))
    check(got[TEXT] == b"".join(parts), "fragmented text came back changed")
    print("  fragmented text (3 frames, Ping between them): ok")

    c.send_frame(PING, b"smoke-ping")
    opcode, payload = c.recv_message()
    check(opcode == PONG and payload == b"smoke-ping",
          "Ping answered by {} {!r}".format(name(opcode), payload[:32]))
    print("  ping: pong with the same payload")

    c.close()
    print("  close from the client: Close 1000 answered by Close 1000, then TCP EOF")

    c = Client(host, port)
    c.handshake()
    echo_one(c, TEXT, b"still serving")
    c.close()
    print("  second connection after the close: ok")
    print("OK: echo checks passed in {:.2f} s".format(time.monotonic() - t0))


def run_deflate(host, port):
    t0 = time.monotonic()
    c = Client(host, port, deflate=True)
    agreed = c.handshake()
    print("  handshake: 101, agreed {!r}".format(agreed))
    cases = [
        (TEXT, text_payload(10000), True),
        (BINARY, bytes(range(256)) * 400, True),   # 100 KiB
        (TEXT, text_payload(300000), True),
        (TEXT, b"short and plain", False),
    ]
    for opcode, payload, compress in cases:
        wire = deflate(payload) if compress else payload
        c.send_frame(opcode, wire, rsv1=compress)
        got_op, got = c.recv_message()
        check(got_op == opcode and got == payload,
              "{} [{} B] came back changed ({} B)".format(name(opcode), len(payload), len(got)))
        if len(payload) >= 1024:
            check(c.compressed, "the echo of {} [{} B] came back uncompressed".format(name(opcode), len(payload)))
        print("  {} {} B sent {}, {} B on the wire; echo {}: ok".format(
            name(opcode), len(payload), "compressed" if compress else "plain", len(wire),
            "compressed" if c.compressed else "plain"))
    c.close()
    print("OK: deflate checks passed in {:.2f} s".format(time.monotonic() - t0))


def run_broadcast(host, port, count, prefix):
    t0 = time.monotonic()
    c = Client(host, port)
    c.handshake()
    numbers = []
    while len(numbers) < count:
        opcode, payload = c.recv_message()
        check(opcode == TEXT, "broadcast sent a {} frame".format(name(opcode)))
        line = payload.decode("utf-8")
        check(line.startswith(prefix) and line[len(prefix):].isdigit(),
              "broadcast line {!r} does not look like {!r}".format(line, prefix + "N"))
        numbers.append(int(line[len(prefix):]))
    check(numbers == list(range(numbers[0], numbers[0] + count)),
          "broadcast lines out of order or missing: {}".format(numbers))
    c.close()
    print("  broadcast: received {!r} .. {!r} in order, then a clean close".format(
        prefix + str(numbers[0]), prefix + str(numbers[-1])))
    print("OK: broadcast checks passed in {:.2f} s".format(time.monotonic() - t0))


def main(argv):
    usage = ("usage: ws_smoke.py echo HOST:PORT | deflate HOST:PORT | "
             "broadcast HOST:PORT [--count N] [--prefix TEXT]")
    if len(argv) < 3 or argv[1] not in ("echo", "deflate", "broadcast"):
        print(usage, file=sys.stderr)
        return 2
    host, _, port = argv[2].rpartition(":")
    opts = dict(zip(argv[3::2], argv[4::2]))
    try:
        if argv[1] == "echo":
            run_echo(host, int(port))
        elif argv[1] == "deflate":
            run_deflate(host, int(port))
        else:
            run_broadcast(host, int(port), int(opts.get("--count", "5")), opts.get("--prefix", "line "))
    except (Fail, OSError, ValueError, zlib.error) as e:  # socket.timeout is an OSError
        print("FAIL: {}: {}".format(type(e).__name__, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
