//! The opening handshake (issue 2, section 2): trickled and pipelined
//! requests, case-insensitive matching, and the exact HTTP answer for each
//! kind of refusal.

mod support;

use std::net::TcpListener;
use std::time::Duration;

use support::{
    frame, upgrade_request, upgrade_request_with, Client, HttpResponse, TestServer, ACCEPT,
};
use tinyws::{Config, Error, Message};

/// Sends `request`, reads the refusal, and checks what every refusal must
/// have: a one-line plain-text reason as the body, then the socket closes.
fn refused(request: &str) -> HttpResponse {
    let server = TestServer::echo(Config::default());
    let (mut c, r) = Client::request(server.addr, request);
    assert_ne!(r.status, 101, "{}", r.head);
    assert!(
        r.header("content-type")
            .map_or(false, |t| t.starts_with("text/plain")),
        "{}",
        r.head
    );
    let body = r.body_text();
    assert!(
        body.ends_with('\n') && body.trim_end().lines().count() == 1 && body.len() > 1,
        "not a one-line reason: {:?}",
        body
    );
    assert!(c.read_to_end().is_empty(), "bytes after the refusal");
    r
}

/// The standard request with one header line replaced (or removed, with an
/// empty `to`).
fn replace(from: &str, to: &str) -> String {
    let req = upgrade_request("/");
    assert!(req.contains(from), "{} not in the request", from);
    req.replace(from, to)
}

#[test]
fn good_request_gets_101_with_the_accept_key() {
    let server = TestServer::echo(Config::default());
    let (_c, r) = Client::request(server.addr, &upgrade_request("/chat"));
    assert_eq!(r.status, 101);
    assert_eq!(r.header("sec-websocket-accept"), Some(ACCEPT));
    assert!(r
        .header("upgrade")
        .unwrap()
        .eq_ignore_ascii_case("websocket"));
    assert!(r
        .header("connection")
        .unwrap()
        .eq_ignore_ascii_case("upgrade"));
    assert_eq!(r.header("sec-websocket-protocol"), None);
}

#[test]
fn request_arriving_one_byte_at_a_time() {
    let server = TestServer::echo(Config::default());
    let mut c = Client::connect(server.addr);
    let mut bytes = upgrade_request("/").into_bytes();
    bytes.extend(frame(true, 1, b"trickled"));
    for b in &bytes {
        c.send(std::slice::from_ref(b));
        // Trickling is the point: give each byte its own read.
        std::thread::sleep(Duration::from_millis(1));
    }
    let r = c.read_response();
    assert_eq!(r.status, 101, "{}", r.head);
    assert_eq!(r.header("sec-websocket-accept"), Some(ACCEPT));
    assert_eq!(c.read_frame().payload, b"trickled");
}

#[test]
fn pipelined_first_frames_are_not_lost() {
    let server = TestServer::echo(Config::default());
    let mut c = Client::connect(server.addr);
    let mut bytes = upgrade_request("/").into_bytes();
    bytes.extend(frame(true, 1, b"first"));
    bytes.extend(frame(true, 2, &[7u8; 300]));
    bytes.extend(frame(true, 8, &1000u16.to_be_bytes()));
    c.send(&bytes);
    assert_eq!(c.read_response().status, 101);
    let f = c.read_frame();
    assert_eq!((f.opcode, f.payload.as_slice()), (1, &b"first"[..]));
    let f = c.read_frame();
    assert_eq!((f.opcode, f.payload), (2, vec![7u8; 300]));
    c.expect_close(1000);
}

/// The 101 is written in the room of the buffer that holds the pipelined
/// bytes: only they may reach the connection, never the answer after them.
#[test]
fn a_pipelined_frame_is_followed_by_what_comes_next() {
    let server = TestServer::echo(Config::default());
    let mut c = Client::connect(server.addr);
    let mut bytes = upgrade_request("/").into_bytes();
    bytes.extend(frame(true, 1, b"first"));
    c.send(&bytes);
    assert_eq!(c.read_response().status, 101);
    let f = c.read_frame();
    assert_eq!((f.opcode, f.payload.as_slice()), (1, &b"first"[..]));
    c.send(&frame(true, 1, b"second"));
    let f = c.read_frame();
    assert_eq!((f.opcode, f.payload.as_slice()), (1, &b"second"[..]));
    c.send(&frame(true, 8, &1000u16.to_be_bytes()));
    c.expect_close(1000);
}

