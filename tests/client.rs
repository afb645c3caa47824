//! The client over real sockets: against tinyws's own server, and against a
//! raw-bytes server (`support::raw_server`) that scripts every bad answer.

mod support;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use support::raw_server::{full_listener, RawServer};
use support::{TestServer, TIMEOUT};
use tinyws::{Backoff, Client, CloseCode, Config, Error, Message, ProtocolError, Server, Timeout};

const SHORT: Duration = Duration::from_millis(300);

/// Backoff for tests: short delays, so a retry comes quickly.
fn quick() -> Backoff {
    Backoff::default()
        .first_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(100))
}

fn url(server: &TestServer, path: &str) -> String {
    format!("ws://{}{}", server.addr, path)
}

#[test]
fn text_and_binary_against_tinyws_server() {
    let server = TestServer::echo(Config::default());
    let mut ws = tinyws::connect(&url(&server, "/echo?x=1")).unwrap();
    assert_eq!(ws.role(), tinyws::Role::Client);
    assert_eq!(ws.response().map(|r| r.status()), Some(101));
    ws.send("hello").unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("hello".into()));
    let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
    ws.send(&big[..]).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Binary(big));
    // close() runs the whole close handshake.
    ws.close(CloseCode::NORMAL, "bye").unwrap();
    assert!(matches!(ws.read(), Err(Error::Closed)));
}

#[test]
fn the_request_carries_path_headers_origin_and_subprotocols() {
    let (tx, rx) = mpsc::channel();
    let raw = RawServer::start(1, move |_, mut peer| {
        tx.send(peer.request.clone()).unwrap();
        peer.accept_upgrade("Sec-WebSocket-Protocol: v1\r\n");
        let _ = peer.read_close_code();
    });
    let ws = Client::new(raw.url("/feed?room=1"))
        .header("Authorization", "Bearer abc")
        .origin("http://pi.local")
        .subprotocol("v2")
        .subprotocol("v1")
        .connect()
        .unwrap();
    assert_eq!(ws.subprotocol(), Some("v1"));
    let request = rx.recv_timeout(TIMEOUT).unwrap();
    assert!(
        request.starts_with("GET /feed?room=1 HTTP/1.1\r\n"),
        "{}",
        request
    );
    for line in [
        &format!("Host: {}", raw.addr),
        "Authorization: Bearer abc",
        "Origin: http://pi.local",
        "Sec-WebSocket-Protocol: v2, v1",
        "Sec-WebSocket-Version: 13",
    ] {
        assert!(
            request.contains(&format!("\r\n{}\r\n", line)),
            "{}",
            request
        );
    }
    drop(ws);
    raw.join();
}

#[test]
fn client_frames_are_masked_with_a_fresh_key_each() {
    let (tx, rx) = mpsc::channel();
    let raw = RawServer::start(1, move |_, mut peer| {
        peer.accept_upgrade("");
        let frames: Vec<_> = (0..3).map(|_| peer.read_frame().unwrap()).collect();
        tx.send(frames).unwrap();
        peer.send_frame(8, &1000u16.to_be_bytes(), None);
        let _ = peer.read_close_code();
    });
    let mut ws = tinyws::connect(&raw.url("/")).unwrap();
    for text in ["a", "b", "c"] {
        ws.send(text).unwrap();
    }
    let frames = rx.recv_timeout(TIMEOUT).unwrap();
    let payloads: Vec<&[u8]> = frames.iter().map(|f| &f.payload[..]).collect();
    assert_eq!(payloads, [b"a", b"b", b"c"]);
    let keys: Vec<[u8; 4]> = frames.iter().map(|f| f.mask.expect("masked")).collect();
    assert!(keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2]);
    assert!(matches!(ws.read().unwrap(), Message::Close(_)));
    raw.join();
}

#[test]
fn a_masked_server_frame_fails_the_connection_with_1002() {
    let (tx, rx) = mpsc::channel();
    let raw = RawServer::start(1, move |_, mut peer| {
        peer.accept_upgrade("");
        peer.send_frame(1, b"masked", Some([1, 2, 3, 4]));
        tx.send(peer.read_close_code()).unwrap();
    });
    let mut ws = tinyws::connect(&raw.url("/")).unwrap();
    let err = ws.read().unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ProtocolError::MaskedFrame)),
        "{:?}",
        err
    );
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), Some(1002));
    raw.join();
}

