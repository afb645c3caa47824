//! The Origin policy and limits, passed through to the library.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{Client, Tinyws, TIMEOUT};

/// The status line of an upgrade request sent with these extra headers.
fn upgrade_status(server: &Tinyws, extra: &str) -> String {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    // A 503 is answered at accept, without waiting for the request, so the
    // request may meet a closed socket; the answer is already on its way.
    let _ = write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{}\r\n",
        server.addr, extra
    );
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    String::from_utf8_lossy(&head[9..12]).into_owned()
}

#[test]
fn same_origin_by_default_and_origin_adds_more() {
    let strict = Tinyws::start(&["echo", "--addr", "127.0.0.1:0"]);
    assert_eq!(
        upgrade_status(&strict, "Origin: http://evil.example\r\n"),
        "403"
    );
    assert_eq!(upgrade_status(&strict, ""), "101");

    let listed = Tinyws::start(&[
        "echo",
        "--addr",
        "127.0.0.1:0",
        "--origin",
        "http://dash.example:3000",
    ]);
    assert_eq!(
        upgrade_status(&listed, "Origin: http://dash.example:3000\r\n"),
        "101"
    );
    assert_eq!(
        upgrade_status(&listed, "Origin: http://evil.example\r\n"),
        "403"
    );

    let any = Tinyws::start(&["echo", "--addr", "127.0.0.1:0", "--any-origin"]);
    assert_eq!(
        upgrade_status(&any, "Origin: http://evil.example\r\n"),
        "101"
    );
}

#[test]
fn max_message_and_max_conns() {
    let server = Tinyws::start(&[
        "echo",
        "--addr",
        "127.0.0.1:0",
        "--max-message",
        "1k",
        "--max-conns",
        "1",
    ]);
    let mut client = Client::connect(server.addr, "/", &[]);
    // A second connection is over the limit.
    assert_eq!(upgrade_status(&server, ""), "503");
    client.send_text(&"x".repeat(1024));
    assert_eq!(client.read_text().len(), 1024);
    client.send_text(&"x".repeat(1025));
    assert_eq!(client.read_close(), Some(1009));
}

#[test]
fn help_has_examples_and_the_buffering_advice() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tinyws"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "EXAMPLES",
        "stdbuf -oL",
        "python3 -u",
        "--replay",
        "0.0.0.0:8080",
        "127.0.0.1",
        "U+FFFD",
    ] {
        assert!(help.contains(needle), "--help lacks {:?}", needle);
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tinyws"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        concat!("tinyws ", env!("CARGO_PKG_VERSION"))
    );
    // A mistake is a usage error (status 2) with a pointer to --help.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tinyws"))
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--help"));
}

/// Runs `tinyws ARGS`, which must fail to start, and returns its stderr.
fn start_failure(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tinyws"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", out);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn start_up_failures_keep_the_os_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = start_failure(&["echo", "--addr", &addr]);
    assert!(
        err.contains(&format!("cannot listen on {}: ", addr))
            && err.to_lowercase().contains("address already in use"),
        "{}",
        err
    );
    // 192.0.2.1 (TEST-NET-1) is no address of this machine.
    let err = start_failure(&["echo", "--addr", "192.0.2.1:8080"]);
    assert!(
        err.to_lowercase()
            .contains("cannot assign requested address"),
        "{}",
        err
    );
    let err = start_failure(&["echo", "--addr", "no-port-here"]);
    assert!(err.contains("invalid socket address"), "{}", err);
    assert!(!err.contains("i/o error"), "{}", err);
}

/// The 101's head for an upgrade request with these extra header lines.
fn upgrade_head(server: &Tinyws, extra: &str) -> String {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{}\r\n",
        server.addr, extra
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[test]
fn subprotocol_is_chosen_from_the_clients_offer() {
    let server = Tinyws::start(&[
        "echo",
        "--addr",
        "127.0.0.1:0",
        "--subprotocol",
        "chat",
        "--subprotocol",
        "v2.json",
    ]);
    let head = upgrade_head(&server, "Sec-WebSocket-Protocol: mqtt, v2.json, chat\r\n");
    assert!(head.starts_with("HTTP/1.1 101"), "{}", head);
    assert!(
        head.contains("\r\nSec-WebSocket-Protocol: v2.json\r\n"),
        "{}",
        head
    );
    // Offered nothing it speaks: upgraded without one (the browser then fails
    // the connection, as the README explains).
    let head = upgrade_head(&server, "Sec-WebSocket-Protocol: mqtt\r\n");
    assert!(head.starts_with("HTTP/1.1 101"), "{}", head);
    assert!(!head.contains("Sec-WebSocket-Protocol"), "{}", head);
}

#[test]
fn origin_values_are_normalised_and_checked_at_start_up() {
    // A page at http://dash.example:80/ sends "Origin: http://dash.example".
    let server = Tinyws::start(&[
        "echo",
        "--addr",
        "127.0.0.1:0",
        "--origin",
        "HTTP://Dash.Example:80",
        "--origin",
        "https://secure.example:443",
    ]);
    for (origin, status) in [
        ("http://dash.example", "101"),
        ("https://secure.example", "101"),
        ("http://dash.example:8080", "403"),
        ("https://dash.example", "403"),
    ] {
        let header = format!("Origin: {}\r\n", origin);
        assert_eq!(upgrade_status(&server, &header), status, "{}", origin);
    }
    for (value, complaint) in [
        ("dash.example:3000", "scheme"),
        ("http://dash.example:3000/", "without a path"),
        ("http://dash.example/app", "without a path"),
        ("http://dash.example:http", "port"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tinyws"))
            .args(["echo", "--addr", "127.0.0.1:0", "--origin", value])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {}", value, err);
        assert!(err.contains(complaint), "{}: {}", value, err);
    }
}
