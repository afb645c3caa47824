//! Observability (issue 3, item 9): connect and disconnect at info with the
//! peer, path, close code, who closed and the duration; protocol errors at
//! debug with the reason; frames at trace.

mod support;

use log::Level;
use support::{frame_with, logs, wait_until, Client, TestServer};
use tinyws::Config;

#[test]
fn connect_and_disconnect_are_logged_at_info() {
    logs::install();
    let server = TestServer::echo(Config::default());
    let mut c = Client::connect(server.addr);
    c.send(support::upgrade_request("/feed?x=1").as_bytes());
    assert_eq!(c.read_response().status, 101);
    let peer = c.stream.local_addr().unwrap().to_string();
    c.send_frame(true, 8, &4321u16.to_be_bytes());
    c.expect_close(4321);
    drop(c);
    wait_until("the disconnect is logged", || {
        !logs::lines(Level::Info, &[&peer, "disconnected"]).is_empty()
    });
    assert_eq!(
        logs::lines(Level::Info, &[&format!("{} connected /feed", peer)]).len(),
        1,
        "no connect line"
    );
    let bye = logs::lines(Level::Info, &[&peer, "disconnected"]).remove(0);
    for part in ["/feed", "4321", "peer", "after"] {
        assert!(bye.contains(part), "{:?} lacks {:?}", bye, part);
    }
}

#[test]
fn protocol_errors_at_debug_and_frames_at_trace() {
    logs::install();
    let server = TestServer::echo(Config::default());
    let mut c = Client::open(server.addr);
    let peer = c.stream.local_addr().unwrap().to_string();
    c.send_text("traced");
    assert_eq!(c.read_frame().payload, b"traced");
    c.send(&frame_with(true, 2, b"naked", None));
    c.expect_close(1002);
    drop(c);
    wait_until("the disconnect is logged", || {
        !logs::lines(Level::Info, &[&peer, "disconnected"]).is_empty()
    });
    assert!(!logs::lines(Level::Debug, &["1002", "unmasked"]).is_empty());
    assert!(
        !logs::lines(Level::Trace, &["Text"]).is_empty(),
        "no frame trace"
    );
    let bye = logs::lines(Level::Info, &[&peer, "disconnected"]).remove(0);
    assert!(bye.contains("1002"), "{:?}", bye);
}

/// A query often carries a token: refusals log the path and `?…`, never
/// the query itself.
#[test]
fn refusals_do_not_log_the_query() {
    logs::install();
    let server = TestServer::echo(Config::default());
    let request = support::upgrade_request("/publish?token=s3cr3t-token")
        .replace("Host: localhost", "Host: rebinding.example");
    let (_c, r) = Client::request(server.addr, &request);
    assert_eq!(r.status, 421);
    wait_until("the refusal is logged", || {
        !logs::lines(Level::Info, &["/publish?…", "421"]).is_empty()
    });
    assert!(!logs::any_contains("s3cr3t"), "a token reached the log");
}

/// The permessage-deflate agreement is logged at debug with the peer and
/// the extension as answered, so that a deployment (and the browser test)
/// can see that a client's offer was taken.
#[cfg(feature = "deflate")]
#[test]
fn agreed_deflate_is_logged_at_debug() {
    logs::install();
    let server = TestServer::echo(Config::default().deflate(Some(tinyws::Deflate::default())));
    let mut c = Client::connect(server.addr);
    c.send(
        support::upgrade_request_with(
            "/deflated",
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
        )
        .as_bytes(),
    );
    assert_eq!(c.read_response().status, 101);
    let peer = c.stream.local_addr().unwrap().to_string();
    wait_until("the agreement is logged", || {
        !logs::lines(
            Level::Debug,
            &[
                &peer,
                "agreed to permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            ],
        )
        .is_empty()
    });
}
