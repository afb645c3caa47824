//! The broadcast hub and cross-thread Senders, over real sockets.

mod support;

use std::sync::mpsc;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use support::{Client, TestServer, TIMEOUT};
use tinyws::{CloseCode, Config, Error, Hub, Sender, Server, WebSocket};

/// A server whose handler subscribes each connection to `hub`, reports the
/// subscription on a channel, then reads until the connection ends.
fn hub_server(hub: &Hub) -> (TestServer, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let hub = hub.clone();
    let server = Server::bind("127.0.0.1:0", &Config::default()).unwrap();
    let server = TestServer::start(server, move |mut ws: WebSocket| {
        let sender = ws.sender().unwrap();
        hub.subscribe(sender).unwrap();
        let _ = tx.lock().unwrap().send(());
        while ws.read().is_ok() {}
    });
    (server, rx)
}

/// Opens `n` clients and waits until each has been subscribed.
fn open_subscribers(server: &TestServer, subscribed: &mpsc::Receiver<()>, n: usize) -> Vec<Client> {
    let clients: Vec<Client> = (0..n).map(|_| Client::open(server.addr)).collect();
    for _ in 0..n {
        subscribed
            .recv_timeout(TIMEOUT)
            .expect("handler never subscribed");
    }
    clients
}

/// Waits for `cond`, failing the test after `TIMEOUT`.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {}", what);
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn broadcast_reaches_every_subscriber_with_identical_frames() {
    let hub = Hub::new(Duration::from_secs(2));
    let (server, subscribed) = hub_server(&hub);
    let mut clients = open_subscribers(&server, &subscribed, 3);
    assert_eq!(hub.len(), 3);

    let small = "21.5";
    let large = "x".repeat(300); // a 16-bit extended length
    assert_eq!(hub.broadcast(small), 3);
    assert_eq!(hub.broadcast(large.as_str()), 3);
    assert_eq!(hub.broadcast(vec![0u8, 1, 2, 255]), 3);

    let frames: Vec<Vec<support::Frame>> = clients
        .iter_mut()
        .map(|c| (0..3).map(|_| c.read_frame()).collect())
        .collect();
    assert_eq!(frames[0], frames[1]);
    assert_eq!(frames[0], frames[2]);
    let f = &frames[0];
    assert_eq!(
        (f[0].fin, f[0].opcode, &f[0].payload[..]),
        (true, 1, small.as_bytes())
    );
    assert_eq!(
        (f[1].fin, f[1].opcode, &f[1].payload[..]),
        (true, 1, large.as_bytes())
    );
    assert_eq!(
        (f[2].fin, f[2].opcode, &f[2].payload[..]),
        (true, 2, &[0u8, 1, 2, 255][..])
    );
    drop(clients);
    server.stop().unwrap();
}

#[test]
fn closed_subscribers_are_removed() {
    let hub = Hub::new(Duration::from_secs(2));
    let (server, subscribed) = hub_server(&hub);
    let mut clients = open_subscribers(&server, &subscribed, 3);
    assert_eq!(hub.len(), 3);

    // One closes cleanly, one drops TCP without a Close.
    let mut leaving = clients.remove(0);
    leaving.send_frame(true, 8, &1000u16.to_be_bytes());
    assert_eq!(leaving.read_close().close_code(), Some(1000));
    leaving.expect_eof();
    drop(clients.remove(0));

    wait_until("hub.len() == 1", || hub.len() == 1);
    assert_eq!(hub.broadcast("still here"), 1);
    assert_eq!(clients[0].read_frame().payload, b"still here");
    drop(clients);
    wait_until("hub.is_empty()", || hub.is_empty());
    assert_eq!(hub.broadcast("nobody"), 0);
    server.stop().unwrap();
}