#[test]
fn header_names_and_tokens_are_case_insensitive() {
    let server = TestServer::echo(Config::default());
    let request = format!(
        "GET / HTTP/1.1\r\nhOsT: localhost\r\nUPGRADE: WebSocket\r\n\
         connection: keep-alive, UPGRADE\r\nSEC-WEBSOCKET-KEY: {}\r\n\
         sec-websocket-version: 13\r\n\r\n",
        support::KEY
    );
    let (mut c, r) = Client::request(server.addr, &request);
    assert_eq!(r.status, 101, "{}", r.head);
    assert_eq!(r.header("sec-websocket-accept"), Some(ACCEPT));
    c.send_text("works");
    assert_eq!(c.read_frame().payload, b"works");
}

#[test]
fn tokens_are_found_in_lists_and_across_repeated_lines() {
    let server = TestServer::echo(Config::default());
    let request = replace(
        "Connection: Upgrade\r\n",
        "Connection: keep-alive\r\nConnection: foo, Upgrade\r\n",
    )
    .replace("Upgrade: websocket", "Upgrade: h2c, websocket");
    let (_c, r) = Client::request(server.addr, &request);
    assert_eq!(r.status, 101, "{}", r.head);
}

#[test]
fn malformed_request_gets_400() {
    for request in [
        "HELLO\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: localhost\r\nno colon here\r\n\r\n",
        "GET / HTTX/1.1\r\nHost: localhost\r\n\r\n",
    ] {
        assert_eq!(refused(request).status, 400, "{:?}", request);
    }
}

#[test]
fn missing_or_bad_key_gets_400() {
    let key = format!("Sec-WebSocket-Key: {}\r\n", support::KEY);
    for bad in [
        "",
        "Sec-WebSocket-Key: \r\n",
        "Sec-WebSocket-Key: not base64!!!!!!!!!!!!!\r\n",
        // Base64 of 15 and of 17 bytes.
        "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n",
        "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\n",
    ] {
        let r = refused(&replace(&key, bad));
        assert_eq!(r.status, 400, "{:?}: {}", bad, r.head);
    }
}

#[test]
fn other_upgrade_faults_get_400() {
    for (from, to) in [
        ("Host: localhost\r\n", ""),
        ("Connection: Upgrade\r\n", "Connection: keep-alive\r\n"),
        ("HTTP/1.1", "HTTP/1.0"),
    ] {
        let r = refused(&replace(from, to));
        assert_eq!(r.status, 400, "{:?}: {}", to, r.head);
    }
}

#[test]
fn other_methods_get_405_with_allow_get() {
    for method in ["POST", "PUT"] {
        let r = refused(&replace("GET ", &format!("{} ", method)));
        assert_eq!(r.status, 405, "{}", r.head);
        assert_eq!(r.header("allow"), Some("GET"));
    }
    // HEAD gets the same headers and no body.
    let server = TestServer::echo(Config::default());
    let mut c = Client::connect(server.addr);
    c.send(replace("GET ", "HEAD ").as_bytes());
    let answer = String::from_utf8(c.read_to_end()).unwrap();
    assert!(answer.starts_with("HTTP/1.1 405 "), "{}", answer);
    assert!(answer.contains("\r\nAllow: GET\r\n"), "{}", answer);
    assert!(
        answer.ends_with("\r\n\r\n"),
        "a body after HEAD: {}",
        answer
    );
}

#[test]
fn missing_or_wrong_version_gets_426_naming_13() {
    for to in [
        "",
        "Sec-WebSocket-Version: 8\r\n",
        "Sec-WebSocket-Version: 14\r\n",
    ] {
        let r = refused(&replace("Sec-WebSocket-Version: 13\r\n", to));
        assert_eq!(r.status, 426, "{:?}: {}", to, r.head);
        assert_eq!(r.header("sec-websocket-version"), Some("13"));
    }
}

