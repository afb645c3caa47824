//! Hostile clients over real sockets: slow handshakes, lying lengths,
//! floods, churn, malformed input, many large messages at once, and the
//! guarantee that nothing received or sent before a close is lost.
//!
//! The server runs in this process, so its threads, file descriptors and
//! memory are read from `/proc/self`. The tests take one lock each so those
//! figures are not disturbed by another test running alongside.

mod support;

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use support::{
    frame, frame_header, frame_with, recv, report, upgrade_request, upgrade_request_with,
    wait_until, Client, TestServer,
};
use tinyws::{CloseCode, Config, Error, Message, Server, Timeout, WebSocket};

static SERIAL: Mutex<()> = Mutex::new(());

/// One abuse test at a time: each measures the whole process.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

const MIB: u64 = 1024 * 1024;

/// A field of `/proc/self/status` in bytes (kB fields) or as a count.
fn status(field: &str) -> u64 {
    let text = fs::read_to_string("/proc/self/status").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .unwrap_or_else(|| panic!("{} not in /proc/self/status", field));
    let mut words = line[field.len() + 1..].split_whitespace();
    let n: u64 = words.next().unwrap().parse().unwrap();
    match words.next() {
        Some("kB") => n * 1024,
        _ => n,
    }
}

fn rss() -> u64 {
    status("VmRSS")
}

/// Threads the server started for connections, by their name.
fn connection_threads() -> usize {
    fs::read_dir("/proc/self/task")
        .unwrap()
        .filter(|t| {
            let comm = t.as_ref().map(|t| t.path().join("comm"));
            comm.ok()
                .and_then(|p| fs::read_to_string(p).ok())
                .map_or(false, |name| name.trim() == "tinyws-conn")
        })
        .count()
}

