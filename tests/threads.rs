//! No timeout needs a thread of its own (issue 2, section 6; issue 3,
//! item 5): with keepalive, the handshake deadline and the write timeout
//! all running, each connection costs exactly one thread.
//!
//! Alone in its binary, so no other test's threads are counted.

#![cfg(target_os = "linux")]

mod support;

use std::time::Duration;

use support::{frame, upgrade_request, Client, TestServer};
use tinyws::Config;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn one_thread_per_connection_and_no_more() {
    let config = Config::default()
        .ping_interval(Some(Duration::from_millis(50)))
        .ping_timeout(Duration::from_secs(5));
    let server = TestServer::echo(config);
    let base = threads();
    let mut clients: Vec<Client> = (0..6).map(|_| Client::open(server.addr)).collect();
    // One more still in its handshake.
    let mut half = Client::connect(server.addr);
    half.send(&upgrade_request("/").as_bytes()[..20]);
    support::wait_until("every connection is counted", || {
        server.handle.connections() == 7
    });
    for c in &mut clients {
        // A keepalive Ping each: the timers are running.
        assert_eq!(c.read_frame().opcode, 9);
        c.send(&frame(true, 10, b""));
    }
    support::wait_until("every connection thread has started", || {
        threads() >= base + 7
    });
    assert_eq!(threads(), base + 7, "a connection has more than one thread");
}