#[test]
fn after_the_close_handshake_the_client_waits_for_the_server_to_close_tcp() {
    let (tx, rx) = mpsc::channel();
    let raw = RawServer::start(1, move |_, mut peer| {
        peer.accept_upgrade("");
        peer.send_frame(8, &1001u16.to_be_bytes(), None);
        // The client echoes the Close and must leave TCP to us: it is
        // still open when we read its echo.
        let code = peer.read_close_code();
        let mut one = [0u8; 1];
        peer.stream.set_read_timeout(Some(SHORT)).unwrap();
        let still_open = matches!(
            std::io::Read::read(&mut peer.stream, &mut one),
            Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock
        );
        tx.send((code, still_open)).unwrap();
    });
    let mut ws = tinyws::connect(&raw.url("/")).unwrap();
    match ws.read().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::GOING_AWAY),
        other => panic!("{:?}", other),
    }
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), (Some(1001), true));
    raw.join();
}

macro_rules! bad_101 {
    ($($name:ident: $head:expr => $err:pat,)*) => {
        $(
            #[test]
            fn $name() {
                let raw = RawServer::start(1, |_, mut peer| {
                    let accept = peer.accept();
                    let head: String = $head.replace("ACCEPT", &accept);
                    peer.send(head.as_bytes());
                    let _ = peer.client_closed_tcp();
                });
                let err = Client::new(raw.url("/"))
                    .subprotocol("chat")
                    .connect()
                    .unwrap_err();
                assert!(matches!(err, Error::Protocol($err)), "{:?}", err);
                assert_eq!(err.close_code(), None);
                raw.join();
            }
        )*
    };
}

bad_101! {
    bad_accept_key: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n" => ProtocolError::BadAccept,
    missing_accept: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        => ProtocolError::BadAccept,
    missing_upgrade: "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Accept: ACCEPT\r\n\r\n" => ProtocolError::MissingUpgrade,
    missing_connection: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Sec-WebSocket-Accept: ACCEPT\r\n\r\n" => ProtocolError::MissingConnectionUpgrade,
    unoffered_subprotocol: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Accept: ACCEPT\r\nSec-WebSocket-Protocol: other\r\n\r\n" => ProtocolError::UnofferedSubprotocol,
    unoffered_extension: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Accept: ACCEPT\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
        => ProtocolError::UnofferedExtension,
    not_http: "SSH-2.0-OpenSSH_9.2\r\n\r\n" => ProtocolError::MalformedResponse,
}

#[test]
fn a_refusal_carries_status_reason_and_retry_after() {
    let raw = RawServer::start(1, |_, mut peer| {
        peer.send(
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 21\r\n\r\n\
              too many connections\n",
        );
    });
    match tinyws::connect(&raw.url("/")).unwrap_err() {
        Error::Refused(r) => {
            assert_eq!(r.status(), 503);
            assert_eq!(r.reason(), "too many connections");
            assert_eq!(r.retry_after(), Some(Duration::from_secs(7)));
        }
        other => panic!("{:?}", other),
    }
    raw.join();
}

#[test]
fn tinyws_servers_own_refusal_is_read() {
    let server = TestServer::echo(Config::default().allowed_origins(vec![]));
    let err = Client::new(url(&server, "/"))
        .origin("http://evil.example")
        .connect()
        .unwrap_err();
    match err {
        Error::Refused(r) => {
            assert_eq!(r.status(), 403);
            assert!(
                r.reason().starts_with("origin not allowed"),
                "{}",
                r.reason()
            );
        }
        other => panic!("{:?}", other),
    }
}

#[test]
fn connect_timeout_against_a_full_accept_queue() {
    let (listener, _held) = full_listener();
    let err = Client::new(format!("ws://{}/", listener.local_addr().unwrap()))
        .connect_timeout(SHORT)
        .connect()
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(Timeout::Connect)), "{:?}", err);
}

#[test]
fn handshake_timeout_against_a_server_that_never_answers() {
    let raw = RawServer::start(1, |_, mut peer| {
        let _ = peer.client_closed_tcp();
    });
    let err = Client::new(raw.url("/"))
        .config(Config::default().handshake_timeout(SHORT))
        .connect()
        .unwrap_err();
    assert!(
        matches!(err, Error::Timeout(Timeout::Handshake)),
        "{:?}",
        err
    );
    raw.join();
}

