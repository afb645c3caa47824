//! The server for real deployments (issue 3, item 10): the handshake hook,
//! the Origin policy, subprotocols, the connection cap, size limits,
//! handshake and write timeouts, graceful shutdown, panic isolation and
//! the open-connection count.

mod support;

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::{
    frame, frame_header, report, upgrade_request, upgrade_request_with, wait_until, Client,
    TestServer,
};
use tinyws::{Config, Error, Message, Reply, Server, Timeout, Upgrade, WebSocket};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A handler that first sends what it knows about its request, then echoes.
fn describe_then_echo(mut ws: WebSocket) {
    let about = {
        let req = ws
            .request()
            .expect("server connections carry their request");
        format!(
            "path={} query={:?} token={:?} peer={:?} proto={:?}",
            req.path(),
            req.query(),
            req.header("x-token"),
            req.peer_addr(),
            ws.subprotocol()
        )
    };
    if ws.send(about).is_ok() {
        support::echo_handler(ws);
    }
}

fn text(f: support::Frame) -> String {
    assert_eq!(f.opcode, 1, "{:?}", f);
    String::from_utf8(f.payload).unwrap()
}

// ---- 1. The handshake hook ----

fn hook_server(seen: support::Reporter<String>) -> TestServer {
    let server = Server::bind("127.0.0.1:0", &Config::default())
        .unwrap()
        .on_request(move |req| {
            seen.send(format!(
                "{} {} {:?} {:?} {}",
                req.method(),
                req.path(),
                req.query(),
                req.header("X-TOKEN"),
                req.peer_addr().map_or(false, |a| a.ip().is_loopback())
            ));
            if !req.is_upgrade() {
                if req.path() == "/upgrade-anyway" {
                    return Upgrade::new().into();
                }
                return Reply::html("<h1>dashboard</h1>").into();
            }
            match req.query() {
                Some("token=secret") => Upgrade::new().header("X-Hello", "world").into(),
                Some("token=proto") => Upgrade::new().subprotocol("b").into(),
                Some("token=unoffered") => Upgrade::new().subprotocol("zzz").into(),
                Some("token=inject") => Upgrade::new()
                    .header("X-Evil", "a\r\nSet-Cookie: stolen=1")
                    .header("X-Fine", "yes")
                    .into(),
                _ => Reply::text(401, "token required").into(),
            }
        });
    TestServer::start(server, describe_then_echo)
}

#[test]
fn hook_accepts_and_the_handler_reads_the_request() {
    let (tx, seen) = report();
    let server = hook_server(tx);
    let request = upgrade_request_with("/feed?token=secret", "X-Token: abc\r\n");
    let (mut c, r) = Client::request(server.addr, &request);
    assert_eq!(r.status, 101, "{}", r.head);
    assert_eq!(r.header("x-hello"), Some("world"));
    assert_eq!(
        support::recv(&seen),
        "GET /feed Some(\"token=secret\") Some(\"abc\") true"
    );
    let me = c.stream.local_addr().unwrap();
    assert_eq!(
        text(c.read_frame()),
        format!(
            "path=/feed query=Some(\"token=secret\") token=Some(\"abc\") peer=Some({:?}) proto=None",
            me
        )
    );
    c.send_text("echo");
    assert_eq!(c.read_frame().payload, b"echo");
}

#[test]
fn hook_accepts_with_a_subprotocol() {
    let (tx, _seen) = report();
    let server = hook_server(tx);
    let request = upgrade_request_with("/?token=proto", "Sec-WebSocket-Protocol: a, b\r\n");
    let (mut c, r) = Client::request(server.addr, &request);
    assert_eq!(r.status, 101, "{}", r.head);
    assert_eq!(r.header("sec-websocket-protocol"), Some("b"));
    assert!(text(c.read_frame()).ends_with("proto=Some(\"b\")"));
}

#[test]
fn hook_choosing_a_subprotocol_not_offered_is_refused() {
    let (tx, _seen) = report();
    let server = hook_server(tx);
    let request = upgrade_request_with("/?token=unoffered", "Sec-WebSocket-Protocol: a\r\n");
    let (mut c, r) = Client::request(server.addr, &request);
    assert_eq!(r.status, 500, "{}", r.head);
    assert!(c.read_to_end().is_empty());
}