#[test]
fn head_larger_than_the_buffer_gets_431() {
    // Exactly the 8 KiB buffer, with no end of head in sight.
    let mut request = String::from("GET / HTTP/1.1\r\nHost: localhost\r\nX-Pad: ");
    request.push_str(&"a".repeat(8 * 1024 - request.len()));
    let r = refused(&request);
    assert_eq!(r.status, 431, "{}", r.head);
}

#[test]
fn too_many_headers_gets_431() {
    let extra: String = (0..64).map(|i| format!("X-H{}: v\r\n", i)).collect();
    let r = refused(&upgrade_request_with("/", &extra));
    assert_eq!(r.status, 431, "{}", r.head);
}

#[test]
fn sixty_four_headers_fit() {
    // The six of the upgrade plus 58 more is exactly the limit.
    let extra: String = (0..58).map(|i| format!("X-H{}: v\r\n", i)).collect();
    let server = TestServer::echo(Config::default());
    let (_c, r) = Client::request(server.addr, &upgrade_request_with("/", &extra));
    assert_eq!(r.status, 101, "{}", r.head);
}

#[test]
fn plain_get_gets_426_saying_this_is_a_websocket_endpoint() {
    let r = refused("GET / HTTP/1.1\r\nHost: localhost\r\nAccept: text/html\r\n\r\n");
    assert_eq!(r.status, 426, "{}", r.head);
    assert!(
        r.body_text()
            .to_ascii_lowercase()
            .contains("websocket endpoint"),
        "{:?}",
        r.body_text()
    );
    assert_eq!(r.header("sec-websocket-version"), Some("13"));
}

/// `accept` on a listener the user runs: the same rules, and pipelined
/// bytes are kept.
#[test]
fn accept_on_your_own_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = support::report();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (stream, _) = listener.accept().unwrap();
            match tinyws::accept(stream, &Config::default()) {
                Ok(mut ws) => {
                    let msg = ws.read().unwrap();
                    ws.send(msg).unwrap();
                    tx.send(format!("{:?}", ws.read().unwrap()));
                }
                Err(Error::Handshake(h)) => tx.send(format!("refused {}", h.status())),
                Err(e) => tx.send(format!("error {}", e)),
            }
        }
    });

    let mut bytes = upgrade_request("/").into_bytes();
    bytes.extend(frame(true, 1, b"mine"));
    let mut c = Client::connect(addr);
    c.send(&bytes);
    assert_eq!(c.read_response().status, 101);
    assert_eq!(c.read_frame().payload, b"mine");
    c.send_frame(true, 8, &1000u16.to_be_bytes());
    assert_eq!(c.read_close().close_code(), Some(1000));
    let expected = format!(
        "{:?}",
        Message::Close(Some(tinyws::CloseFrame {
            code: tinyws::CloseCode::NORMAL,
            reason: String::new()
        }))
    );
    assert_eq!(support::recv(&rx), expected);

    let (c, r) = Client::request(
        addr,
        &replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 7"),
    );
    assert_eq!(r.status, 426);
    drop(c);
    assert_eq!(support::recv(&rx), "refused 426");
    server.join().unwrap();
}

/// Pipelined frames that fill the head buffer to
/// its end, and go on past it, so that the 101 must grow that buffer: all
/// come back, in order.
#[test]
fn pipelined_frames_past_the_head_buffer_come_back_in_order() {
    let server = TestServer::echo(Config::default());
    let mut c = Client::connect(server.addr);
    let mut bytes = upgrade_request("/").into_bytes();
    let sent: Vec<Vec<u8>> = (0..12u8).map(|i| vec![b'a' + i; 997]).collect();
    for p in &sent {
        bytes.extend(frame(true, 2, p));
    }
    c.send(&bytes);
    assert_eq!(c.read_response().status, 101);
    for p in &sent {
        let f = c.read_frame();
        assert_eq!((f.opcode, &f.payload), (2, p));
    }
    c.send(&frame(true, 8, &1000u16.to_be_bytes()));
    c.expect_close(1000);
}
