//! The HTTP edge (issue 16): DNS rebinding, request smuggling shapes,
//! reverse proxies, HEAD, TLS on the plain port and unchosen subprotocols,
//! each against a real server on loopback.

mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use log::Level;
use support::{
    frame, logs, recv, report, upgrade_request_with, wait_until, Client, TestServer, KEY,
};
use tinyws::{Config, Reply, Server, Upgrade};

/// Info lines that contain every one of `parts`.
fn info_lines(parts: &[&str]) -> Vec<String> {
    logs::lines(Level::Info, parts)
}

const PAGE: &str = "<h1>dashboard</h1>";

/// A server like examples/sensor_feed: a page at `/`, the WebSocket at `/ws`.
fn site(config: Config) -> TestServer {
    logs::install();
    let server = Server::bind("127.0.0.1:0", &config)
        .unwrap()
        .on_request(|req| match (req.is_upgrade(), req.path()) {
            (true, "/ws") => Upgrade::new().into(),
            (false, "/") => Reply::html(PAGE).into(),
            _ => Reply::text(404, "not found\n").into(),
        });
    TestServer::start(server, support::echo_handler)
}

/// An upgrade request for `path` with `host` and extra header lines.
fn upgrade(path: &str, host: &str, extra: &str) -> String {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n{}\r\n",
        path, host, KEY, extra
    )
}

/// Sends raw bytes and reads everything until the server closes.
fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(support::TIMEOUT)).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    if let Err(e) = s.read_to_end(&mut out) {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{}", e);
    }
    out
}

/// The device's own host name, which the server reads once at start-up and
/// hands to validation, is let in, page and WebSocket.
#[test]
fn the_devices_host_name_is_let_in() {
    let name = match std::fs::read_to_string("/proc/sys/kernel/hostname") {
        Ok(name) => name.trim().to_owned(),
        Err(_) => return, // not Linux: nothing to compare with
    };
    let is_name = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
    if name.is_empty() || !name.bytes().all(is_name) || name.parse::<IpAddr>().is_ok() {
        return;
    }
    let server = site(Config::default());
    let host = format!("{}:{}", name.to_ascii_uppercase(), server.addr.port());
    let origin = format!("Origin: http://{}\r\n", host);
    let (_, r) = Client::request(server.addr, &upgrade("/ws", &host, &origin));
    assert_eq!(r.status, 101, "{}: {}", host, r.head);
    let page = format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", host);
    let (_, r) = Client::request(server.addr, &page);
    assert_eq!(r.status, 200, "{}: {}", host, r.head);
}

#[test]
fn dns_rebinding_gets_neither_a_websocket_nor_a_page() {
    let server = site(Config::default());
    let port = server.addr.port();
    // The attacker's page, its name rebound to this device: Origin and Host
    // agree, so the Origin check alone lets it in.
    let evil = format!("attacker.example:{}", port);
    let origin = format!("Origin: http://{}\r\n", evil);
    let (_, r) = Client::request(server.addr, &upgrade("/ws", &evil, &origin));
    assert_eq!(r.status, 421, "{}", r.head);
    assert!(r.body_text().contains("allowed_hosts"), "{}", r.body_text());
    let page = format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", evil);
    let (_, r) = Client::request(server.addr, &page);
    assert_eq!(r.status, 421, "{}", r.head);
    assert!(!r.body_text().contains(PAGE));
    // This device's own names still work, page and WebSocket.
    for host in [
        format!("127.0.0.1:{}", port),
        format!("localhost:{}", port),
        format!("raspberrypi.local:{}", port),
    ] {
        let origin = format!("Origin: http://{}\r\n", host);
        let (_, r) = Client::request(server.addr, &upgrade("/ws", &host, &origin));
        assert_eq!(r.status, 101, "{}: {}", host, r.head);
        let page = format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", host);
        let (_, r) = Client::request(server.addr, &page);
        assert_eq!(r.status, 200, "{}: {}", host, r.head);
    }
    drop(server);
    // A name the user configured.
    let server = site(Config::default().allowed_hosts(vec!["attacker.example".into()]));
    let evil = format!("attacker.example:{}", server.addr.port());
    let origin = format!("Origin: http://{}\r\n", evil);
    let (_, r) = Client::request(server.addr, &upgrade("/ws", &evil, &origin));
    assert_eq!(r.status, 101, "{}", r.head);
}