#[test]
fn hook_rejects_with_status_and_body() {
    let (tx, seen) = report();
    let server = hook_server(tx);
    let (mut c, r) = Client::request(server.addr, &upgrade_request("/feed"));
    assert_eq!(r.status, 401, "{}", r.head);
    assert_eq!(r.body_text(), "token required");
    assert!(c.read_to_end().is_empty(), "the handler must not run");
    assert_eq!(support::recv(&seen), "GET /feed None None true");
}

#[test]
fn hook_answers_a_plain_request_with_a_page() {
    let (tx, seen) = report();
    let server = hook_server(tx);
    let (mut c, r) = Client::request(
        server.addr,
        "GET /index.html?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(r.body_text(), "<h1>dashboard</h1>");
    assert!(c.read_to_end().is_empty());
    assert_eq!(
        support::recv(&seen),
        "GET /index.html Some(\"x=1\") None true"
    );
}

#[test]
fn hook_upgrading_a_plain_request_gets_426() {
    let (tx, _seen) = report();
    let server = hook_server(tx);
    let (mut c, r) = Client::request(
        server.addr,
        "GET /upgrade-anyway HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(r.status, 426, "{}", r.head);
    assert!(c.read_to_end().is_empty());
}

#[test]
fn hook_headers_cannot_inject_lines() {
    let (tx, _seen) = report();
    let server = hook_server(tx);
    let (_c, r) = Client::request(server.addr, &upgrade_request("/?token=inject"));
    assert_eq!(r.status, 101, "{}", r.head);
    assert_eq!(r.header("x-fine"), Some("yes"));
    assert_eq!(r.header("set-cookie"), None, "{}", r.head);
    assert_eq!(r.header("x-evil"), None, "{}", r.head);
}

// ---- 2. The Origin policy ----

fn origin_status(config: Config, host: &str, origin: Option<&str>) -> u16 {
    let server = TestServer::echo(config);
    let host = host.replace("PORT", &server.addr.port().to_string());
    let mut request = upgrade_request("/").replace("Host: localhost", &format!("Host: {}", host));
    if let Some(o) = origin {
        let o = o.replace("PORT", &server.addr.port().to_string());
        request = request.replace("\r\n\r\n", &format!("\r\nOrigin: {}\r\n\r\n", o));
    }
    let (mut c, r) = Client::request(server.addr, &request);
    if r.status != 101 {
        assert!(c.read_to_end().is_empty());
    }
    r.status
}

#[test]
fn request_without_origin_is_accepted() {
    assert_eq!(origin_status(Config::default(), "localhost", None), 101);
}

#[test]
fn same_origin_is_accepted() {
    let d = Config::default;
    assert_eq!(
        origin_status(d(), "localhost", Some("http://localhost")),
        101
    );
    assert_eq!(
        origin_status(d(), "127.0.0.1:PORT", Some("http://127.0.0.1:PORT")),
        101
    );
    assert_eq!(
        origin_status(d(), "localhost:80", Some("http://localhost")),
        101
    );
}

#[test]
fn other_origins_get_403() {
    let d = Config::default;
    for origin in [
        "http://evil.example",
        "http://localhost:8080",
        "http://localhost.evil.example",
        "null",
    ] {
        assert_eq!(
            origin_status(d(), "localhost", Some(origin)),
            403,
            "{}",
            origin
        );
    }
    assert_eq!(
        origin_status(d(), "127.0.0.1:PORT", Some("http://127.0.0.1:1")),
        403
    );
    // Same host, another port: https implies 443.
    assert_eq!(
        origin_status(d(), "localhost:80", Some("https://localhost")),
        403
    );
}

#[test]
fn allowlisted_origin_is_accepted() {
    let config = || Config::default().allowed_origins(vec!["http://dash.example:8080".into()]);
    assert_eq!(
        origin_status(config(), "localhost", Some("http://dash.example:8080")),
        101
    );
    assert_eq!(
        origin_status(config(), "localhost", Some("http://dash.example")),
        403
    );
}

#[test]
fn allow_any_origin_accepts_all() {
    let config = Config::default().allow_any_origin(true);
    assert_eq!(
        origin_status(config, "localhost", Some("http://evil.example")),
        101
    );
}

// ---- 3. Subprotocols ----

fn subprotocol_server(require: bool) -> TestServer {
    let config = Config::default()
        .subprotocols(vec!["chat".into(), "superchat".into()])
        .require_subprotocol(require);
    let server = Server::bind("127.0.0.1:0", &config).unwrap();
    TestServer::start(server, describe_then_echo)
}

#[test]
fn first_supported_subprotocol_the_client_offers_is_chosen() {
    let server = subprotocol_server(false);
    for (offer, chosen) in [
        (
            "Sec-WebSocket-Protocol: foo, superchat, chat\r\n",
            "superchat",
        ),
        (
            "Sec-WebSocket-Protocol: foo\r\nSec-WebSocket-Protocol: chat\r\n",
            "chat",
        ),
    ] {
        let (mut c, r) = Client::request(server.addr, &upgrade_request_with("/", offer));
        assert_eq!(r.status, 101, "{}", r.head);
        assert_eq!(r.header("sec-websocket-protocol"), Some(chosen));
        assert!(text(c.read_frame()).ends_with(&format!("proto=Some({:?})", chosen)));
    }
}

#[test]
fn no_match_is_fine_unless_required() {
    let server = subprotocol_server(false);
    let (mut c, r) = Client::request(
        server.addr,
        &upgrade_request_with("/", "Sec-WebSocket-Protocol: foo\r\n"),
    );
    assert_eq!(r.status, 101);
    assert_eq!(r.header("sec-websocket-protocol"), None);
    assert!(text(c.read_frame()).ends_with("proto=None"));

    let server = subprotocol_server(true);
    for request in [
        upgrade_request("/"),
        upgrade_request_with("/", "Sec-WebSocket-Protocol: foo\r\n"),
    ] {
        let (mut c, r) = Client::request(server.addr, &request);
        assert_eq!(r.status, 400, "{}", r.head);
        assert!(c.read_to_end().is_empty());
    }
    let (_c, r) = Client::request(
        server.addr,
        &upgrade_request_with("/", "Sec-WebSocket-Protocol: chat\r\n"),
    );
    assert_eq!(r.status, 101);
}

// ---- 4. Limits ----

#[test]
fn beyond_max_connections_gets_503_with_retry_after() {
    let server = TestServer::echo(Config::default().max_connections(2));
    assert_eq!(server.handle.connections(), 0);
    // Two upgraded connections fill the cap. (A handshake in progress would
    // be cut to make room instead: see tests/abuse.rs.)
    let _other = Client::open(server.addr);
    let mut open = Client::open(server.addr);
    wait_until("two connections are counted", || {
        server.handle.connections() == 2
    });

    let mut refused = Client::connect(server.addr);
    let r = refused.read_response();
    assert_eq!(r.status, 503, "{}", r.head);
    assert!(r.header("retry-after").is_some(), "{}", r.head);
    assert!(refused.read_to_end().is_empty());
    assert_eq!(server.handle.connections(), 2);

    open.send_frame(true, 8, &1000u16.to_be_bytes());
    open.expect_close(1000);
    wait_until("the closed connection is uncounted", || {
        server.handle.connections() == 1
    });
    let mut again = Client::open(server.addr);
    again.send_text("room again");
    assert_eq!(again.read_frame().payload, b"room again");
}

#[test]
fn open_connection_count() {
    let server = TestServer::echo(Config::default());
    assert_eq!(server.handle.connections(), 0);
    let mut clients: Vec<Client> = (0..3).map(|_| Client::open(server.addr)).collect();
    assert_eq!(server.handle.connections(), 3);
    for c in &mut clients {
        c.send_frame(true, 8, &1000u16.to_be_bytes());
        c.expect_close(1000);
    }
    wait_until("every connection is uncounted", || {
        server.handle.connections() == 0
    });
}

#[test]
fn default_limit_is_1_mib() {
    let server = TestServer::echo(Config::default());
    let mut c = Client::open(server.addr);
    c.send(&frame_header(true, 2, (1 << 20) + 1));
    c.expect_close(1009);
}

#[test]
fn frame_over_max_frame_size_gets_1009() {
    let server = TestServer::echo(Config::default().max_frame_size(1000));
    let mut c = Client::open(server.addr);
    // Fragments within the frame limit pass.
    c.send_frame(false, 2, &[1u8; 1000]);
    c.send_frame(true, 0, &[2u8; 1000]);
    assert_eq!(c.read_frame().payload.len(), 2000);
    c.send(&frame_header(false, 2, 1001));
    c.expect_close(1009);
}

#[test]
fn message_over_max_message_size_gets_1009() {
    let config = Config::default().max_message_size(1000);
    let server = TestServer::echo(config);
    let mut c = Client::open(server.addr);
    c.send_frame(true, 1, &[b'a'; 1000]);
    assert_eq!(c.read_frame().payload.len(), 1000);
    c.send(&frame_header(true, 1, 1001));
    c.expect_close(1009);

    let mut c = Client::open(server.addr);
    c.send_frame(false, 2, &[1u8; 500]);
    c.send_frame(false, 0, &[1u8; 500]);
    c.send(&frame_header(true, 0, 1));
    c.expect_close(1009);
}

#[test]
fn fragment_cap_gets_1009() {
    let server = TestServer::echo(Config::default().max_fragments(4));
    let mut c = Client::open(server.addr);
    c.send_frame(false, 1, b"a");
    for _ in 0..2 {
        c.send_frame(false, 0, b"b");
    }
    c.send_frame(true, 0, b"c");
    assert_eq!(c.read_frame().payload, b"abbc");
    // A flood of empty fragments is refused once past the cap, whatever
    // its size; control frames between them do not count.
    c.send_frame(false, 2, b"");
    for _ in 0..3 {
        c.send_frame(false, 0, b"");
        c.send_frame(true, 9, b"");
    }
    for _ in 0..3 {
        assert_eq!(c.read_frame().opcode, 10);
    }
    c.send_frame(false, 0, b"");
    c.expect_close(1009);
}

// ---- 5. Timeouts ----

#[test]
fn trickled_handshake_is_cut_at_the_deadline_with_408() {
    let config = Config::default().handshake_timeout(ms(500));
    let server = TestServer::echo(config);
    let mut c = Client::connect(server.addr);
    let mut writer = c.stream.try_clone().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    // One byte every 50 ms: each read is quick, only the deadline can cut it.
    let request = upgrade_request("/").into_bytes();
    let trickle = std::thread::spawn(move || {
        for b in &request {
            if stop2.load(Ordering::Acquire) || writer.write_all(&[*b]).is_err() {
                return false;
            }
            std::thread::sleep(ms(50));
        }
        true
    });
    let r = c.read_response();
    stop.store(true, Ordering::Release);
    assert_eq!(r.status, 408, "{}", r.head);
    assert!(!trickle.join().unwrap(), "the whole request got through");
}

#[test]
fn non_reading_client_is_dropped_on_the_write_timeout() {
    let (tx, rx) = report();
    let config = Config::default().write_timeout(ms(300));
    let server = Server::bind("127.0.0.1:0", &config).unwrap();
    let handle = server.handle();
    let server = TestServer::start(server, move |mut ws: WebSocket| {
        if ws.read().is_err() {
            return;
        }
        let chunk = vec![0u8; 64 * 1024];
        let mut sent = 0u64;
        let error = loop {
            match ws.send(&chunk[..]) {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
        };
        let after = ws.send("more");
        tx.send((
            sent,
            matches!(error, Error::Timeout(Timeout::Write)),
            matches!(after, Err(Error::Closed)),
        ));
    });
    let mut c = Client::open(server.addr);
    c.send_text("flood me");
    // ...and never read.
    let (sent, timed_out, closed_after) = support::recv(&rx);
    assert!(sent > 0);
    assert!(
        timed_out,
        "the stalled write did not fail with Timeout::Write"
    );
    assert!(closed_after);
    wait_until("the connection thread ends", || handle.connections() == 0);
}

// ---- 6. Graceful shutdown ----

#[test]
fn shutdown_sends_1001_and_serve_returns_after_joining() {
    let finished = Arc::new(AtomicUsize::new(0));
    let done = Arc::clone(&finished);
    let server = Server::bind("127.0.0.1:0", &Config::default()).unwrap();
    let server = TestServer::start(server, move |ws: WebSocket| {
        support::echo_handler(ws);
        // Slow to finish: serve must wait for it.
        std::thread::sleep(ms(200));
        done.fetch_add(1, Ordering::AcqRel);
    });
    let handle = server.handle.clone();
    let mut clients: Vec<Client> = (0..2).map(|_| Client::open(server.addr)).collect();
    handle.shutdown();
    assert!(handle.is_shutting_down());
    for c in &mut clients {
        let f = c.read_close();
        assert_eq!(f.close_code(), Some(1001));
        c.send_frame(true, 8, &1001u16.to_be_bytes());
        c.expect_eof();
    }
    server.stop().unwrap();
    assert_eq!(
        finished.load(Ordering::Acquire),
        2,
        "serve returned before joining"
    );
    assert_eq!(handle.connections(), 0);
}

#[test]
fn during_shutdown_newcomers_get_503_and_silent_peers_are_cut() {
    let config = Config::default().close_timeout(ms(1500));
    let server = TestServer::echo(config);
    let handle = server.handle.clone();
    let mut silent = Client::open(server.addr);
    handle.shutdown();
    assert_eq!(silent.read_close().close_code(), Some(1001));
    // The drain is under way: a newcomer is refused.
    let mut late = Client::connect(server.addr);
    let r = late.read_response();
    assert_eq!(r.status, 503, "{}", r.head);
    assert!(r.header("retry-after").is_some());
    // We never answer the Close; the server cuts us at its deadline and
    // then returns.
    silent.expect_eof();
    server.stop().unwrap();
}

#[test]
fn shutdown_from_inside_a_handler() {
    let server = Server::bind("127.0.0.1:0", &Config::default()).unwrap();
    let handle = server.handle();
    let server = TestServer::start(server, move |mut ws: WebSocket| {
        while let Ok(msg) = ws.read() {
            if msg == Message::Text("stop".into()) {
                handle.shutdown();
            }
        }
    });
    let mut c = Client::open(server.addr);
    c.send_text("stop");
    assert_eq!(c.read_close().close_code(), Some(1001));
    c.send_frame(true, 8, &1001u16.to_be_bytes());
    c.expect_eof();
    server.stop().unwrap();
}

// ---- 8. Footprint ----

/// A handler that needs far more than the default 64 KiB of stack runs
/// when the configured stack is large enough. Were the setting ignored,
/// the overflow would abort this test binary.
#[test]
fn configured_stack_size_is_used() {
    const BIG: usize = 256 * 1024;
    let config = Config::default().stack_size(1024 * 1024);
    let server = Server::bind("127.0.0.1:0", &config).unwrap();
    let server = TestServer::start(server, |mut ws: WebSocket| {
        if let Ok(msg) = ws.read() {
            let mut scratch = [0u8; BIG];
            for (i, b) in scratch.iter_mut().enumerate() {
                *b = msg.as_bytes()[i % msg.as_bytes().len()];
            }
            let sum: u64 = scratch.iter().map(|b| u64::from(*b)).sum();
            let _ = ws.send(sum.to_string());
        }
    });
    let mut c = Client::open(server.addr);
    c.send_text("\u{1}");
    assert_eq!(text(c.read_frame()), BIG.to_string());
}

// ---- 7. Isolation ----

#[test]
fn handler_panic_closes_with_1011_and_others_keep_working() {
    let server = Server::bind("127.0.0.1:0", &Config::default()).unwrap();
    let server = TestServer::start(server, |mut ws: WebSocket| {
        while let Ok(msg) = ws.read() {
            if msg == Message::Text("panic".into()) {
                panic!("handler panic on purpose");
            }
            if msg.is_data() && ws.send(msg).is_err() {
                break;
            }
        }
    });
    let mut bystander = Client::open(server.addr);
    bystander.send_text("before");
    assert_eq!(bystander.read_frame().payload, b"before");

    let mut victim = Client::open(server.addr);
    victim.send_text("panic");
    victim.expect_close(1011);

    bystander.send_text("after");
    assert_eq!(bystander.read_frame().payload, b"after");
    let mut newcomer = Client::open(server.addr);
    newcomer.send_text("new");
    assert_eq!(newcomer.read_frame().payload, b"new");
    wait_until("the panicked connection is uncounted", || {
        server.handle.connections() == 2
    });
}

#[test]
fn pipelined_frame_reaches_a_hooked_server_too() {
    let (tx, _seen) = report();
    let server = hook_server(tx);
    let mut c = Client::connect(server.addr);
    let mut bytes = upgrade_request("/?token=secret").into_bytes();
    bytes.extend(frame(true, 1, b"early"));
    c.send(&bytes);
    assert_eq!(c.read_response().status, 101);
    assert!(text(c.read_frame()).starts_with("path=/ "));
    assert_eq!(c.read_frame().payload, b"early");
}

/// "As many spare threads as you like" is a valid setting, not an overflow
/// in the accept loop.
#[test]
fn unbounded_spare_threads_serve_as_usual() {
    let server = TestServer::echo(Config::default().spare_threads(usize::MAX));
    for _ in 0..3 {
        let mut c = Client::open(server.addr);
        c.send_text("hi");
        assert_eq!(c.read_data().payload, b"hi");
        c.send_frame(true, 8, &[0x03, 0xE8]);
        assert_eq!(c.read_close().close_code(), Some(1000));
        support::wait_until("the connection ends", || server.handle.connections() == 0);
    }
    server.stop().unwrap();
}
