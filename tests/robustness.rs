//! Regression tests for defects found in review: slow readers, closes
//! started from other threads, forbidden close codes, and handlers that let
//! their connection escape.

mod support;

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use support::{Client, TestServer};
use tinyws::{CloseCode, Config, Error, Server, Timeout};

/// Reads from `stream` a little at a time until `until` bytes have come or
/// it is told to stop: far too slow for a big frame, never slow enough to
/// trip a no-progress write timeout. Returns how many bytes came.
fn trickle_reader(
    mut stream: std::net::TcpStream,
    pause: Duration,
    until: usize,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<usize>) {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut total = 0;
        // A loaded machine may starve the server past one read timeout;
        // only give up after a minute without the whole message.
        let give_up = std::time::Instant::now() + Duration::from_secs(60);
        while !stopped.load(Ordering::Relaxed) && total < until {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        && std::time::Instant::now() < give_up => {}
                Err(_) => break,
            }
            std::thread::sleep(pause);
        }
        total
    });
    (stop, reader)
}

/// A subscriber reading a little at a time cannot hold a broadcast past the
/// hub's stall timeout: it is dropped, and the broadcast returns.
#[test]
fn a_slow_reader_cannot_stretch_a_broadcast_past_the_stall_timeout() {
    let hub = tinyws::Hub::new(Duration::from_millis(300));
    let subscribed = hub.clone();
    let (tx, rx) = support::report();
    let server = Server::bind("127.0.0.1:0", &Config::default()).unwrap();
    let server = TestServer::start(server, move |mut ws| {
        subscribed.subscribe(ws.sender().unwrap()).unwrap();
        tx.send(());
        while ws.read().is_ok() {}
    });
    let c = Client::open(server.addr);
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // About 200 KB/s.
    let slow = Duration::from_millis(20);
    let (stop, reader) = trickle_reader(c.stream.try_clone().unwrap(), slow, usize::MAX);
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(hub.broadcast(vec![7u8; 32 << 20]));
    });
    let delivered = done_rx
        .recv_timeout(Duration::from_secs(15))
        .expect("the broadcast never ended");
    assert_eq!(delivered, 0, "the slow subscriber should have been dropped");
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
}

/// The write timeout is about a peer that stops reading, not a slow one: a
/// large message to a peer that keeps reading arrives whole, however long
/// it takes in all.
#[test]
fn a_slow_but_steady_reader_gets_a_large_message_whole() {
    let (tx, rx) = support::report();
    let config = Config::default()
        .write_timeout(Duration::from_secs(2))
        .max_message_size(16 << 20);
    let server = TestServer::start(
        Server::bind("127.0.0.1:0", &config).unwrap(),
        move |mut ws| {
            // Wait for the client's word, so no frame bytes can arrive in the
            // same read as the 101 response.
            let _ = ws.read();
            tx.send(ws.send(vec![7u8; 8 << 20]));
            let _ = ws.read();
        },
    );
    let mut c = Client::open(server.addr);
    // 4 KiB every 2 ms: about 4 s for 8 MiB, twice the write timeout, with
    // room for a loaded machine to starve the reader for a moment.
    let want = (8 << 20) + 10; // the payload and its 10-byte header
    let (_stop, reader) = trickle_reader(
        c.stream.try_clone().unwrap(),
        Duration::from_millis(2),
        want,
    );
    c.send_text("go");
    let sent = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("send never returned");
    assert!(sent.is_ok(), "{:?}", sent);
    let got = reader.join().unwrap();
    assert_eq!(got, want, "the message did not arrive whole");
}

/// A Close sent by a Sender is timed by close_timeout from when it was sent;
/// the connection thread fails with Timeout::Close, not Error::Closed.
#[test]
fn a_close_from_a_sender_times_out_as_a_close() {
    let (tx, rx) = support::report();
    let config = Config::default()
        .ping_interval(Some(Duration::from_millis(200)))
        .close_timeout(Duration::from_millis(300));
    let server = TestServer::start(
        Server::bind("127.0.0.1:0", &config).unwrap(),
        move |mut ws| {
            let sender = ws.sender().unwrap();
            sender.close(CloseCode::NORMAL, "bye").unwrap();
            tx.send(ws.read());
        },
    );
    let mut c = Client::open(server.addr);
    // The client sees the Close but never answers it.
    assert_eq!(c.read_close().close_code(), Some(1000));
    let result = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("read never returned");
    assert!(
        matches!(result, Err(Error::Timeout(Timeout::Close))),
        "{:?}",
        result
    );
}

/// Codes meant for reporting (1005, 1006) and unassigned ones never reach
/// the wire.
#[test]
fn forbidden_close_codes_are_refused() {
    let (tx, rx) = support::report();
    let server = TestServer::start(
        Server::bind("127.0.0.1:0", &Config::default()).unwrap(),
        move |mut ws| {
            let results: Vec<_> = [1005u16, 1006, 1015, 0, 2999]
                .iter()
                .map(|c| matches!(ws.close(CloseCode(*c), ""), Err(Error::InvalidInput(_))))
                .collect();
            tx.send(results);
            let _ = ws.close(CloseCode::NORMAL, "");
        },
    );
    let mut c = Client::open(server.addr);
    let results = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(results.iter().all(|refused| *refused), "{:?}", results);
    // The first frame on the wire is the allowed Close.
    assert_eq!(c.read_close().close_code(), Some(1000));
}

/// A handler that moves its connection elsewhere and returns ends the
/// connection, so the server's count and shutdown stay true.
#[test]
fn a_connection_ends_with_its_handler() {
    let (tx, rx) = support::report();
    let server = TestServer::start(
        Server::bind("127.0.0.1:0", &Config::default()).unwrap(),
        move |ws| {
            // Keep the WebSocket alive elsewhere, then return.
            tx.send(ws);
        },
    );
    let mut c = Client::open(server.addr);
    let _kept = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // The server cut the socket: the client reads end of stream, not a hang.
    assert!(c.read_to_end().is_empty());
    // The thread's bookkeeping ends a moment after the socket does.
    let settled = (0..500).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        server.handle.connections() == 0
    });
    assert!(settled, "still counted: {}", server.handle.connections());
}
