#!/usr/bin/env python3
"""A TLS front for the Autobahn fuzzingserver, so that a client's wss:// path
runs the suite (the shared runner's client.sh starts the fuzzingserver
without its key and certificate).

    tls_front.py --cert PEM --key PEM --to PORT -- CMD [ARG...]

Listens on 127.0.0.1 and a free port with TLS (Python's ssl, OpenSSL), and
relays each connection's plaintext to 127.0.0.1:PORT, both ways, passing on
each end of stream: the backend's EOF closes the TLS connection (close_notify,
then TCP), the client's EOF half-closes the backend. Like a reverse proxy it
rewrites the port in the request's Host header to PORT (the fuzzingserver
refuses a Host whose port is not its own). Then runs CMD with
"{front}" in its arguments replaced by the front's port, and exits with
CMD's status.
"""
import re
import select
import socket
import ssl
import subprocess
import sys
import threading


def serve(conn, ctx, port):
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (OSError, ssl.SSLError):
        conn.close()
        return
    head = b""
    try:
        while b"\r\n\r\n" not in head and len(head) < 16384:
            data = tls.recv(16384)
            if not data:
                break
            head += data
    except (OSError, ssl.SSLError):
        tls.close()
        return
    head = re.sub(rb"(?im)^(host:[ \t]*[^:\r\n]+):\d+", b"\\1:%d" % port, head, count=1)
    back = socket.create_connection(("127.0.0.1", port))
    back.sendall(head)
    relay(tls, back)


def relay(tls, back):
    """One thread per connection, and only it touches the TLS session
    (OpenSSL's session is not safe to use from two threads at once)."""
    tls_open = True
    try:
        while True:
            if tls_open and tls.pending():
                ready = [tls]
            else:
                ready, _, _ = select.select([tls, back] if tls_open else [back], [], [], 120)
                if not ready:
                    break
            if tls in ready:
                try:
                    data = tls.recv(65536)
                except (OSError, ssl.SSLError):
                    data = b""
                if data:
                    back.sendall(data)
                else:
                    tls_open = False
                    back.shutdown(socket.SHUT_WR)
            if back in ready:
                data = back.recv(65536)
                if not data:
                    break
                if tls_open:
                    tls.sendall(data)
    except OSError:
        pass
    # The backend closed: close_notify (not waiting long for the reply), then TCP.
    try:
        tls.settimeout(2)
        tls.unwrap()
    except (OSError, ssl.SSLError, ValueError):
        pass
    for s in (tls, back):
        try:
            s.close()
        except OSError:
            pass


def main(argv):
    sep = argv.index("--")
    opts, cmd = argv[:sep], argv[sep + 1:]
    cert = opts[opts.index("--cert") + 1]
    key = opts[opts.index("--key") + 1]
    port = int(opts[opts.index("--to") + 1])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    front = listener.getsockname()[1]

    def accept():
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn, ctx, port), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    print("tls_front: wss on 127.0.0.1:%d -> ws on 127.0.0.1:%d" % (front, port), flush=True)
    sys.exit(subprocess.call([a.replace("{front}", str(front)) for a in cmd]))


if __name__ == "__main__":
    main(sys.argv[1:])