fn open_fds() -> u64 {
    fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

/// Resets VmHWM to the current RSS (Linux 4.0+), so the next peak belongs
/// to the test that follows.
fn reset_peak() {
    fs::write("/proc/self/clear_refs", "5").unwrap();
}

/// Echoes data; reports how the connection ended.
fn reporting_echo(config: Config) -> (TestServer, Receiver<std::result::Result<(), Error>>) {
    let (tx, rx) = report();
    let server = Server::bind("127.0.0.1:0", &config).unwrap();
    let server = TestServer::start(server, move |mut ws: WebSocket| loop {
        match ws.read() {
            Ok(Message::Close(_)) => return tx.send(Ok(())),
            Ok(msg) if msg.is_data() => {
                if let Err(e) = ws.send(msg) {
                    return tx.send(Err(e));
                }
            }
            Ok(_) => {}
            Err(e) => return tx.send(Err(e)),
        }
    });
    (server, rx)
}

/// The server still serves a well-behaved client.
fn still_serving(addr: SocketAddr) {
    let mut c = Client::open(addr);
    c.send_text("still there?");
    assert_eq!(c.read_data().payload, b"still there?");
    c.send_frame(true, 8, &1000u16.to_be_bytes());
    c.expect_close(1000);
}

#[test]
fn stalled_handshakes_do_not_starve_open_or_new_clients() {
    let _serial = serial();
    // The default cap (256) and handshake budget (64): 1,000 silent sockets
    // would fill the cap four times over, and lock everyone out with 503
    // for the handshake timeout, if they were not cut oldest first.
    let config = Config::default();
    let deadline = config.handshake_timeout;
    let server = TestServer::echo(config);
    let mut open: Vec<Client> = (0..4).map(|_| Client::open(server.addr)).collect();
    let request = upgrade_request("/");
    let half = &request.as_bytes()[..40];
    let first = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..1000 {
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.set_read_timeout(Some(deadline + Duration::from_secs(10)))
            .unwrap();
        // A socket cut already may refuse the write; that is fine.
        let _ = s.write_all(half);
        stalled.push(s);
    }
    let last = Instant::now();
    still_serving(server.addr);
    let served = first.elapsed();
    for (i, c) in open.iter_mut().enumerate() {
        let text = format!("open {}", i);
        c.send_text(&text);
        assert_eq!(c.read_data().payload, text.as_bytes());
    }
    assert!(
        served < deadline,
        "legit client served after {:?}, past the first stalled deadline",
        served
    );
    let (mut timed_out, mut cut, mut busy) = (0, 0, 0);
    for mut s in stalled {
        let mut answer = Vec::new();
        match s.read_to_end(&mut answer) {
            Ok(_) if answer.starts_with(b"HTTP/1.1 408 ") => timed_out += 1,
            // Arrived while every handshake in the budget was still starting
            // up on its thread, with none registered yet to cut.
            Ok(_) if answer.starts_with(b"HTTP/1.1 503 ") => busy += 1,
            Ok(_) if answer.is_empty() => cut += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => cut += 1,
            other => panic!("{:?}: {}", other, String::from_utf8_lossy(&answer)),
        }
    }
    // Only the newest stalled sockets, within the budget, were left to time out.
    assert!(timed_out <= 64, "{} timed out", timed_out);
    eprintln!(
        "stalled: 1000 connected in {:?}, legit client served at {:?}, \
         {} cut to make room, {} refused with 503, {} timed out, all done by {:?}",
        last - first,
        served,
        cut,
        busy,
        timed_out,
        first.elapsed()
    );
    drop(open);
    wait_until("stalled connections are gone", || {
        server.handle.connections() == 0
    });
    server.stop().unwrap();
}

#[test]
fn huge_lengths_get_1009_without_allocating() {
    let _serial = serial();
    let (server, rx) = reporting_echo(Config::default());
    let before = rss();
    for len in [1u64 << 62, (1 << 63) - 1, (1 << 20) + 1] {
        let mut c = Client::open(server.addr);
        let mut bytes = frame_header(true, 2, len);
        bytes.extend_from_slice(&[0; 64]);
        c.send(&bytes);
        c.expect_close(1009);
        assert!(matches!(recv(&rx), Err(Error::TooLarge { size, .. }) if size == len));
    }
    // Within the message limit frame by frame, over it in total.
    let mut c = Client::open(server.addr);
    c.send(&frame(false, 2, &[7; 1000]));
    c.send(&frame_header(true, 0, 1 << 20));
    c.expect_close(1009);
    assert!(matches!(recv(&rx), Err(Error::TooLarge { .. })));
    let grown = rss().saturating_sub(before);
    assert!(grown < 16 * MIB, "RSS grew by {} bytes", grown);
    still_serving(server.addr);
    server.stop().unwrap();
}

#[test]
fn fragment_flood_is_stopped_by_the_fragment_cap() {
    let _serial = serial();
    let (server, rx) = reporting_echo(Config::default());
    let before = rss();
    let mut c = Client::open(server.addr);
    let mut writer = c.stream.try_clone().unwrap();
    let flood = thread::spawn(move || {
        let mut chunk = Vec::new();
        for i in 0..100_000u32 {
            let opcode = if i == 0 { 1 } else { 0 };
            chunk.extend_from_slice(&frame(i == 99_999, opcode, b"x"));
            if chunk.len() >= 7000 || i == 99_999 {
                if writer.write_all(&chunk).is_err() {
                    return i;
                }
                chunk.clear();
            }
        }
        100_000
    });
    c.expect_close(1009);
    // After its Close the server discards the rest of the flood (until the
    // peer closes or the close timeout passes), holding none of it.
    flood.join().unwrap();
    assert!(matches!(
        recv(&rx),
        Err(Error::TooManyFragments { max: 1024 })
    ));
    let grown = rss().saturating_sub(before);
    assert!(grown < 16 * MIB, "RSS grew by {} bytes", grown);
    still_serving(server.addr);
    server.stop().unwrap();
}

#[test]
fn ping_flood_without_reading_is_dropped_on_the_write_timeout() {
    let _serial = serial();
    let write_timeout = Duration::from_millis(500);
    let (server, rx) = reporting_echo(
        Config::default()
            .write_timeout(write_timeout)
            .ping_interval(None),
    );
    let before = rss();
    let mut c = Client::open(server.addr);
    c.stream
        .set_write_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let pings: Vec<u8> = (0..500)
        .flat_map(|_| frame(true, 9, &[b'p'; 125]))
        .collect();
    let started = Instant::now();
    let mut sent = 0u64;
    let end = loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "still flooding after 30 s"
        );
        // Whole frames only: a partial write continues where it stopped.
        let at = (sent % pings.len() as u64) as usize;
        match c.stream.write(&pings[at..]) {
            Ok(n) => sent += n as u64,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => break e,
        }
    };
    assert!(
        matches!(
            end.kind(),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
        ),
        "{}",
        end
    );
    let ended = recv(&rx);
    assert!(
        matches!(ended, Err(Error::Timeout(Timeout::Write))),
        "{:?}",
        ended
    );
    let grown = rss().saturating_sub(before);
    assert!(grown < 16 * MIB, "RSS grew by {} bytes", grown);
    eprintln!(
        "ping flood: {} bytes of pings in {:?} before the drop",
        sent,
        started.elapsed()
    );
    still_serving(server.addr);
    server.stop().unwrap();
}