#[test]
fn stalled_subscriber_is_disconnected_and_the_healthy_one_keeps_receiving() {
    let stall = Duration::from_millis(300);
    let hub = Hub::new(stall);
    assert_eq!(hub.stall_timeout(), stall);
    let (server, subscribed) = hub_server(&hub);
    let mut clients = open_subscribers(&server, &subscribed, 2);
    let mut stalled = clients.pop().unwrap();
    let mut healthy = clients.pop().unwrap();

    // The healthy client reads everything until the last message.
    let reader = thread::spawn(move || {
        let mut count = 0usize;
        loop {
            let f = healthy.read_frame();
            assert_eq!(f.opcode, 2, "unexpected frame {:?}", f.opcode);
            if f.payload == b"last" {
                return count;
            }
            assert_eq!(f.payload.len(), 64 * 1024);
            count += 1;
        }
    });

    // Large messages fill the stalled client's kernel buffers quickly.
    let message = vec![7u8; 64 * 1024];
    let deadline = Instant::now() + TIMEOUT;
    let mut sent = 0usize;
    loop {
        let reached = hub.broadcast(message.as_slice());
        sent += 1;
        if reached == 1 {
            break;
        }
        assert_eq!(reached, 2);
        assert!(
            Instant::now() < deadline,
            "the stalled client never stalled"
        );
    }
    assert_eq!(hub.len(), 1);

    // Later broadcasts reach the healthy one only, without stalling.
    for _ in 0..10 {
        assert_eq!(hub.broadcast(message.as_slice()), 1);
    }
    assert_eq!(hub.broadcast(&b"last"[..]), 1);
    assert_eq!(reader.join().unwrap(), sent + 10);

    // The stalled client was cut: after the bytes already queued, its
    // stream ends (EOF or reset) instead of carrying more messages.
    stalled.stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let rest = stalled.read_to_end();
    assert!(rest.len() < sent * (message.len() + 10));
    server.stop().unwrap();
}

#[test]
fn sender_writes_from_another_thread_while_the_owner_reads() {
    let (tx, rx) = mpsc::channel::<Sender>();
    let tx = Mutex::new(tx);
    let (done_tx, done_rx) = mpsc::channel::<Option<tinyws::CloseFrame>>();
    let done_tx = Mutex::new(done_tx);
    let server = Server::bind("127.0.0.1:0", &Config::default()).unwrap();
    let server = TestServer::start(server, move |mut ws: WebSocket| {
        tx.lock().unwrap().send(ws.sender().unwrap()).unwrap();
        // The owner blocks in read and echoes; the Sender runs elsewhere.
        loop {
            match ws.read() {
                Ok(tinyws::Message::Close(frame)) => {
                    let _ = done_tx.lock().unwrap().send(frame);
                    return;
                }
                Ok(msg) if msg.is_data() => ws.send(msg).unwrap(),
                Ok(_) => {}
                Err(e) => panic!("owner read failed: {}", e),
            }
        }
    });
    let mut client = Client::open(server.addr);
    let sender = rx.recv_timeout(TIMEOUT).unwrap();

    // Another thread sends while the owner is blocked in read().
    let pusher = {
        let sender = sender.clone();
        thread::spawn(move || {
            for i in 0..100 {
                sender.send(format!("push {}", i)).unwrap();
            }
        })
    };
    client.send_text("echo me");
    pusher.join().unwrap();

    // Every frame arrives whole: 100 pushes in order and one echo, somewhere.
    let mut pushes = 0;
    let mut echoed = false;
    while pushes < 100 || !echoed {
        let f = client.read_frame();
        assert!(f.fin && f.opcode == 1, "{:?}", f);
        let text = String::from_utf8(f.payload).unwrap();
        if text == "echo me" {
            echoed = true;
        } else {
            assert_eq!(text, format!("push {}", pushes));
            pushes += 1;
        }
    }

    // Closing from the other thread: the client sees the Close, and the
    // owner's read returns the client's reply.
    sender.close(CloseCode::GOING_AWAY, "bye").unwrap();
    let close = client.read_close();
    assert_eq!(close.close_code(), Some(1001));
    assert!(matches!(sender.send("late"), Err(Error::Closed)));
    assert!(sender.is_closed());
    client.send_frame(true, 8, &1001u16.to_be_bytes());
    let frame = done_rx.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(frame.map(|f| f.code), Some(CloseCode::GOING_AWAY));
    client.expect_eof();
    assert!(matches!(sender.send("after"), Err(Error::Closed)));
    server.stop().unwrap();
}
