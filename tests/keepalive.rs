//! Keepalive (issue 2, section 6): Pings while idle, failing a silent peer,
//! and read timeouts that fire in the middle of a frame losing nothing.

mod support;

use std::time::Duration;

use support::{frame, report, Client, TestServer};
use tinyws::{Config, Error, Server, Timeout, WebSocket};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn silent_client_gets_a_ping_then_1011() {
    let (tx, rx) = report();
    let config = Config::default()
        .ping_interval(Some(ms(150)))
        .ping_timeout(ms(300));
    let server = Server::bind("127.0.0.1:0", &config).unwrap();
    let server = TestServer::start(server, move |mut ws: WebSocket| {
        let result = ws.read();
        tx.send(matches!(result, Err(Error::Timeout(Timeout::Ping))));
    });
    let mut c = Client::open(server.addr);
    let f = c.read_frame();
    assert_eq!((f.opcode, f.fin), (9, true), "expected a keepalive ping");
    // We never answer.
    c.expect_close(1011);
    assert!(support::recv(&rx), "read() did not report Timeout::Ping");
}

#[test]
fn client_that_answers_pings_stays_connected() {
    let config = Config::default()
        .ping_interval(Some(ms(100)))
        .ping_timeout(ms(1000));
    let server = TestServer::echo(config);
    let mut c = Client::open(server.addr);
    for _ in 0..5 {
        let f = c.read_frame();
        assert_eq!(f.opcode, 9, "expected a ping, got {:?}", f);
        c.send_frame(true, 10, &f.payload);
    }
    c.send_text("still here");
    assert_eq!(c.read_data().payload, b"still here");
}

#[test]
fn any_frame_counts_as_an_answer() {
    let config = Config::default()
        .ping_interval(Some(ms(100)))
        .ping_timeout(ms(1000));
    let server = TestServer::echo(config);
    let mut c = Client::open(server.addr);
    for i in 0..3 {
        let f = c.read_frame();
        assert_eq!(f.opcode, 9, "expected a ping, got {:?}", f);
        // A data message instead of a Pong.
        let text = format!("message {}", i);
        c.send_text(&text);
        let f = c.read_frame();
        assert_eq!((f.opcode, f.payload), (1, text.into_bytes()));
    }
}

/// Sends `whole` in two parts with a pause between them longer than the
/// ping interval, so at least one read times out with the frame half
/// received; the message must arrive intact.
fn split_frame_survives_timeout(whole: &[u8], cut: usize, expected: &[u8]) {
    let config = Config::default()
        .ping_interval(Some(ms(100)))
        .ping_timeout(Duration::from_secs(5));
    let server = TestServer::echo(config);
    let mut c = Client::open(server.addr);
    c.send(&whole[..cut]);
    // Time passing is the point: several ping intervals.
    std::thread::sleep(ms(400));
    c.send(&whole[cut..]);
    let mut pings = 0;
    let f = loop {
        let f = c.read_frame();
        if f.opcode == 9 {
            pings += 1;
            continue;
        }
        break f;
    };
    assert!(
        pings >= 1,
        "no read timed out while the frame was half sent"
    );
    assert_eq!(f.opcode, 2);
    assert!(f.payload == expected, "cut at {}: message differs", cut);
}

#[test]
fn timeout_inside_a_frame_header_loses_nothing() {
    let payload: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let whole = frame(true, 2, &payload);
    for cut in [1, 3, 6] {
        split_frame_survives_timeout(&whole, cut, &payload);
    }
}

#[test]
fn timeout_inside_a_payload_loses_nothing() {
    let small: Vec<u8> = (0..300u32).map(|i| (i * 3) as u8).collect();
    split_frame_survives_timeout(&frame(true, 2, &small), 8 + 150, &small);
    // Large enough to be read straight into the message.
    let large: Vec<u8> = (0..40_000u32).map(|i| (i % 253) as u8).collect();
    split_frame_survives_timeout(&frame(true, 2, &large), 14 + 17_001, &large);
}