#[test]
fn bad_urls_and_options_are_refused_before_connecting() {
    for (url, why) in [
        ("http://127.0.0.1:1/", "only ws:// and wss://"),
        ("ws://[::1/", "unclosed"),
        ("ws://h/#x", "fragment"),
    ] {
        let err = tinyws::connect(url).unwrap_err();
        assert!(err.to_string().contains(why), "{}: {}", url, err);
    }
    let err = Client::new("ws://127.0.0.1:1/")
        .header("Sec-WebSocket-Key", "x")
        .connect()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{:?}", err);
    // Without the `tls` feature, wss:// says how to get TLS (tests/tls.rs
    // covers wss:// with it).
    if cfg!(not(feature = "tls")) {
        let err = tinyws::connect("wss://127.0.0.1:1/").unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)), "{:?}", err);
    }
}

#[test]
fn a_4xx_ends_the_run() {
    let raw = RawServer::start(2, |_, mut peer| {
        peer.send(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\nnope!\n");
    });
    let addr = raw.addr;
    let client = Client::new(raw.url("/")).backoff(quick());
    let handle = client.handle();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(client.run(|_| panic!("never connected"))));
    // A run that retried would not end: fail rather than hang.
    let result = rx.recv_timeout(TIMEOUT);
    handle.stop();
    let err = result.expect("the run did not end").unwrap_err();
    assert!(
        matches!(&err, Error::Refused(r) if r.status() == 403),
        "{:?}",
        err
    );
    assert_eq!(raw.accepted(), 1);
    // Release the raw server's second accept.
    drop(std::net::TcpStream::connect(addr));
    raw.join();
}

#[test]
fn a_503_with_retry_after_is_retried_after_at_least_that_long() {
    let (tx, rx) = mpsc::channel();
    let raw = RawServer::start(2, move |i, mut peer| {
        tx.send(peer.at).unwrap();
        if i == 0 {
            peer.send(b"HTTP/1.1 503 Busy\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n");
        } else {
            peer.accept_upgrade("");
            peer.send_frame(1, b"welcome", None);
            let _ = peer.read_close_code();
        }
    });
    let client = Client::new(raw.url("/")).backoff(quick());
    let handle = client.handle();
    let mut got = Vec::new();
    client
        .run(|ws| {
            got.push(ws.read().unwrap());
            handle.stop();
            while ws.read().is_ok() {}
        })
        .unwrap();
    assert_eq!(got, [Message::Text("welcome".into())]);
    let first = rx.recv_timeout(TIMEOUT).unwrap();
    let second = rx.recv_timeout(TIMEOUT).unwrap();
    assert!(
        second - first >= Duration::from_secs(1),
        "{:?}",
        second - first
    );
    raw.join();
}

#[test]
fn reconnects_after_the_server_stops_and_starts_again_on_the_same_port() {
    let server = TestServer::echo(Config::default());
    let addr = server.addr;
    let client = Client::new(format!("ws://{}/", addr))
        .backoff(quick())
        .on_connect(|ws| ws.send("hello"));
    let handle = client.handle();
    let (tx, rx) = mpsc::channel();
    let running = thread::spawn(move || {
        client.run(move |ws| {
            while let Ok(msg) = ws.read() {
                if msg.is_data() {
                    tx.send(msg).unwrap();
                }
            }
        })
    });
    assert_eq!(
        rx.recv_timeout(TIMEOUT).unwrap(),
        Message::Text("hello".into())
    );
    server.stop().unwrap();
    // Same port, new server: the hook's hello arrives again.
    let server = Server::bind(addr, &Config::default()).unwrap();
    let again = TestServer::start(server, support::echo_handler);
    assert_eq!(
        rx.recv_timeout(TIMEOUT).unwrap(),
        Message::Text("hello".into())
    );
    assert!(handle.is_connected());
    handle.send("still here").unwrap();
    assert_eq!(
        rx.recv_timeout(TIMEOUT).unwrap(),
        Message::Text("still here".into())
    );
    handle.stop();
    running.join().unwrap().unwrap();
    drop(again);
}

