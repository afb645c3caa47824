//! The public API settled for 0.1 (issue 12), over real sockets: the client
//! role, `read_timeout`, `into_inner`, hook headers the library owns, and
//! sends that copy nothing.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use support::{frame, upgrade_request_with, Client, TestServer};
use tinyws::{Action, CloseCode, Config, Error, Message, Role, Server, Upgrade, WebSocket};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A raw TCP client that has done the handshake by hand, handed to
/// `from_raw` in the client role.
fn client_over(addr: std::net::SocketAddr, config: &Config) -> WebSocket<TcpStream> {
    let c = Client::open(addr);
    c.stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    WebSocket::from_raw(c.stream, Role::Client, config).unwrap()
}

/// A client-role connection masks what it sends (the server would fail it
/// with 1002 otherwise), reads the server's unmasked frames, and after the
/// close handshake waits for the server to close TCP first.
#[test]
fn client_role_talks_to_the_server() {
    let server = TestServer::echo(Config::default());
    let mut ws = client_over(server.addr, &Config::default());
    assert_eq!(ws.role(), Role::Client);
    ws.send("hello").unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("hello".into()));
    ws.send(&[1u8, 2, 3][..]).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Binary(vec![1, 2, 3]));
    ws.ping(b"p").unwrap();
    assert_eq!(ws.read().unwrap(), Message::Pong(b"p".to_vec()));
    ws.close(CloseCode::NORMAL, "bye").unwrap();
    assert!(ws.is_closed());
    assert!(matches!(ws.read(), Err(Error::Closed)));
}

/// A server that masks its frames gets 1002 from a client.
#[test]
fn client_role_refuses_masked_frames() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        // A masked frame, as only clients may send.
        s.write_all(&frame(true, 1, b"hi")).unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        got
    });
    let stream = TcpStream::connect(addr).unwrap();
    let mut ws = WebSocket::from_raw(stream, Role::Client, &Config::default()).unwrap();
    let err = ws.read().unwrap_err();
    assert!(matches!(
        err,
        Error::Protocol(tinyws::ProtocolError::MaskedFrame)
    ));
    drop(ws);
    let got = peer.join().unwrap();
    // A masked Close 1002 from the client: 0x88, mask bit and length, a key,
    // then the masked code.
    assert_eq!(got[0], 0x88);
    assert_eq!(got[1] & 0x80, 0x80, "client frames are masked");
    let key = [got[2], got[3], got[4], got[5]];
    let code = u16::from_be_bytes([got[6] ^ key[0], got[7] ^ key[1]]);
    assert_eq!(code, 1002);
}

/// `read_timeout` returns `None` while nothing complete has arrived, keeps
/// a partial frame across calls, and keeps keepalive running.
#[test]
fn read_timeout_keeps_partial_frames_and_keepalive() {
    let config = Config::default().ping_interval(Some(Duration::from_millis(300)));
    let (tx, rx) = support::report();
    let server = Server::bind("127.0.0.1:0", &config).unwrap();
    let server = TestServer::start(server, move |mut ws| {
        let mut nones = 0;
        loop {
            match ws.read_timeout(Duration::from_millis(20)) {
                Ok(None) => nones += 1,
                Ok(Some(Message::Pong(_))) => {}
                Ok(Some(m)) => {
                    tx.send((nones, m));
                    return;
                }
                Err(e) => panic!("{}", e),
            }
        }
    });
    let mut c = Client::open(server.addr);
    let whole = frame(true, 1, b"split across calls");
    c.send(&whole[..5]);
    // Many short waits go by; the keepalive Ping still comes on time. (It
    // is not answered: a Pong cannot go inside the unfinished frame.)
    let ping = c.read_frame();
    assert_eq!(ping.opcode, 9);
    c.send(&whole[5..]);
    let (nones, m) = support::recv(&rx);
    assert_eq!(m, Message::Text("split across calls".into()));
    assert!(nones >= 5, "only {} empty waits", nones);
}

/// `into_inner` hands back the stream, with nothing sent, unless the stream
/// is shared with Senders.
#[test]
fn into_inner_gives_back_the_stream() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut ws = tinyws::accept(s, &Config::default()).unwrap();
        assert_eq!(ws.read().unwrap(), Message::Text("first".into()));
        let mut raw = ws.into_inner().unwrap();
        raw.write_all(b"raw bytes").unwrap();
    });
    let mut c = Client::open(addr);
    c.send_frame(true, 1, b"first");
    // No Close came first: the very next bytes are the raw ones.
    let mut buf = [0u8; 9];
    c.stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"raw bytes");
    server.join().unwrap();

    // Shared with a Sender: the connection comes back unchanged.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut ws = tinyws::accept(s, &Config::default()).unwrap();
        let _sender = ws.sender().unwrap();
        let mut ws = match ws.into_inner() {
            Ok(_) => panic!("a shared stream was handed out"),
            Err(ws) => ws,
        };
        ws.send("still open").unwrap();
    });
    let mut c = Client::open(addr);
    assert_eq!(c.read_data().payload, b"still open");
    server.join().unwrap();
}