/// One churn cycle, of four kinds.
fn churn_cycle(addr: SocketAddr, kind: usize) {
    match kind {
        0 => {
            let mut c = Client::open(addr);
            c.send_text("hi");
            assert_eq!(c.read_data().payload, b"hi");
            c.send_frame(true, 8, &1000u16.to_be_bytes());
            c.expect_close(1000);
        }
        1 => {
            // Gone in the middle of a frame.
            let mut c = Client::open(addr);
            let mut bytes = frame_header(true, 2, 100);
            bytes.extend_from_slice(&[1; 10]);
            c.send(&bytes);
        }
        2 => {
            // Gone right after the handshake.
            Client::open(addr);
        }
        _ => {
            // Gone in the middle of the handshake.
            let mut c = Client::connect(addr);
            c.send(&upgrade_request("/").as_bytes()[..50]);
        }
    }
}

#[test]
fn churn_leaves_no_threads_or_descriptors_behind() {
    let _serial = serial();
    let config = Config::default();
    let spares = config.spare_threads;
    let server = TestServer::echo(config);
    for kind in 0..4 {
        churn_cycle(server.addr, kind);
    }
    wait_until("warm-up connections end", || {
        server.handle.connections() == 0
    });
    let fds = open_fds();
    let started = Instant::now();
    let addr = server.addr;
    let workers: Vec<_> = (0..4)
        .map(|w| {
            thread::spawn(move || {
                for i in 0..2500 {
                    churn_cycle(addr, (i + w) % 4);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let cycles = started.elapsed();
    // Connection threads end, or wait as spares, after the client has seen
    // the last byte. Spares hold no descriptor. Only the server's own
    // threads are counted: the test harness starts threads of its own.
    wait_until("descriptors and threads settle", || {
        server.handle.connections() == 0 && open_fds() <= fds && connection_threads() <= spares
    });
    assert_eq!(open_fds(), fds);
    let left = connection_threads();
    assert!(
        left <= spares,
        "{} connection threads > {} spares",
        left,
        spares
    );
    eprintln!(
        "churn: 10,000 cycles in {:?}; {} fds before and after; {} spare threads",
        cycles, fds, left
    );
    still_serving(server.addr);
    server.stop().unwrap();
    wait_until("every connection thread has ended", || {
        connection_threads() == 0
    });
}

#[test]
fn malformed_requests_get_their_status() {
    let _serial = serial();
    let server = TestServer::echo(Config::default().handshake_timeout(Duration::from_secs(1)));
    let good = upgrade_request("/");
    let many_headers: String = (0..70).map(|i| format!("X-H{}: v\r\n", i)).collect();
    let big_header = format!("X-Big: {}\r\n", "a".repeat(9000));
    let table: Vec<(&str, Vec<u8>, u16)> = vec![
        ("POST", good.replacen("GET", "POST", 1).into_bytes(), 405),
        (
            "HTTP/1.0",
            good.replace("HTTP/1.1", "HTTP/1.0").into_bytes(),
            400,
        ),
        (
            "plain GET",
            b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
            426,
        ),
        (
            "no Host",
            good.replace("Host: localhost\r\n", "").into_bytes(),
            400,
        ),
        (
            "Connection without upgrade",
            good.replace("Connection: Upgrade", "Connection: keep-alive")
                .into_bytes(),
            400,
        ),
        (
            "version 8",
            good.replace("Version: 13", "Version: 8").into_bytes(),
            426,
        ),
        (
            "short key",
            good.replace(support::KEY, "c2hvcnQ=").into_bytes(),
            400,
        ),
        (
            "two keys",
            upgrade_request_with("/", &format!("Sec-WebSocket-Key: {}\r\n", support::KEY))
                .into_bytes(),
            400,
        ),
        (
            "foreign Origin",
            upgrade_request_with("/", "Origin: http://evil.example\r\n").into_bytes(),
            403,
        ),
        (
            "space in a header name",
            b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n".to_vec(),
            400,
        ),
        (
            "70 headers",
            upgrade_request_with("/", &many_headers).into_bytes(),
            431,
        ),
        (
            "head over 8 KiB",
            upgrade_request_with("/", &big_header).into_bytes(),
            431,
        ),
    ];
    for (what, request, status) in table {
        let mut c = Client::connect(server.addr);
        c.send(&request);
        let r = c.read_response();
        assert_eq!(r.status, status, "{}: {}", what, r.head);
        still_serving(server.addr);
    }
    server.stop().unwrap();
}

#[test]
fn malformed_frames_get_their_close_code() {
    let _serial = serial();
    let server = TestServer::echo(Config::default().max_frame_size(1000));
    let close = |code: u16, reason: &[u8]| {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason);
        frame(true, 8, &p)
    };
    let joined = |frames: &[Vec<u8>]| frames.concat();
    let mut top_bit = frame_header(true, 2, 0);
    top_bit[1] = 0x80 | 127;
    top_bit.splice(2..2, [0x80, 0, 0, 0, 0, 0, 0, 1]);
    let table: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked", frame_with(true, 1, b"hi", None), 1002),
        (
            "RSV1",
            {
                let mut f = frame(true, 1, b"hi");
                f[0] |= 0x40;
                f
            },
            1002,
        ),
        ("opcode 3", frame(true, 3, b""), 1002),
        ("opcode 0xB", frame(true, 0xB, b""), 1002),
        ("fragmented ping", frame(false, 9, b""), 1002),
        ("126-byte ping", frame(true, 9, &[0; 126]), 1002),
        ("lone continuation", frame(true, 0, b"x"), 1002),
        (
            "text inside text",
            joined(&[frame(false, 1, b"a"), frame(true, 1, b"b")]),
            1002,
        ),
        ("length top bit", top_bit, 1002),
        ("invalid UTF-8", frame(true, 1, b"ok \xff"), 1007),
        (
            "UTF-8 cut at the last fragment",
            joined(&[frame(false, 1, b"\xe2\x82"), frame(true, 0, b"")]),
            1007,
        ),
        ("one-byte close", frame(true, 8, &[3]), 1002),
        ("close 1005", close(1005, b""), 1002),
        ("close 999", close(999, b""), 1002),
        ("close 2999", close(2999, b""), 1002),
        ("close reason not UTF-8", close(1000, b"\xc3("), 1007),
        (
            "frame over max_frame_size",
            frame(true, 2, &[0; 1001]),
            1009,
        ),
    ];
    for (what, bytes, code) in table {
        let mut c = Client::open(server.addr);
        c.send(&bytes);
        let f = c.read_close();
        assert_eq!(f.close_code(), Some(code), "{}: {:?}", what, f);
        still_serving(server.addr);
    }
    server.stop().unwrap();
}

/// 256 clients (the default connection cap) each send a message of the
/// default maximum size at once, and the handlers hold them all.
///
/// Budget for the growth of peak RSS, per connection the message itself,
/// a quarter of it for the allocator (the buffer grows in 256 KiB reads, and
/// a reallocation briefly holds the old buffer and the new), the 4 KiB read
/// buffer and the thread stack; plus 16 MiB for the test's own client side:
/// `clients × (1.25 × max_message_size + 4 KiB + stack_size) + 16 MiB`,
/// 353 MiB with the defaults. Measured: 268–284 MiB.
#[test]
fn many_max_size_messages_at_once_stay_within_budget() {
    let _serial = serial();
    let config = Config::default();
    let clients = config.max_connections;
    let size = config.max_message_size;
    let budget = (clients * (size + size / 4 + 4096 + config.stack_size)) as u64 + 16 * MIB;
    let (tx, rx) = report();
    let server = Server::bind("127.0.0.1:0", &config).unwrap();
    let server = TestServer::start(server, move |mut ws: WebSocket| {
        let mut held = Vec::new();
        while let Ok(msg) = ws.read() {
            if msg.is_data() {
                tx.send(msg.as_bytes().len());
                held.push(msg);
            }
        }
    });
    let mut conns: Vec<Client> = (0..clients).map(|_| Client::open(server.addr)).collect();
    let message = Arc::new(frame(true, 2, &vec![0xA5; size]));
    reset_peak();
    let before = rss();
    let barrier = Arc::new(Barrier::new(clients));
    let writers: Vec<_> = conns
        .iter()
        .map(|c| {
            let mut stream = c.stream.try_clone().unwrap();
            let (message, barrier) = (Arc::clone(&message), Arc::clone(&barrier));
            thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    barrier.wait();
                    stream.write_all(&message).unwrap();
                })
                .unwrap()
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    for _ in 0..clients {
        assert_eq!(recv(&rx), size);
    }
    let peak = status("VmHWM").saturating_sub(before);
    for c in &mut conns {
        c.send_frame(true, 8, &1000u16.to_be_bytes());
        c.expect_close(1000);
    }
    eprintln!(
        "{} clients x {} bytes at once: peak RSS grew {} MiB, budget {} MiB",
        clients,
        size,
        peak / MIB,
        budget / MIB
    );
    assert!(peak <= budget, "peak grew {} > budget {}", peak, budget);
    server.stop().unwrap();
}

/// What a connection received, and the error that ended it if any.
type Collected = (Vec<Message>, Option<Error>);

/// Collects every message until the connection ends, then reports them.
fn collector() -> (TestServer, Receiver<Collected>) {
    let (tx, rx) = report();
    let server = Server::bind("127.0.0.1:0", &Config::default()).unwrap();
    let server = TestServer::start(server, move |mut ws: WebSocket| {
        let mut got = Vec::new();
        loop {
            match ws.read() {
                Ok(msg @ Message::Close(_)) => {
                    got.push(msg);
                    return tx.send((got, None));
                }
                Ok(msg) => got.push(msg),
                Err(e) => return tx.send((got, Some(e))),
            }
        }
    });
    (server, rx)
}

fn texts(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| frame(true, 1, format!("message {}", i).as_bytes()))
        .collect()
}

fn assert_texts(got: &[Message], n: usize) {
    assert_eq!(got.len(), n + 1, "{:?}", got.last());
    for (i, m) in got[..n].iter().enumerate() {
        assert_eq!(m, &Message::Text(format!("message {}", i)));
    }
    assert!(matches!(got[n], Message::Close(_)), "{:?}", got[n]);
}

#[test]
fn messages_before_a_close_reach_the_handler() {
    let _serial = serial();
    let (server, rx) = collector();
    let mut c = Client::open(server.addr);
    let mut bytes = texts(1000);
    bytes.extend_from_slice(&frame(true, 8, &1000u16.to_be_bytes()));
    c.send(&bytes);
    c.expect_close(1000);
    let (got, error) = recv(&rx);
    assert!(error.is_none(), "{:?}", error);
    assert_texts(&got, 1000);
    server.stop().unwrap();
}

#[test]
fn messages_before_a_shutdown_reach_the_handler() {
    let _serial = serial();
    let (server, rx) = collector();
    let mut c = Client::open(server.addr);
    c.send(&texts(1000));
    // Round trip a ping, so all 1000 are in the server's hands.
    c.send_frame(true, 9, b"sync");
    let pong = c.read_frame();
    assert_eq!((pong.opcode, pong.payload.as_slice()), (10, &b"sync"[..]));
    server.handle.shutdown();
    let f = c.read_close();
    assert_eq!(f.close_code(), Some(1001));
    c.send_frame(true, 8, &1001u16.to_be_bytes());
    let (got, error) = recv(&rx);
    assert!(error.is_none(), "{:?}", error);
    let got: Vec<Message> = got
        .into_iter()
        .filter(|m| !matches!(m, Message::Ping(_)))
        .collect();
    assert_texts(&got, 1000);
    c.expect_eof();
    server.stop().unwrap();
}

#[test]
fn messages_sent_before_close_are_flushed_before_the_close_frame() {
    let _serial = serial();
    // 200 × 32 KiB from the handler and 50 more from a Sender: more than the
    // socket buffers hold, so the writes block while the client dawdles.
    for explicit_close in [true, false] {
        let server = Server::bind("127.0.0.1:0", &Config::default()).unwrap();
        let server = TestServer::start(server, move |mut ws: WebSocket| {
            let sender = ws.sender().unwrap();
            let other = thread::spawn(move || {
                for i in 0..50u8 {
                    sender.send(vec![i; 1000]).unwrap();
                }
            });
            for i in 0..200u32 {
                let mut data = vec![0u8; 32 * 1024];
                data[..4].copy_from_slice(&i.to_be_bytes());
                ws.send(data).unwrap();
            }
            other.join().unwrap();
            if explicit_close {
                ws.close(CloseCode(4000), "done").unwrap();
            }
        });
        let mut c = Client::open(server.addr);
        thread::sleep(Duration::from_millis(300));
        let (mut big, mut small) = (0u32, 0u8);
        let close = loop {
            let f = c.read_frame();
            match (f.opcode, f.payload.len()) {
                (8, _) => break f,
                (2, 32768) => {
                    assert_eq!(f.payload[..4], big.to_be_bytes());
                    big += 1;
                }
                (2, 1000) => {
                    assert_eq!(f.payload[0], small);
                    small += 1;
                }
                _ => panic!("unexpected frame {:?}", f.opcode),
            }
        };
        assert_eq!((big, small), (200, 50));
        let code = if explicit_close { 4000 } else { 1000 };
        assert_eq!(close.close_code(), Some(code));
        // The server may be gone already when it closed first.
        let _ = c.try_send(&frame(true, 8, &code.to_be_bytes()));
        c.expect_eof();
        server.stop().unwrap();
    }
}
