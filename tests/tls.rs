//! wss:// over real loopback sockets: echo with several sending threads
//! while the peer sends, large messages both ways, the handshake deadline,
//! plain HTTP on the TLS port, and certificate reload.
//!
//! The TLS 1.3 key-update and two-lock tests live beside the stream
//! (`src/tls/tests.rs`), where both sides can force key updates.

#![cfg(feature = "tls")]

mod support;

use std::io::{IoSlice, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use support::{frame, init_log, upgrade_request, ACCEPT, TIMEOUT};
use tinyws::{Config, Error, Message, Stream, Timeout, TlsConfig, TlsStream};

fn cert(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/certs")
        .join(name)
}

fn client_tls() -> TlsConfig {
    TlsConfig::client_with_ca(cert("ca.pem")).unwrap()
}

/// A TLS WebSocket server on its own thread: accepts `n` connections and
/// runs `handler` on each, returning what it returned.
fn serve<T, F>(tls: TlsConfig, n: usize, handler: F) -> (SocketAddr, JoinHandle<Vec<T>>)
where
    T: Send + 'static,
    F: Fn(tinyws::Result<TlsStream>) -> T + Send + 'static,
{
    init_log();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = thread::spawn(move || {
        (0..n)
            .map(|_| {
                let (tcp, _) = listener.accept().unwrap();
                handler(TlsStream::accept(tcp, &tls, TIMEOUT))
            })
            .collect()
    });
    (addr, thread)
}

/// A raw wss client: upgrade by hand, then frames through the shared
/// halves of a `TlsStream`, so a reader and writers run on threads of
/// their own.
struct Wss {
    stream: Arc<TlsStream>,
    buf: Vec<u8>,
}

impl Wss {
    fn connect(addr: SocketAddr) -> Wss {
        let tcp = TcpStream::connect(addr).unwrap();
        let stream = TlsStream::connect(tcp, &client_tls(), "localhost", TIMEOUT).unwrap();
        Stream::set_read_timeout(&stream, Some(TIMEOUT)).unwrap();
        Stream::set_write_timeout(&stream, Some(TIMEOUT)).unwrap();
        let mut wss = Wss {
            stream: Arc::new(stream),
            buf: Vec::new(),
        };
        wss.send_raw(upgrade_request("/").as_bytes());
        let end = loop {
            if let Some(i) = wss.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            wss.more();
        };
        let head = String::from_utf8(wss.buf.drain(..end).collect()).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{}", head);
        assert!(head.contains(ACCEPT), "{}", head);
        wss
    }

    fn send_raw(&self, bytes: &[u8]) {
        let n = self.stream.write_shared(&[IoSlice::new(bytes)]).unwrap();
        assert_eq!(n, bytes.len());
    }

    fn more(&mut self) {
        let mut piece = [0u8; 8192];
        let n = self.stream.read_shared(&mut piece).unwrap();
        assert!(n > 0, "end of stream");
        self.buf.extend_from_slice(&piece[..n]);
    }

    fn need(&mut self, n: usize) {
        while self.buf.len() < n {
            self.more();
        }
    }

    /// One unmasked server frame: (opcode, payload).
    fn read_frame(&mut self) -> (u8, Vec<u8>) {
        self.need(2);
        let (len, at) = match self.buf[1] & 0x7F {
            126 => {
                self.need(4);
                (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
            }
            127 => {
                self.need(10);
                let mut be = [0u8; 8];
                be.copy_from_slice(&self.buf[2..10]);
                (u64::from_be_bytes(be) as usize, 10)
            }
            n => (n as usize, 2),
        };
        self.need(at + len);
        let opcode = self.buf[0] & 0x0F;
        let payload = self.buf[at..at + len].to_vec();
        self.buf.drain(..at + len);
        (opcode, payload)
    }

    fn writer(&self) -> Arc<TlsStream> {
        Arc::clone(&self.stream)
    }
}

fn numbered(thread: usize, i: usize) -> String {
    format!("t{} m{}", thread, i)
}

#[test]
fn echo_over_tls_with_three_senders_while_the_client_sends() {
    const SENDERS: usize = 3;
    const EACH: usize = 300;
    let tls = TlsConfig::server(cert("a.pem"), cert("a.key")).unwrap();
    let (addr, server) = serve(tls, 1, |stream| {
        let mut ws = tinyws::accept(stream.unwrap(), &Config::default()).unwrap();
        let senders: Vec<_> = (0..SENDERS)
            .map(|t| {
                let sender = ws.sender().unwrap();
                thread::spawn(move || {
                    for i in 0..EACH {
                        sender.send(numbered(t, i)).unwrap();
                    }
                })
            })
            .collect();
        // Meanwhile the connection's own thread echoes what the client sends.
        let mut echoed = 0;
        loop {
            match ws.read() {
                Ok(Message::Close(_)) => break,
                Ok(msg) if msg.is_data() => {
                    ws.send(msg).unwrap();
                    echoed += 1;
                }
                Ok(_) => {}
                Err(e) => panic!("server read: {}", e),
            }
        }
        for s in senders {
            s.join().unwrap();
        }
        echoed
    });
    let mut client = Wss::connect(addr);
    let out = client.writer();
    let sending = thread::spawn(move || {
        for i in 0..EACH {
            let text = format!("client {}", i);
            let bytes = frame(true, 1, text.as_bytes());
            assert_eq!(
                out.write_shared(&[IoSlice::new(&bytes)]).unwrap(),
                bytes.len()
            );
        }
    });
    let mut next = [0usize; SENDERS];
    let mut echoes = 0;
    while echoes < EACH || next.iter().any(|&n| n < EACH) {
        let (opcode, payload) = client.read_frame();
        assert_eq!(opcode, 1);
        let text = String::from_utf8(payload).unwrap();
        if let Some(i) = text.strip_prefix("client ") {
            assert_eq!(i.parse::<usize>().unwrap(), echoes, "echoes in order");
            echoes += 1;
        } else {
            let t: usize = text[1..2].parse().unwrap();
            assert_eq!(text, numbered(t, next[t]), "each sender in order");
            next[t] += 1;
        }
    }
    sending.join().unwrap();
    client.send_raw(&frame(true, 8, &1000u16.to_be_bytes()));
    let (opcode, _) = client.read_frame();
    assert_eq!(opcode, 8);
    assert_eq!(server.join().unwrap(), vec![EACH]);
}

#[test]
fn large_messages_both_ways_at_once() {
    const SIZE: usize = 3 << 20;
    let body = |seed: u8| -> Vec<u8> {
        (0..SIZE)
            .map(|i| (i as u8).wrapping_mul(seed).wrapping_add(i as u8 >> 3))
            .collect()
    };
    let tls = TlsConfig::server(cert("a.pem"), cert("a.key")).unwrap();
    let config = Config::default()
        .max_message_size(4 << 20)
        .max_frame_size(4 << 20);
    let (addr, server) = serve(tls, 1, move |stream| {
        let mut ws = tinyws::accept(stream.unwrap(), &config).unwrap();
        let sender = ws.sender().unwrap();
        // The server sends its own 3 MiB while the client's 3 MiB arrives.
        let pushing = thread::spawn(move || sender.send(Message::Binary(body(7))).unwrap());
        let got = match ws.read().unwrap() {
            Message::Binary(b) => b,
            other => panic!("{:?}", other),
        };
        pushing.join().unwrap();
        assert!(got == body(13), "the client's message arrived intact");
        ws.send(Message::Binary(got)).unwrap();
        ws.close(tinyws::CloseCode::NORMAL, "").unwrap();
    });
    let mut client = Wss::connect(addr);
    let out = client.writer();
    let sending = thread::spawn(move || {
        let bytes = frame(true, 2, &body(13));
        assert_eq!(
            out.write_shared(&[IoSlice::new(&bytes)]).unwrap(),
            bytes.len()
        );
    });
    let (opcode, pushed) = client.read_frame();
    assert_eq!(opcode, 2);
    assert!(pushed == body(7), "the server's message arrived intact");
    sending.join().unwrap();
    let (opcode, echoed) = client.read_frame();
    assert_eq!(opcode, 2);
    assert!(echoed == body(13), "the echo arrived intact");
    let (opcode, _) = client.read_frame();
    assert_eq!(opcode, 8, "the server's close");
    client.send_raw(&frame(true, 8, &1000u16.to_be_bytes()));
    server.join().unwrap();
}

#[test]
fn a_client_trickling_its_hello_is_cut_at_the_deadline() {
    init_log();
    // The first bytes a real client would send.
    let mut hello = Vec::new();
    {
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let mut conn =
            rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap())
                .unwrap();
        conn.write_tls(&mut hello).unwrap();
    }
    assert!(hello.len() > 100);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = TlsConfig::server(cert("a.pem"), cert("a.key")).unwrap();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        TlsStream::accept(tcp, &tls, Duration::from_millis(300))
    });
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    // One byte every 20 ms: each byte would reset a per-read timeout, but
    // not the handshake's deadline. The whole hello would take seconds.
    let mut sent = 0;
    for byte in &hello {
        if server.is_finished() || tcp.write_all(&[*byte]).is_err() {
            break;
        }
        sent += 1;
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        sent < hello.len(),
        "the server waited for the whole trickled hello"
    );
    match server.join().unwrap() {
        Err(Error::Timeout(Timeout::Handshake)) => {}
        other => panic!(
            "expected the handshake deadline, got {:?}",
            other.map(|_| ())
        ),
    }
    // And the server has let go of the connection.
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest);
}