/// A hook cannot add the headers the library owns: a browser that saw
/// `Sec-WebSocket-Extensions` would expect compressed frames.
#[test]
fn hook_cannot_add_library_headers() {
    let server = Server::bind("127.0.0.1:0", &Config::default())
        .unwrap()
        .on_request(|_| {
            Action::Upgrade(
                Upgrade::new()
                    .header("Sec-WebSocket-Extensions", "permessage-deflate")
                    .header("X-Device", "pi"),
            )
        });
    let server = TestServer::start(server, support::echo_handler);
    let request = upgrade_request_with("/", "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    let (mut c, r) = Client::request(server.addr, &request);
    assert_eq!(r.status, 101, "{}", r.head);
    assert_eq!(r.header("sec-websocket-extensions"), None, "{}", r.head);
    assert_eq!(r.header("x-device"), Some("pi"));
    // Uncompressed frames still work.
    c.send_text("plain");
    assert_eq!(c.read_data().payload, b"plain");
}

/// Bad arguments are their own error and leave the connection open.
#[test]
fn bad_arguments_are_invalid_input() {
    let (tx, rx) = support::report();
    let server = Server::bind("127.0.0.1:0", &Config::default()).unwrap();
    let server = TestServer::start(server, move |mut ws| {
        let ping = ws.ping(&[0; 126]);
        let close = ws.close(CloseCode::NORMAL, &"x".repeat(124));
        let sent = ws.send("after");
        tx.send((
            matches!(ping, Err(Error::InvalidInput(_))),
            matches!(close, Err(Error::InvalidInput(_))),
            sent.is_ok(),
        ));
    });
    let mut c = Client::open(server.addr);
    assert_eq!(support::recv(&rx), (true, true, true));
    assert_eq!(c.read_data().payload, b"after");
}

/// A Close sent from another thread while `read` is blocked starts the close
/// deadline at the reader's next wake-up: the silent peer is dropped for not
/// answering the Close, not kept until the ping timeout.
#[test]
fn a_close_from_another_thread_while_reading_starts_the_close_deadline() {
    let config = Config::default()
        .ping_interval(Some(Duration::from_millis(200)))
        .ping_timeout(Duration::from_secs(20))
        .close_timeout(Duration::from_millis(200));
    let (tx, rx) = support::report();
    let server = Server::bind("127.0.0.1:0", &config).unwrap();
    let server = TestServer::start(server, move |mut ws| {
        let sender = ws.sender().unwrap();
        let closer = std::thread::spawn(move || {
            // Let the read below block first.
            std::thread::sleep(Duration::from_millis(100));
            sender.close(CloseCode::NORMAL, "bye").unwrap();
        });
        let result = ws.read();
        closer.join().unwrap();
        tx.send(format!("{:?}", result));
    });
    // A peer that reads but never answers.
    let mut c = Client::open(server.addr);
    assert_eq!(c.read_close().close_code(), Some(1000));
    let result = support::recv(&rx);
    assert!(result.contains("Timeout(Close)"), "{}", result);
}

/// Keepalive counts the time between `read_timeout` calls too: an
/// application that polls briefly and works in between still pings a
/// silent peer and drops it when the Pong never comes.
#[test]
fn keepalive_runs_between_read_timeout_calls() {
    let config = Config::default()
        .ping_interval(Some(Duration::from_millis(200)))
        .ping_timeout(Duration::from_millis(400));
    let (tx, rx) = support::report();
    let server = Server::bind("127.0.0.1:0", &config).unwrap();
    let server = TestServer::start(server, move |mut ws| {
        let start = std::time::Instant::now();
        let result = loop {
            match ws.read_timeout(Duration::from_millis(10)) {
                Ok(None) => {}
                other => break format!("{:?}", other.map(|_| ())),
            }
            // Counting only the 10 ms waits, the Ping would come after
            // 1 s and the timeout after 3 s; counting the time between
            // calls, after 0.2 s and 0.6 s.
            if start.elapsed() > Duration::from_secs(2) {
                break "still open".to_owned();
            }
            // The application's own work between polls.
            std::thread::sleep(Duration::from_millis(40));
        };
        tx.send(result);
    });
    let mut c = Client::open(server.addr);
    assert_eq!(c.read_frame().opcode, 9, "a keepalive Ping");
    let result = support::recv(&rx);
    assert!(result.contains("Timeout(Ping)"), "{}", result);
}
