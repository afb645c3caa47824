//! wss:// over real loopback sockets: a TLS `Server` echoing with several
//! Senders while the client sends, large messages both ways, shutdown and
//! the connection cap over TLS, the handshake deadline, plain HTTP on the
//! TLS port, and certificate reload.
//!
//! The TLS 1.3 key-update and two-lock tests live beside the stream
//! (`src/tls/tests.rs`), where both sides can force key updates.

#![cfg(feature = "tls")]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use support::{init_log, recv, report, upgrade_request, TestServer, ACCEPT, TIMEOUT};
use tinyws::{
    CloseCode, Config, Error, Message, Role, Server, Socket, Stream, TlsConfig, WebSocket,
};

fn cert(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/certs")
        .join(name)
}

fn server_tls() -> TlsConfig {
    TlsConfig::server(cert("a.pem"), cert("a.key")).unwrap()
}

fn client_tls() -> TlsConfig {
    TlsConfig::client_with_ca(cert("ca.pem")).unwrap()
}

/// A TLS server with `config`, running `handler` on each connection.
fn tls_server<F>(config: &Config, handler: F) -> TestServer
where
    F: Fn(WebSocket) + Send + Sync + 'static,
{
    let server = Server::bind("127.0.0.1:0", config)
        .unwrap()
        .tls(server_tls())
        .unwrap();
    TestServer::start(server, handler)
}

/// A TLS socket to `addr`, handshake done, with a read timeout.
fn tls_socket(addr: SocketAddr) -> Socket {
    let tcp = TcpStream::connect(addr).unwrap();
    let socket = Socket::connect_tls(tcp, &client_tls(), "localhost", TIMEOUT).unwrap();
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert!(socket.is_tls());
    socket
}

/// A wss client: the upgrade written by hand, then tinyws's own client end
/// over the TLS socket, whose Sender writes while this thread reads.
fn wss_client(addr: SocketAddr, config: &Config) -> WebSocket {
    let mut socket = tls_socket(addr);
    socket.write_all(upgrade_request("/").as_bytes()).unwrap();
    // A byte at a time, so no frame that follows the head is read here.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(socket.read(&mut byte).unwrap(), 1, "closed in the head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{}", head);
    assert!(head.contains(ACCEPT), "{}", head);
    let ws = WebSocket::from_raw(socket, Role::Client, config).unwrap();
    ws.get_ref().set_read_timeout(Some(TIMEOUT)).unwrap();
    ws
}

fn numbered(thread: usize, i: usize) -> String {
    format!("t{} m{}", thread, i)
}

