//! Each connection holds one file descriptor, however it is used: the
//! connection's thread, its Senders and the server's shutdown all go
//! through the same socket. A server's descriptor budget is its connection
//! budget.
//!
//! Alone in its binary, so no other test's sockets are counted.

#![cfg(target_os = "linux")]

mod support;

use std::sync::Mutex;

use support::{Client, TestServer};
use tinyws::{Config, Sender, Server};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn a_connection_with_a_sender_holds_one_descriptor() {
    const N: usize = 16;
    let senders: &'static Mutex<Vec<Sender>> = Box::leak(Box::new(Mutex::new(Vec::new())));
    let server = Server::bind("127.0.0.1:0", &Config::default()).unwrap();
    let server = TestServer::start(server, move |mut ws| {
        // A Sender kept elsewhere, as a hub subscriber would be.
        senders.lock().unwrap().push(ws.sender().unwrap());
        support::echo_handler(ws);
    });
    let base = open_fds();
    let mut clients: Vec<Client> = (0..N).map(|_| Client::open(server.addr)).collect();
    for c in &mut clients {
        c.send_text("hi");
        assert_eq!(c.read_data().payload, b"hi");
    }
    support::wait_until("every Sender is taken", || {
        senders.lock().unwrap().len() == N
    });
    // N client sockets in this process, and N server sockets.
    assert_eq!(
        open_fds(),
        base + 2 * N,
        "a connection holds more than one descriptor"
    );
    for s in senders.lock().unwrap().iter() {
        s.send("from a sender").unwrap();
    }
    for c in &mut clients {
        assert_eq!(c.read_data().payload, b"from a sender");
    }
    drop(clients);
    support::wait_until("every connection has ended", || {
        server.handle.connections() == 0
    });
    // The Senders outlive their connections; the sockets do not.
    assert_eq!(open_fds(), base, "a socket outlived its connection");
    assert!(senders
        .lock()
        .unwrap()
        .iter()
        .all(|s| s.send("late").is_err()));
}
