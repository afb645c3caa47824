#!/usr/bin/env python3
"""Python `websockets` (13 or later, its threaded API) as tinyws's peer in
scripts/interop.sh.

    peer.py client URL [--ca FILE] [--no-deflate]
    peer.py server [--tls CERT KEY]

client: connects to a tinyws echo server (wss:// trusting only the CA in
FILE, the certificate checked against the URL's host), checks the
negotiated Sec-WebSocket-Extensions (permessage-deflate with both
no_context_takeover parameters, or none with --no-deflate), echoes the
messages of MESSAGES (text and binary, below and above tinyws's 128-byte
threshold, up to 300 KiB) and checks each echo byte for byte, then closes
with 1000 and checks the server's 1000. With deflate, each compressible
message above the threshold must come back in fewer than a quarter of its
size on the wire (TCP bytes received, from TCP_INFO): the server compressed
it.

server: an echo server with permessage-deflate on (the library's default
parameters), on 127.0.0.1 and a free port, printed as "listening on
127.0.0.1:PORT". A text message "?wire" is answered with the number of TCP
bytes received on this connection so far, so that the tinyws client can show
that what it sent was compressed.

Every failure exits 1 with a line that says what differed (3 when the
server's certificate was rejected); every socket operation has a timeout
(INTEROP_TIMEOUT seconds, default 30).
"""
import os
import socket
import ssl
import struct
import sys

from websockets.sync.client import connect
from websockets.sync.server import serve

TIMEOUT = float(os.environ.get("INTEROP_TIMEOUT", "30"))
BIG = 300 * 1024


def messages():
    """(name, payload, compressible): below and above the 128-byte threshold."""
    line = '{"sensor":"t\u00e9mp\u00e9rature \u2103","value":21.5,"unit":"\U0001F321"}\n'
    text_big = (line * (BIG // len(line.encode()) + 1)).encode()[:BIG]
    while True:  # cut on a character boundary
        try:
            text_big = text_big.decode()
            break
        except UnicodeDecodeError:
            text_big = text_big[:-1]
    return [
        ("text 64 B", "x" * 64, False),
        ("binary 64 B", bytes(range(64)), False),
        ("text 4 KiB", (line * 100)[:4096], True),
        ("binary 4 KiB", bytes(i % 7 for i in range(4096)), True),
        ("text %d B" % len(text_big.encode()), text_big, True),
        ("binary 300 KiB", bytes((i * i) % 13 for i in range(BIG)), True),
        ("random binary 300 KiB", os.urandom(BIG), False),
    ]


def wire_bytes(sock):
    """TCP bytes received on sock (tcpi_bytes_received, Linux 4.1 and later)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    if len(info) < 136:
        raise SystemExit("peer.py: TCP_INFO too short for tcpi_bytes_received")
    return struct.unpack_from("=Q", info, 128)[0]


def fail(what):
    print("peer.py: FAILED: " + what, file=sys.stderr)
    sys.exit(1)


def ext_params(value):
    """'permessage-deflate; a; b=1' -> ('permessage-deflate', {'a', 'b=1'})."""
    parts = [p.strip() for p in value.split(";")]
    return parts[0], set(parts[1:])


def run_client(url, ca, deflate):
    ctx = None
    if url.startswith("wss://"):
        ctx = ssl.create_default_context(cafile=ca)  # only this CA; host checked
    with connect(
        url,
        ssl=ctx,
        compression="deflate" if deflate else None,
        max_size=1 << 24,
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
    ) as ws:
        check_session(ws, url, deflate)
        ws.close()
        code = ws.protocol.close_code  # the server's answer to our Close
    if code != 1000:
        fail("the server closed with %s, not 1000" % code)
    print("py client: closed with 1000")


def check_session(ws, url, deflate):
    ext = ws.response.headers.get("Sec-WebSocket-Extensions")
    print("py client: %s negotiated %r" % (url, ext))
    if deflate:
        if ext is None:
            fail("tinyws declined permessage-deflate")
        name, params = ext_params(ext)
        want = {"server_no_context_takeover", "client_no_context_takeover"}
        if name != "permessage-deflate" or not want <= params:
            fail("unexpected extension answer %r" % ext)
    elif ext is not None:
        fail("an extension was negotiated without an offer: %r" % ext)
    sock = ws.socket
    for name, payload, compressible in messages():
        before = wire_bytes(sock)
        ws.send(payload)
        got = ws.recv(timeout=TIMEOUT)
        on_wire = wire_bytes(sock) - before
        if type(got) is not type(payload):
            fail("%s came back as %s" % (name, type(got).__name__))
        if got != payload:
            fail("%s came back different (%d bytes)" % (name, len(got)))
        size = len(payload.encode() if isinstance(payload, str) else payload)
        print("py client: %s echoed, %d B on the wire" % (name, on_wire))
        if deflate and compressible and on_wire * 4 > size:
            fail("%s: %d B on the wire, the server did not compress it" % (name, on_wire))
        if not deflate and on_wire < size:
            fail("%s: %d B on the wire without deflate" % (name, on_wire))


def run_server(tls):
    ctx = None
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[0], tls[1])

    def echo(ws):
        ext = ws.response.headers.get("Sec-WebSocket-Extensions")
        print("py server: answered %r" % ext, flush=True)
        for msg in ws:
            if msg == "?wire":
                ws.send(str(wire_bytes(ws.socket)))
            else:
                ws.send(msg)

    with serve(echo, "127.0.0.1", 0, ssl=ctx, compression="deflate", max_size=1 << 24) as server:
        print("listening on 127.0.0.1:%d" % server.socket.getsockname()[1], flush=True)
        server.serve_forever()


def main(argv):
    if len(argv) >= 2 and argv[0] == "client":
        url, rest = argv[1], argv[2:]
        ca = rest[rest.index("--ca") + 1] if "--ca" in rest else None
        try:
            run_client(url, ca, "--no-deflate" not in rest)
        except ssl.SSLCertVerificationError as e:
            print("peer.py: certificate rejected: %s" % e, file=sys.stderr)
            sys.exit(3)
    elif argv and argv[0] == "server":
        tls = argv[argv.index("--tls") + 1:argv.index("--tls") + 3] if "--tls" in argv else None
        run_server(tls)
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