#[test]
fn echo_over_tls_with_three_senders_while_the_client_sends() {
    const SENDERS: usize = 3;
    const EACH: usize = 300;
    let (reporter, echoed) = report::<usize>();
    let server = tls_server(&Config::default(), move |mut ws| {
        let senders: Vec<_> = (0..SENDERS)
            .map(|t| {
                let sender = ws.sender().unwrap();
                thread::spawn(move || {
                    for i in 0..EACH {
                        sender.send(numbered(t, i).as_str()).unwrap();
                    }
                })
            })
            .collect();
        // Meanwhile the connection's own thread echoes the client.
        let mut count = 0;
        while let Ok(msg) = ws.read() {
            if msg.is_data() {
                ws.send(&msg).unwrap();
                count += 1;
            }
        }
        for s in senders {
            s.join().unwrap();
        }
        reporter.send(count);
    });
    let mut client = wss_client(server.addr, &Config::default());
    let sender = client.sender().unwrap();
    let sending = thread::spawn(move || {
        for i in 0..EACH {
            sender.send(format!("client {}", i).as_str()).unwrap();
        }
    });
    let mut next = [0usize; SENDERS];
    let mut echoes = 0;
    while echoes < EACH || next.iter().any(|&n| n < EACH) {
        let text = match client.read().unwrap() {
            Message::Text(t) => t,
            other => panic!("{:?}", other),
        };
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
    client.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(recv(&echoed), EACH);
}

#[test]
fn large_messages_both_ways_at_once() {
    const SIZE: usize = 3 << 20;
    fn body(seed: u8) -> Vec<u8> {
        (0..SIZE)
            .map(|i| (i as u8).wrapping_mul(seed).wrapping_add(i as u8 >> 3))
            .collect()
    }
    let config = Config::default()
        .max_message_size(4 << 20)
        .max_frame_size(4 << 20);
    let server = tls_server(&config, |mut ws| {
        let sender = ws.sender().unwrap();
        // The server sends its own 3 MiB while the client's 3 MiB arrives.
        let pushing = thread::spawn(move || sender.send(body(7)).unwrap());
        let got = match ws.read().unwrap() {
            Message::Binary(b) => b,
            other => panic!("{:?}", other),
        };
        pushing.join().unwrap();
        assert!(got == body(13), "the client's message arrived intact");
        ws.send(got).unwrap();
        let _ = ws.read();
    });
    let mut client = wss_client(server.addr, &config);
    let sender = client.sender().unwrap();
    let sending = thread::spawn(move || sender.send(body(13)).unwrap());
    let pushed = client.read().unwrap();
    assert!(
        pushed.as_bytes() == &body(7)[..],
        "the server's message arrived intact"
    );
    sending.join().unwrap();
    let echoed = client.read().unwrap();
    assert!(
        echoed.as_bytes() == &body(13)[..],
        "the echo arrived intact"
    );
    client.close(CloseCode::NORMAL, "").unwrap();
}

#[test]
fn the_hub_broadcasts_over_tls() {
    let hub = tinyws::Hub::new(Duration::from_secs(2));
    let subscribing = hub.clone();
    let (reporter, subscribed) = report::<()>();
    let server = tls_server(&Config::default(), move |mut ws| {
        subscribing.subscribe(ws.sender().unwrap()).unwrap();
        reporter.send(());
        while ws.read().is_ok() {}
    });
    let mut clients: Vec<WebSocket> = (0..3)
        .map(|_| wss_client(server.addr, &Config::default()))
        .collect();
    for _ in 0..3 {
        recv(&subscribed);
    }
    for i in 0..50 {
        assert_eq!(hub.broadcast(format!("reading {}", i).as_str()), 3);
    }
    for client in &mut clients {
        for i in 0..50 {
            assert_eq!(
                client.read().unwrap(),
                Message::Text(format!("reading {}", i))
            );
        }
        client.close(CloseCode::NORMAL, "").unwrap();
    }
}

#[test]
fn the_client_connects_and_reconnects_over_wss() {
    let server = tls_server(&Config::default(), support::echo_handler);
    let url = format!("wss://localhost:{}/", server.addr.port());
    // One connection, verified against the private CA.
    let mut ws = tinyws::Client::new(url.as_str())
        .tls(client_tls())
        .connect()
        .unwrap();
    ws.send("secure").unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("secure".into()));
    ws.close(CloseCode::NORMAL, "").unwrap();
    // The system's roots do not know the test CA: refused, with the TLS
    // library's reason.
    if TlsConfig::client().is_ok() {
        let err = tinyws::connect(&url).unwrap_err();
        assert!(format!("{:?}", err).contains("UnknownIssuer"), "{:?}", err);
    }
    // The reconnecting client: two sessions over wss, then stop.
    let client = tinyws::Client::new(url.as_str()).tls(client_tls());
    let handle = client.handle();
    let mut sessions = 0;
    client
        .run(|ws| {
            sessions += 1;
            ws.send(format!("session {}", sessions).as_str()).unwrap();
            assert_eq!(
                ws.read().unwrap(),
                Message::Text(format!("session {}", sessions))
            );
            if sessions == 2 {
                handle.stop();
            }
        })
        .unwrap();
    assert_eq!(sessions, 2);
}

#[test]
fn shutdown_closes_tls_connections_with_1001() {
    let server = tls_server(&Config::default(), support::echo_handler);
    let mut client = wss_client(server.addr, &Config::default());
    client.send("hello").unwrap();
    assert_eq!(client.read().unwrap(), Message::Text("hello".into()));
    let handle = server.handle.clone();
    let stopping = thread::spawn(move || server.stop());
    match client.read().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::GOING_AWAY),
        other => panic!("{:?}", other),
    }
    stopping.join().unwrap().unwrap();
    assert_eq!(handle.connections(), 0);
}

