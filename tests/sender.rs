//! Sending from other threads: a `Sender` works while the connection's own
//! thread blocks in `read`, frames from many threads never interleave, and
//! every send after close is `Error::Closed`.

mod support;

use support::{report, Client, TestServer};
use tinyws::{CloseCode, Config, Error, Message, Sender, Server, WebSocket};

/// A server whose handler hands its Sender to the test, then echoes.
fn sender_server() -> (TestServer, std::sync::mpsc::Receiver<Sender>) {
    let (tx, rx) = report();
    let server = Server::bind("127.0.0.1:0", &Config::default()).unwrap();
    let server = TestServer::start(server, move |mut ws: WebSocket| {
        tx.send(ws.sender().unwrap());
        support::echo_handler(ws);
    });
    (server, rx)
}

#[test]
fn sender_works_while_the_owner_blocks_in_read() {
    let (server, rx) = sender_server();
    let mut c = Client::open(server.addr);
    let sender = support::recv(&rx);
    // The owner is in its read loop: it echoes.
    c.send_text("owner");
    assert_eq!(c.read_frame().payload, b"owner");
    // Now it is blocked in read() again, with nothing to read.
    sender.send("from another thread").unwrap();
    sender.ping(b"tick").unwrap();
    sender.send(vec![1u8, 2, 3]).unwrap();
    let f = c.read_frame();
    assert_eq!(
        (f.opcode, f.payload.as_slice()),
        (1, &b"from another thread"[..])
    );
    let f = c.read_frame();
    assert_eq!((f.opcode, f.payload.as_slice()), (9, &b"tick"[..]));
    let f = c.read_frame();
    assert_eq!((f.opcode, f.payload.as_slice()), (2, &[1u8, 2, 3][..]));
    assert!(!sender.is_closed());

    // The Sender starts the close; the owner's read finishes it.
    sender.close(CloseCode(4002), "bye").unwrap();
    assert!(sender.is_closed());
    assert_eq!(c.read_frame().close_code(), Some(4002));
    c.send_frame(true, 8, &4002u16.to_be_bytes());
    c.expect_eof();
    assert!(matches!(sender.send("late"), Err(Error::Closed)));
}

#[test]
fn frames_from_many_threads_never_interleave() {
    const THREADS: u8 = 4;
    const EACH: usize = 40;
    const SIZES: [usize; 7] = [1, 125, 126, 5000, 65535, 65536, 70000];
    let size = |thread: u8, i: usize| SIZES[(i + usize::from(thread)) % SIZES.len()];

    let server = Server::bind("127.0.0.1:0", &Config::default()).unwrap();
    let server = TestServer::start(server, move |mut ws: WebSocket| {
        let sender = ws.sender().unwrap();
        for t in 0..THREADS {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for i in 0..EACH {
                    if sender.send(vec![t; size(t, i)]).is_err() {
                        return;
                    }
                }
            });
        }
        // Meanwhile the owner answers our pings with pongs of its own.
        support::echo_handler(ws);
    });
    let mut c = Client::open(server.addr);
    for p in 0..30u8 {
        c.send_frame(true, 9, &[p; 10]);
    }
    let mut next = [0usize; THREADS as usize];
    let mut pongs = 0u8;
    while next.iter().sum::<usize>() < usize::from(THREADS) * EACH || pongs < 30 {
        // read_frame fails on anything that does not parse as a frame.
        let f = c.read_frame();
        assert!(f.fin);
        match f.opcode {
            2 => {
                let t = f.payload[0];
                assert!(t < THREADS, "bad payload start {}", t);
                let i = next[usize::from(t)];
                assert_eq!(f.payload.len(), size(t, i), "thread {} message {}", t, i);
                assert!(f.payload.iter().all(|b| *b == t), "mixed payload");
                next[usize::from(t)] += 1;
            }
            10 => {
                assert_eq!(f.payload, [pongs; 10]);
                pongs += 1;
            }
            other => panic!("unexpected opcode {}", other),
        }
    }
    c.send_frame(true, 8, &1000u16.to_be_bytes());
    assert_eq!(c.read_close().close_code(), Some(1000));
}

#[test]
fn send_after_close_is_closed() {
    let (tx, rx) = report();
    let server = Server::bind("127.0.0.1:0", &Config::default()).unwrap();
    let server = TestServer::start(server, move |mut ws: WebSocket| {
        let sender = ws.sender().unwrap();
        let closed = ws.close(CloseCode::NORMAL, "done");
        tx.send(format!(
            "{:?} {:?} {:?} {:?} {:?} {:?} {}",
            closed,
            ws.send("a"),
            ws.ping(b""),
            ws.read(),
            sender.send("b"),
            sender.close(CloseCode::NORMAL, ""),
            ws.is_closed() && sender.is_closed(),
        ));
    });
    let mut c = Client::open(server.addr);
    assert_eq!(c.read_frame().close_code(), Some(1000));
    c.send_frame(true, 8, &1000u16.to_be_bytes());
    c.expect_eof();
    assert_eq!(
        support::recv(&rx),
        "Ok(()) Err(Closed) Err(Closed) Err(Closed) Err(Closed) Err(Closed) true"
    );
}

#[test]
fn sender_after_the_peer_closed_is_closed() {
    let (server, rx) = sender_server();
    let mut c = Client::open(server.addr);
    let sender = support::recv(&rx);
    c.send_frame(true, 8, &1000u16.to_be_bytes());
    c.expect_close(1000);
    support::wait_until("the sender sees the close", || sender.is_closed());
    assert!(matches!(sender.send("late"), Err(Error::Closed)));
    assert!(matches!(
        sender.send(Message::Ping(Vec::new())),
        Err(Error::Closed)
    ));
}
