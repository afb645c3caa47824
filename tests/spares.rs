//! A connection thread whose connection is over waits, as a spare, for the
//! next one (up to `Config::spare_threads` of them), and shutdown ends it.
//!
//! Alone in its binary, so no other test's threads are counted.

#![cfg(target_os = "linux")]

mod support;

use std::thread::{self, ThreadId};

use support::{Client, TestServer};
use tinyws::{Config, Server};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Opens a connection, learns which thread served it, and closes it.
fn served_by(server: &TestServer, rx: &std::sync::mpsc::Receiver<ThreadId>) -> ThreadId {
    let mut c = Client::open(server.addr);
    c.send_text("x");
    assert_eq!(c.read_data().payload, b"x");
    let id = support::recv(rx);
    c.send_frame(true, 8, &[0x03, 0xE8]);
    assert_eq!(c.read_close().close_code(), Some(1000));
    support::wait_until("the connection ends", || server.handle.connections() == 0);
    id
}

fn start(config: Config) -> (TestServer, std::sync::mpsc::Receiver<ThreadId>) {
    let (tx, rx) = support::report();
    let server = Server::bind("127.0.0.1:0", &config).unwrap();
    let server = TestServer::start(server, move |ws| {
        tx.send(thread::current().id());
        support::echo_handler(ws);
    });
    (server, rx)
}

#[test]
fn a_spare_thread_serves_the_next_connection_and_shutdown_ends_it() {
    let base = threads();

    // The default keeps spares: the second connection reuses the thread.
    let (server, rx) = start(Config::default());
    let first = served_by(&server, &rx);
    // The accept loop's thread and the spare.
    support::wait_until("the spare waits", || threads() == base + 2);
    let second = served_by(&server, &rx);
    assert_eq!(first, second, "the spare thread was not reused");
    assert_eq!(threads(), base + 2);
    server.stop().unwrap();
    // Joined threads can linger in /proc for a moment after the join.
    support::wait_until("no thread outlives the server", || threads() == base);

    // None kept: each connection's thread ends with it.
    let (server, rx) = start(Config::default().spare_threads(0));
    let first = served_by(&server, &rx);
    support::wait_until("the connection thread ends", || threads() == base + 1);
    let second = served_by(&server, &rx);
    assert_ne!(first, second);
    server.stop().unwrap();
    support::wait_until("no thread outlives the server", || threads() == base);
}