#[test]
fn a_client_over_the_cap_gets_a_tls_alert() {
    let config = Config::default().max_connections(1);
    let server = tls_server(&config, support::echo_handler);
    let mut first = wss_client(server.addr, &config);
    first.send("in").unwrap();
    assert_eq!(first.read().unwrap(), Message::Text("in".into()));
    // The second gets a TLS alert, which its TLS library reports, and no
    // plaintext 503.
    let tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    let err = Socket::connect_tls(tcp, &client_tls(), "localhost", TIMEOUT).unwrap_err();
    assert!(format!("{:?}", err).contains("InternalError"), "{:?}", err);
    first.close(CloseCode::NORMAL, "").unwrap();
}

/// A listener of your own: accepts `n` connections, runs the server side
/// of TLS on each with `Socket::accept_tls`, and returns what `handler`
/// made of each result.
fn own_listener<T, F>(
    tls: TlsConfig,
    n: usize,
    handler: F,
) -> (SocketAddr, thread::JoinHandle<Vec<T>>)
where
    T: Send + 'static,
    F: Fn(tinyws::Result<Socket>) -> T + Send + 'static,
{
    init_log();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = thread::spawn(move || {
        (0..n)
            .map(|_| {
                let (tcp, _) = listener.accept().unwrap();
                handler(Socket::accept_tls(tcp, &tls, TIMEOUT))
            })
            .collect()
    });
    (addr, thread)
}

#[test]
fn a_client_trickling_its_hello_is_cut_at_the_deadline() {
    // The first bytes a real client sends.
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
    let config = Config::default().handshake_timeout(Duration::from_millis(300));
    let server = tls_server(&config, support::echo_handler);
    let mut tcp = TcpStream::connect(server.addr).unwrap();
    // One byte every 20 ms, paced by a read that waits for the server to
    // close: each byte would reset a per-read timeout, never the
    // handshake's deadline. The whole hello would take seconds.
    tcp.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut sent = 0;
    let mut sink = [0u8; 64];
    let closed = loop {
        if sent == hello.len() {
            break false;
        }
        if tcp.write_all(&hello[sent..sent + 1]).is_err() {
            break true;
        }
        sent += 1;
        match tcp.read(&mut sink) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            // End of stream, a reset, or an alert: the server gave up.
            _ => break true,
        }
    };
    assert!(closed, "the server waited for the whole trickled hello");
    assert!(sent < hello.len());
    // And the server let go of the connection.
    support::wait_until("the connection to end", || server.handle.connections() == 0);
}

#[test]
fn plain_http_to_the_tls_port_gets_a_clear_400() {
    let server = tls_server(&Config::default(), support::echo_handler);
    let (own, own_thread) = own_listener(server_tls(), 1, |socket| match socket {
        Err(Error::Handshake(h)) => h.status(),
        other => panic!("{:?}", other.map(|_| ())),
    });
    for (addr, request) in [
        (
            server.addr,
            "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_owned(),
        ),
        (server.addr, upgrade_request("/")), // ws:// to a wss:// port
        (own, upgrade_request("/")),
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
    assert_eq!(own_thread.join().unwrap(), vec![400]);
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
    init_log();
    let server = Server::bind("127.0.0.1:0", &Config::default())
        .unwrap()
        .tls(tls)
        .unwrap();
    let server = TestServer::start(server, support::echo_handler);
    let addr = server.addr;

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
        Socket::accept_tls(server_side, &client_tls(), TIMEOUT),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        Socket::connect_tls(tcp, &server_tls(), "localhost", TIMEOUT),
        Err(Error::InvalidInput(_))
    ));
    assert!(client_tls().reload().is_err());
    let server = Server::bind("127.0.0.1:0", &Config::default()).unwrap();
    assert!(matches!(
        server.tls(client_tls()),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn the_system_roots_do_not_trust_a_private_ca_and_skipping_verification_trusts_anything() {
    let (addr, server) = own_listener(server_tls(), 2, |socket| socket.is_ok());
    // The system's roots, where the machine has them: our test CA is not
    // among them.
    match TlsConfig::client() {
        Ok(system) => {
            let tcp = TcpStream::connect(addr).unwrap();
            let err = Socket::connect_tls(tcp, &system, "localhost", TIMEOUT).unwrap_err();
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
    Socket::connect_tls(tcp, &insecure, "example.com", TIMEOUT).unwrap();
    assert_eq!(server.join().unwrap(), vec![false, true]);
}