#[test]
fn plain_http_to_the_tls_port_gets_a_clear_400() {
    let tls = TlsConfig::server(cert("a.pem"), cert("a.key")).unwrap();
    let (addr, server) = serve(tls, 2, |stream| match stream {
        Err(Error::Handshake(h)) => h.status(),
        other => panic!("{:?}", other.map(|_| ())),
    });
    for request in [
        "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_owned(),
        upgrade_request("/"), // ws:// to a wss:// port
    ] {
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
        tcp.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 400 "), "{}", answer);
        assert!(
            answer.ends_with("this port speaks TLS: use https:// or wss://\n"),
            "{}",
            answer
        );
    }
    assert_eq!(server.join().unwrap(), vec![400, 400]);
}

/// The leaf certificate a server presents, through a plain rustls client.
fn presented(addr: SocketAddr) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(cert("ca.pem")).unwrap();
    use rustls::pki_types::pem::PemObject;
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&ca) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).unwrap();
    }
    let leaf = conn.peer_certificates().unwrap()[0].to_vec();
    conn.send_close_notify();
    let _ = conn.complete_io(&mut tcp);
    leaf
}

fn der(name: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_file(cert(name))
        .unwrap()
        .to_vec()
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("tinyws-{}-{}", name, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Points `live/NAME` at `archive/FILE` the way certbot renews: a new
/// symlink made beside it, then renamed over the old one.
#[cfg(unix)]
fn certbot_link(dir: &Path, name: &str, target: &Path) {
    let tmp = dir.join(format!("{}.new", name));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

#[cfg(unix)]
#[test]
fn a_renewed_certificate_is_seen_by_the_next_connection_and_a_bad_one_is_not() {
    let dir = Scratch::new("reload");
    let archive = dir.0.join("archive");
    let live = dir.0.join("live");
    std::fs::create_dir_all(&archive).unwrap();
    std::fs::create_dir_all(&live).unwrap();
    for (from, to) in [
        ("a.pem", "fullchain1.pem"),
        ("a.key", "privkey1.pem"),
        ("b.pem", "fullchain2.pem"),
        ("b.key", "privkey2.pem"),
    ] {
        std::fs::copy(cert(from), archive.join(to)).unwrap();
    }
    std::fs::write(archive.join("garbage.pem"), "not a certificate\n").unwrap();
    certbot_link(&live, "fullchain.pem", &archive.join("fullchain1.pem"));
    certbot_link(&live, "privkey.pem", &archive.join("privkey1.pem"));

    let tls = TlsConfig::server(live.join("fullchain.pem"), live.join("privkey.pem")).unwrap();
    let keep = tls.clone();
    let (addr, server) = serve(tls, 5, |stream| stream.is_ok());

    assert!(presented(addr) == der("a.pem"), "the first certificate");

    // certbot renews: new files in the archive, the links renamed over.
    certbot_link(&live, "fullchain.pem", &archive.join("fullchain2.pem"));
    certbot_link(&live, "privkey.pem", &archive.join("privkey2.pem"));
    assert!(presented(addr) == der("b.pem"), "the renewed certificate");

    // Half a renewal: a new certificate whose key has not arrived. The pair
    // does not match, so the one in service stays.
    certbot_link(&live, "fullchain.pem", &archive.join("fullchain1.pem"));
    assert!(
        presented(addr) == der("b.pem"),
        "kept after a mismatched pair"
    );
    assert!(
        keep.reload().is_err(),
        "a forced reload reports the mismatch"
    );

    // A file that is not PEM at all: still kept.
    certbot_link(&live, "fullchain.pem", &archive.join("garbage.pem"));
    assert!(presented(addr) == der("b.pem"), "kept after a broken file");

    // The key arrives and the certificate is fixed: the pair goes in.
    certbot_link(&live, "fullchain.pem", &archive.join("fullchain1.pem"));
    certbot_link(&live, "privkey.pem", &archive.join("privkey1.pem"));
    assert!(presented(addr) == der("a.pem"), "the fixed pair");
    assert_eq!(server.join().unwrap(), vec![true; 5]);
}

#[test]
fn bad_certificate_files_are_named_in_the_error() {
    let missing = TlsConfig::server(cert("nope.pem"), cert("a.key")).unwrap_err();
    assert!(
        format!("{:?}", missing).contains("nope.pem"),
        "{:?}",
        missing
    );
    let swapped = TlsConfig::server(cert("a.key"), cert("a.pem")).unwrap_err();
    assert!(
        format!("{:?}", swapped).contains("no PEM certificate"),
        "{:?}",
        swapped
    );
    let mismatched = TlsConfig::server(cert("a.pem"), cert("b.key")).unwrap_err();
    assert!(
        format!("{:?}", mismatched).contains("not a usable pair"),
        "{:?}",
        mismatched
    );
    let ca = TlsConfig::client_with_ca(cert("a.key")).unwrap_err();
    assert!(format!("{:?}", ca).contains("no usable CA"), "{:?}", ca);
}

#[test]
fn a_client_configuration_cannot_accept_and_a_server_one_cannot_connect() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let server_side = listener.accept().unwrap().0;
    assert!(matches!(
        TlsStream::accept(server_side, &client_tls(), TIMEOUT),
        Err(Error::Config(_))
    ));
    let tls = TlsConfig::server(cert("a.pem"), cert("a.key")).unwrap();
    assert!(matches!(
        TlsStream::connect(tcp, &tls, "localhost", TIMEOUT),
        Err(Error::Config(_))
    ));
    assert!(client_tls().reload().is_err());
}

#[test]
fn the_system_roots_do_not_trust_a_private_ca_and_skipping_verification_trusts_anything() {
    let tls = TlsConfig::server(cert("a.pem"), cert("a.key")).unwrap();
    let (addr, server) = serve(tls, 2, |stream| stream.is_ok());
    // The system's roots, where the machine has them: our test CA is not
    // among them.
    match TlsConfig::client() {
        Ok(system) => {
            let tcp = TcpStream::connect(addr).unwrap();
            let err = TlsStream::connect(tcp, &system, "localhost", TIMEOUT).unwrap_err();
            assert!(format!("{:?}", err).contains("UnknownIssuer"), "{:?}", err);
        }
        Err(e) => {
            assert!(
                format!("{:?}", e).contains("no system trust roots"),
                "{:?}",
                e
            );
            // Nothing to connect with: let the server's accept end.
            drop(TcpStream::connect(addr).unwrap());
        }
    }
    // No verification: the wrong name and an unknown issuer both pass.
    let tcp = TcpStream::connect(addr).unwrap();
    let insecure = TlsConfig::client_insecure_skip_verify().unwrap();
    TlsStream::connect(tcp, &insecure, "example.com", TIMEOUT).unwrap();
    assert_eq!(server.join().unwrap(), vec![false, true]);
}