#[test]
fn an_upgrade_with_a_body_is_refused_not_read_as_frames() {
    let server = site(Config::default());
    let body = frame(true, 1, b"smuggled");
    let cl = format!("Content-Length: {}\r\n", body.len());
    let mut request = upgrade("/ws", "localhost", &cl).into_bytes();
    request.extend_from_slice(&body);
    let answer = exchange(server.addr, &request);
    assert!(
        answer.starts_with(b"HTTP/1.1 400 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(!answer.windows(8).any(|w| w == b"smuggled"));
    let mut request = upgrade("/ws", "localhost", "Transfer-Encoding: chunked\r\n").into_bytes();
    request.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
    request.extend_from_slice(&body);
    request.extend_from_slice(b"\r\n0\r\n\r\n");
    let answer = exchange(server.addr, &request);
    assert!(
        answer.starts_with(b"HTTP/1.1 400 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // Content-Length: 0 is no body.
    let (_, r) = Client::request(
        server.addr,
        &upgrade("/ws", "localhost", "Content-Length: 0\r\n"),
    );
    assert_eq!(r.status, 101);
}

#[test]
fn hosts_and_origins_that_are_repeated_or_unreadable_are_refused() {
    let server = site(Config::default());
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "two Hosts",
            upgrade("/ws", "localhost", "Host: attacker.example\r\n").into_bytes(),
            400,
        ),
        (
            "a Host with a path",
            upgrade("/ws", "localhost/x", "").into_bytes(),
            400,
        ),
        (
            "a Host with user info",
            upgrade("/ws", "me@localhost", "").into_bytes(),
            400,
        ),
        (
            "two Origins",
            upgrade(
                "/ws",
                "localhost",
                "Origin: http://localhost\r\nOrigin: http://localhost\r\n",
            )
            .into_bytes(),
            400,
        ),
        (
            "a page with two Hosts",
            b"GET / HTTP/1.1\r\nHost: localhost\r\nHost: attacker.example\r\n\r\n".to_vec(),
            400,
        ),
    ];
    for (what, request, status) in cases {
        let mut c = Client::connect(server.addr);
        c.send(&request);
        assert_eq!(c.read_response().status, status, "{}", what);
    }
    // An Origin that is not ASCII used to count as absent.
    let mut request = upgrade("/ws", "localhost", "").into_bytes();
    let at = request.len() - 2;
    request.splice(
        at..at,
        b"Origin: http://\xe9vil.example\r\n".iter().copied(),
    );
    let answer = exchange(server.addr, &request);
    assert!(
        answer.starts_with(b"HTTP/1.1 400 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[test]
fn an_absolute_form_target_is_served_by_its_path() {
    let server = site(Config::default());
    let target = format!("http://localhost:{}/ws", server.addr.port());
    let (mut c, r) = Client::request(server.addr, &upgrade(&target, "localhost", ""));
    assert_eq!(r.status, 101, "{}", r.head);
    c.send_text("absolute");
    assert_eq!(c.read_data().payload, b"absolute");
    // The target's authority is the host checked (RFC 9112 section 3.2.2).
    let target = format!("http://attacker.example:{}/ws", server.addr.port());
    let (_, r) = Client::request(server.addr, &upgrade(&target, "localhost", ""));
    assert_eq!(r.status, 421, "{}", r.head);
}

/// A server that reports each upgrade's client address and host.
fn reporting(config: Config) -> (TestServer, std::sync::mpsc::Receiver<(IpAddr, String)>) {
    logs::install();
    let (tx, rx) = report();
    let server = Server::bind("127.0.0.1:0", &config).unwrap();
    let server = TestServer::start(server, move |mut ws| {
        let req = ws.request().unwrap();
        tx.send((req.client_addr().unwrap(), req.host().to_owned()));
        while let Ok(msg) = ws.read() {
            if msg.is_data() && ws.send(msg).is_err() {
                break;
            }
        }
    });
    (server, rx)
}

const VIA_NGINX: &str = "X-Forwarded-For: 198.51.100.1, 203.0.113.9\r\n\
    X-Forwarded-Host: pi.example:8443\r\nOrigin: https://pi.example:8443\r\n";

#[test]
fn a_trusted_proxy_forwards_the_client_and_the_host() {
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let config = Config::default()
        .trusted_proxies(vec![loopback])
        .allowed_hosts(vec!["pi.example".into()]);
    let (server, rx) = reporting(config);
    // What nginx sends with `proxy_set_header Host $host`: the port is lost
    // from Host, the forwarded host keeps it.
    let (mut c, r) = Client::request(server.addr, &upgrade("/", "pi.example", VIA_NGINX));
    assert_eq!(r.status, 101, "{}", r.head);
    let (client, host) = recv(&rx);
    assert_eq!(client, "203.0.113.9".parse::<IpAddr>().unwrap());
    assert_eq!(host, "pi.example:8443");
    let proxy = c.stream.local_addr().unwrap().to_string();
    wait_until("the connect line is logged", || {
        !info_lines(&[&format!("203.0.113.9 via {} connected", proxy)]).is_empty()
    });
    c.send_frame(true, 8, &1000u16.to_be_bytes());
    c.expect_close(1000);
    // RFC 7239 Forwarded, the nearest hop last.
    let forwarded =
        "Forwarded: for=192.0.2.1, for=\"[2001:db8::7]:4711\";host=\"pi.example:8443\"\r\n\
        Origin: https://pi.example:8443\r\n";
    let (_, r) = Client::request(server.addr, &upgrade("/", "127.0.0.1", forwarded));
    assert_eq!(r.status, 101, "{}", r.head);
    let (client, host) = recv(&rx);
    assert_eq!(client, "2001:db8::7".parse::<IpAddr>().unwrap());
    assert_eq!(host, "pi.example:8443");
    // A forwarded host the Origin does not match is refused, and the log
    // says what was compared.
    let other = "X-Forwarded-For: 203.0.113.10\r\nX-Forwarded-Host: pi.example:8443\r\n\
        Origin: https://evil.example\r\n";
    let (c, r) = Client::request(server.addr, &upgrade("/", "pi.example", other));
    assert_eq!(r.status, 403, "{}", r.head);
    drop(c);
    let refused = info_lines(&["203.0.113.10 via", "403"]);
    assert_eq!(refused.len(), 1, "{:?}", refused);
    for part in [
        "origin=\"https://evil.example\"",
        "host=\"pi.example:8443\"",
        "forwarded",
        "allowed_origins",
    ] {
        assert!(
            refused[0].contains(part),
            "{:?} lacks {:?}",
            refused[0],
            part
        );
    }
}

#[test]
fn forwarding_headers_from_anyone_else_are_ignored() {
    // Trusts another address, not the loopback this client comes from.
    let config = Config::default()
        .trusted_proxies(vec!["192.0.2.99".parse().unwrap()])
        .allowed_hosts(vec!["pi.example".into()]);
    let (server, rx) = reporting(config);
    let (_, r) = Client::request(server.addr, &upgrade("/", "pi.example", VIA_NGINX));
    // The Origin is compared with Host, not the spoofed forwarded host.
    assert_eq!(r.status, 403, "{}", r.head);
    let spoof = "X-Forwarded-For: 203.0.113.9\r\nForwarded: for=203.0.113.9\r\n";
    let (_, r) = Client::request(server.addr, &upgrade("/", "pi.example", spoof));
    assert_eq!(r.status, 101, "{}", r.head);
    let (client, host) = recv(&rx);
    assert_eq!(client, "127.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(host, "pi.example");
}

#[test]
fn a_trusted_proxy_cannot_be_made_to_vouch_for_a_spoofed_address() {
    let config = Config::default().trusted_proxies(vec!["127.0.0.1".parse().unwrap()]);
    let (server, rx) = reporting(config);
    // The client wrote the first entry itself; the proxy appended the real
    // one. "unknown" (RFC 7239) leaves the proxy's own address.
    for (header, expected) in [
        ("X-Forwarded-For: 10.0.0.1, 203.0.113.9\r\n", "203.0.113.9"),
        ("X-Forwarded-For: 10.0.0.1, 127.0.0.1\r\n", "10.0.0.1"),
        ("X-Forwarded-For: 10.0.0.1, unknown\r\n", "127.0.0.1"),
    ] {
        let (_, r) = Client::request(server.addr, &upgrade("/", "localhost", header));
        assert_eq!(r.status, 101, "{}", r.head);
        assert_eq!(
            recv(&rx).0,
            expected.parse::<IpAddr>().unwrap(),
            "{}",
            header
        );
    }
}

/// Splits an answer into its head and body.
fn head_and_body(answer: &[u8]) -> (String, &[u8]) {
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no blank line")
        + 4;
    (
        String::from_utf8_lossy(&answer[..end]).into_owned(),
        &answer[end..],
    )
}

#[test]
fn head_gets_the_headers_of_get_and_no_body() {
    let server = site(Config::default());
    let get = exchange(server.addr, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let head = exchange(server.addr, b"HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let (get_head, get_body) = head_and_body(&get);
    let (head_head, head_body) = head_and_body(&head);
    assert_eq!(get_body, PAGE.as_bytes());
    assert_eq!(head_head, get_head);
    assert!(
        head_body.is_empty(),
        "{:?}",
        String::from_utf8_lossy(head_body)
    );
    // Refusals too: without a hook, and for a foreign host.
    let bare = TestServer::echo(Config::default());
    for (addr, request, status) in [
        (
            bare.addr,
            "HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n",
            "426",
        ),
        (
            server.addr,
            "HEAD / HTTP/1.1\r\nHost: attacker.example\r\n\r\n",
            "421",
        ),
    ] {
        let answer = exchange(addr, request.as_bytes());
        let (head, body) = head_and_body(&answer);
        assert!(
            head.starts_with(&format!("HTTP/1.1 {} ", status)),
            "{}",
            head
        );
        assert!(!head.contains("Content-Length: 0\r\n"), "{}", head);
        assert!(body.is_empty(), "{:?}", String::from_utf8_lossy(body));
    }
}

#[test]
fn a_tls_client_hello_is_closed_at_once_with_nothing_readable() {
    logs::install();
    // A long handshake timeout: the answer must not wait for it.
    let server = TestServer::echo(Config::default().handshake_timeout(Duration::from_secs(60)));
    // The start of a real ClientHello: handshake record, TLS 1.0 record
    // version, then the hello itself.
    let hello = [
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x5a, 0x11,
    ];
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(support::TIMEOUT)).unwrap();
    s.write_all(&hello).unwrap();
    let mut answer = Vec::new();
    match s.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{}", e),
    }
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    let peer = s.local_addr().unwrap().to_string();
    wait_until("the TLS line is logged", || {
        !info_lines(&[
            &peer,
            "TLS handshake on a plain port: use ws:// or enable TLS",
        ])
        .is_empty()
    });
}

#[test]
fn a_subprotocol_offered_and_not_chosen_is_logged_at_info() {
    let server = site(Config::default());
    let (c, r) = Client::request(
        server.addr,
        &upgrade(
            "/ws",
            "localhost",
            "Sec-WebSocket-Protocol: chat, superchat\r\n",
        ),
    );
    assert_eq!(r.status, 101, "{}", r.head);
    assert_eq!(r.header("sec-websocket-protocol"), None);
    let peer = c.stream.local_addr().unwrap().to_string();
    wait_until("the subprotocol line is logged", || {
        !info_lines(&[
            &peer,
            "offered subprotocols",
            "chat",
            "Config::subprotocols",
        ])
        .is_empty()
    });
    // Chosen: no such line.
    drop(c);
    let config = Config::default().subprotocols(vec!["chat".into()]);
    let server = site(config);
    let (c, r) = Client::request(
        server.addr,
        &upgrade_request_with("/ws", "Sec-WebSocket-Protocol: chat\r\n"),
    );
    assert_eq!(r.header("sec-websocket-protocol"), Some("chat"));
    let peer = c.stream.local_addr().unwrap().to_string();
    assert!(info_lines(&[&peer, "offered subprotocols"]).is_empty());
}

#[test]
fn an_answered_handshake_is_never_cut_to_make_room() {
    logs::install();
    // With a cap of one, a newcomer arriving just after the 101 (before the
    // connection's thread has moved on) must get 503, and the connection
    // must live: only handshakes still reading their request are cut.
    let server = TestServer::echo(Config::default().max_connections(1));
    for i in 0..50 {
        let mut open = Client::open(server.addr);
        let (_, r) = Client::request(server.addr, &support::upgrade_request("/"));
        assert_eq!(r.status, 503, "round {}: {}", i, r.head);
        open.send_text("alive");
        assert_eq!(open.read_data().payload, b"alive", "round {}", i);
        open.send_frame(true, 8, &1000u16.to_be_bytes());
        open.expect_close(1000);
        wait_until("the connection is uncounted", || {
            server.handle.connections() == 0
        });
    }
}