#[test]
fn stop_ends_a_backoff_wait() {
    let (listener, _held) = full_listener();
    let client = Client::new(format!("ws://{}/", listener.local_addr().unwrap()))
        .connect_timeout(Duration::from_millis(50))
        .backoff(
            Backoff::default()
                .first_delay(Duration::from_secs(3600))
                .max_delay(Duration::from_secs(3600)),
        );
    let handle = client.handle();
    let running = thread::spawn(move || client.run(|_| {}));
    handle.stop();
    // A wait of up to an hour ends at once; `join` would hang otherwise
    // (and the test harness's timeout would catch it).
    running.join().unwrap().unwrap();
}

#[test]
fn messages_sent_while_disconnected_are_queued_oldest_dropped() {
    let server = TestServer::echo(Config::default());
    let client = Client::new(url(&server, "/")).queue(2);
    let handle = client.handle();
    for text in ["one", "two", "three"] {
        handle.send(text).unwrap();
    }
    assert_eq!(handle.queued(), 2);
    let mut got = Vec::new();
    let stopper = handle.clone();
    client
        .run(|ws| {
            while let Ok(msg) = ws.read() {
                if let Message::Text(t) = msg {
                    got.push(t);
                    if got.len() == 2 {
                        stopper.stop();
                    }
                }
            }
        })
        .unwrap();
    assert_eq!(got, ["two", "three"]);
    assert_eq!(handle.queued(), 0);
    assert!(matches!(handle.send("late"), Err(Error::Closed)));
}

#[test]
fn with_no_queue_sending_while_disconnected_is_an_error() {
    let client = Client::new("ws://127.0.0.1:1/").queue(0);
    let handle = client.handle();
    assert!(matches!(handle.send("x"), Err(Error::Closed)));
    assert_eq!(handle.queued(), 0);
}

#[test]
fn finish_sends_the_queue_then_closes() {
    let server = TestServer::echo(Config::default());
    let client = Client::new(url(&server, "/?token=secret"));
    let handle = client.handle();
    handle.send("a").unwrap();
    handle.send(&[1u8, 2, 3][..]).unwrap();
    handle.finish();
    assert!(matches!(handle.send("late"), Err(Error::Closed)));
    assert!(!format!("{:?}", client).contains("secret"));
    let mut got = Vec::new();
    client
        .run(|ws| {
            while let Ok(msg) = ws.read() {
                got.push(msg);
            }
        })
        .unwrap();
    assert_eq!(
        got[..2],
        [Message::Text("a".into()), Message::Binary(vec![1, 2, 3])]
    );
    assert!(matches!(got[2], Message::Close(_)), "{:?}", got);
}

#[test]
fn keepalive_pings_go_out_masked_from_the_client() {
    let (tx, rx) = mpsc::channel();
    let raw = RawServer::start(1, move |_, mut peer| {
        peer.accept_upgrade("");
        tx.send(peer.read_frame()).unwrap();
        peer.send_frame(8, &1000u16.to_be_bytes(), None);
        let _ = peer.read_close_code();
    });
    let mut ws = Client::new(raw.url("/"))
        .config(Config::default().ping_interval(Some(Duration::from_millis(50))))
        .connect()
        .unwrap();
    // Idle: the next read sends a keepalive Ping, then gets the Close.
    assert!(matches!(ws.read().unwrap(), Message::Close(_)));
    let ping = rx.recv_timeout(TIMEOUT).unwrap().expect("a frame");
    assert_eq!(ping.opcode, 9);
    assert!(ping.mask.is_some());
    raw.join();
}

#[test]
fn handles_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<tinyws::ClientHandle>();
    send::<Client>();
    send_sync::<tinyws::Backoff>();
    send_sync::<tinyws::Refusal>();
    send_sync::<tinyws::Response>();
}

/// A peer that is not an HTTP server (an SSH banner, then it waits for the
/// other side) is refused at once as a malformed answer, not after the
/// whole handshake timeout.
#[test]
fn a_banner_that_is_not_http_is_malformed_not_a_timeout() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n").unwrap();
        let mut buf = [0u8; 1024];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    });
    let config = Config::default().handshake_timeout(TIMEOUT);
    let err = Client::new(format!("ws://{}/", addr))
        .config(config)
        .connect()
        .expect_err("not a WebSocket server");
    assert!(
        matches!(err, Error::Protocol(_)),
        "want a malformed answer, got: {} ({:?})",
        err,
        err
    );
    peer.join().unwrap();
}
