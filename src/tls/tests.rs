//! One TLS session read and written from several threads, over real
//! loopback sockets, on both sides; and the refusal alert.

use std::io::{self, IoSlice};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::stream::REFUSAL_ALERT;
use super::{TlsConfig, TlsStream};
use crate::error::Result;
use crate::stream::{Stream, SEALED};

const TIMEOUT: Duration = Duration::from_secs(20);

fn cert(name: &str) -> String {
    format!("{}/tests/certs/{}", env!("CARGO_MANIFEST_DIR"), name)
}

fn server_config() -> TlsConfig {
    TlsConfig::server(cert("a.pem"), cert("a.key")).unwrap()
}

fn client_config() -> TlsConfig {
    TlsConfig::client_with_ca(cert("ca.pem")).unwrap()
}

fn deadline() -> Instant {
    Instant::now() + TIMEOUT
}

/// The server side of a TLS handshake on `tcp`.
fn accept(tcp: TcpStream, tls: &TlsConfig) -> Result<TlsStream> {
    let stream = TlsStream::new(tcp, tls.server_session()?.into());
    stream.handshake(deadline())?;
    Ok(stream)
}

/// The client side of a TLS handshake on `tcp` to `host`.
fn connect(tcp: TcpStream, tls: &TlsConfig, host: &str) -> Result<TlsStream> {
    let stream = TlsStream::new(tcp, tls.client_session(host)?.into());
    stream.handshake(deadline())?;
    Ok(stream)
}

/// A connected pair of TLS streams over loopback, handshakes done.
fn pair() -> (Arc<TlsStream>, Arc<TlsStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = server_config();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        accept(tcp, &tls).unwrap()
    });
    let tcp = TcpStream::connect(addr).unwrap();
    let client = connect(tcp, &client_config(), "localhost").unwrap();
    let server = server.join().unwrap();
    for s in [&server, &client] {
        Stream::set_read_timeout(s, Some(TIMEOUT)).unwrap();
        Stream::set_write_timeout(s, Some(TIMEOUT)).unwrap();
    }
    (Arc::new(server), Arc::new(client))
}

/// A small deterministic generator, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn payload_byte(writer: u8, seq: u32, i: usize) -> u8 {
    (i as u32)
        .wrapping_mul(31)
        .wrapping_add(seq)
        .wrapping_add(writer as u32 * 7) as u8
}

/// Sends `count` messages (a 9-byte header: length, writer, sequence; then
/// a checkable payload) as one `write_shared` each, and a key update every
/// `key_every` messages.
fn writer(stream: Arc<TlsStream>, id: u8, count: u32, max: usize, key_every: u32, seed: u64) {
    let mut rng = Rng(seed);
    for seq in 0..count {
        let len = (rng.next() as usize) % max;
        let body: Vec<u8> = (0..len).map(|i| payload_byte(id, seq, i)).collect();
        let mut head = Vec::with_capacity(9);
        head.extend_from_slice(&(len as u32).to_be_bytes());
        head.push(id);
        head.extend_from_slice(&seq.to_be_bytes());
        let n = stream
            .write_shared(&[IoSlice::new(&head), IoSlice::new(&body)], SEALED)
            .unwrap();
        assert_eq!(n, 9 + len);
        if key_every > 0 && seq % key_every == key_every - 1 {
            stream.refresh_traffic_keys().unwrap();
        }
    }
}

/// Reads through `read_shared` in odd-sized pieces and checks every
/// message of `writers` writers, each in order; returns the count.
fn reader(stream: Arc<TlsStream>, writers: u8, count: u32) -> u32 {
    let mut next = vec![0u32; writers as usize];
    let mut pending: Vec<u8> = Vec::new();
    let mut piece = vec![0u8; 7_001];
    let mut seen = 0;
    while seen < writers as u32 * count {
        let n = stream.read_shared(&mut piece, SEALED).unwrap();
        assert!(n > 0, "end of stream after {} messages", seen);
        pending.extend_from_slice(&piece[..n]);
        loop {
            if pending.len() < 9 {
                break;
            }
            let len = u32::from_be_bytes([pending[0], pending[1], pending[2], pending[3]]) as usize;
            if pending.len() < 9 + len {
                break;
            }
            let id = pending[4];
            let seq = u32::from_be_bytes([pending[5], pending[6], pending[7], pending[8]]);
            assert_eq!(seq, next[id as usize], "writer {} out of order", id);
            next[id as usize] += 1;
            for (i, b) in pending[9..9 + len].iter().enumerate() {
                assert_eq!(
                    *b,
                    payload_byte(id, seq, i),
                    "writer {} message {}",
                    id,
                    seq
                );
            }
            pending.drain(..9 + len);
            seen += 1;
        }
    }
    seen
}

/// Both sides send from two threads each while reading on a third, with
/// TLS 1.3 key updates from both sides, more than the 32 that rustls
/// before 0.23.33 allowed a connection in its whole life.
fn full_duplex(count: u32, max: usize, key_every: u32) {
    let (server, client) = pair();
    let mut writers = Vec::new();
    for (side, stream) in [(0u64, &server), (1u64, &client)] {
        for id in 0..2u8 {
            let stream = Arc::clone(stream);
            let seed = 0x9E37_79B9 + side * 10 + id as u64;
            writers.push(thread::spawn(move || {
                writer(stream, id, count, max, key_every, seed)
            }));
        }
    }
    let readers: Vec<_> = [&server, &client]
        .iter()
        .map(|s| {
            let s = Arc::clone(s);
            thread::spawn(move || reader(s, 2, count))
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    for r in readers {
        assert_eq!(r.join().unwrap(), 2 * count);
    }
}

#[test]
fn small_messages_both_ways_from_two_threads_each_with_40_key_updates_per_side() {
    full_duplex(4_000, 2_000, 100);
}

#[test]
fn large_messages_both_ways_from_two_threads_each() {
    // Up to 200 KB per write: more than the 64 KiB rustls holds unsent, so
    // the writes must go out in chunks; more than the kernel buffers, so
    // both sides block in writes at once and only a reader that never
    // waits for the session behind a socket write keeps them going.
    full_duplex(150, 200_000, 4);
}

#[test]
fn reads_of_one_byte_leave_the_rest_in_the_session() {
    let (server, client) = pair();
    let message: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let sent = message.clone();
    let w = thread::spawn(move || {
        client.write_shared(&[IoSlice::new(&sent)], SEALED).unwrap();
        client
    });
    let mut got = Vec::new();
    let mut one = [0u8; 1];
    while got.len() < message.len() {
        let n = server.read_shared(&mut one, SEALED).unwrap();
        assert_eq!(n, 1);
        got.push(one[0]);
    }
    assert_eq!(got, message);
    drop(w.join().unwrap());
}

#[test]
fn buffers_grown_for_large_messages_are_given_back_by_the_next_idle_tick() {
    let (server, client) = pair();
    // The handshake's flights and reads leave nothing held.
    assert_eq!(server.held(), (0, 0), "server after the handshake");
    assert_eq!(client.held(), (0, 0), "client after the handshake");

    // 1 MiB in: the server's read buffer grows while reads come full.
    let message: Vec<u8> = (0..1u32 << 20).map(|i| (i % 253) as u8).collect();
    let sent = message.clone();
    let w = thread::spawn(move || {
        client.write_shared(&[IoSlice::new(&sent)], SEALED).unwrap();
        client
    });
    let mut got = Vec::with_capacity(message.len());
    let mut buf = vec![0u8; 64 * 1024];
    let mut most = 0;
    while got.len() < message.len() {
        let n = server.read_shared(&mut buf, SEALED).unwrap();
        assert!(n > 0, "end of stream after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
        most = most.max(server.held().0);
    }
    assert!(got == message, "the message arrived changed");
    assert!(most > 4096, "the read buffer never grew ({} bytes)", most);
    let client = w.join().unwrap();

    // Small messages out (the write buffer is kept between writes), then
    // silence: the read that times out is the idle tick.
    for size in [100, 3000] {
        server
            .write_shared(&[IoSlice::new(&message[..size])], SEALED)
            .unwrap();
        let mut back = vec![0u8; size];
        let mut have = 0;
        while have < size {
            have += client.read_shared(&mut back[have..], SEALED).unwrap();
        }
        assert!(back[..] == message[..size]);
    }
    Stream::set_read_timeout(&*server, Some(Duration::from_millis(20))).unwrap();
    match server.read_shared(&mut buf, SEALED) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {}
        other => panic!("a silent peer gave {:?}", other),
    }
    assert_eq!(server.held(), (0, 0), "server after an idle tick");
}

#[test]
fn a_tls13_servers_tickets_go_out_with_its_first_write() {
    let (server, client) = pair();
    client
        .write_shared(&[IoSlice::new(b"GET")], SEALED)
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(server.read_shared(&mut buf, SEALED).unwrap(), 3);
    // Neither the handshake nor a read sent the tickets on their own.
    assert!(
        server.holds_output(),
        "the tickets went out in a write of their own"
    );
    server
        .write_shared(&[IoSlice::new(b"101")], SEALED)
        .unwrap();
    assert!(
        !server.holds_output(),
        "the first write left the tickets behind"
    );
    // The client takes them in front of the first record and reads on.
    assert_eq!(client.read_shared(&mut buf, SEALED).unwrap(), 3);
    assert_eq!(&buf[..3], b"101");
}

#[test]
fn close_notify_is_end_of_stream_and_a_cut_wakes_a_blocked_reader() {
    let (server, client) = pair();
    // close_notify, then TCP half-close: the server reads end of stream.
    client.shutdown(Shutdown::Write).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(server.read_shared(&mut buf, SEALED).unwrap(), 0);

    // A reader blocked on a silent peer is woken by a cut from another
    // thread, with end of stream (no close_notify came from the peer).
    let (server, client) = pair();
    let blocked = Arc::clone(&server);
    let r = thread::spawn(move || blocked.read_shared(&mut [0u8; 16], SEALED));
    server.shutdown(Shutdown::Both).unwrap();
    match r.join().unwrap() {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
        other => panic!("a cut reader got {:?}", other),
    }
    // With no writer busy, the cut said close_notify first: the peer sees
    // a clean end, not a truncation.
    assert_eq!(client.read_shared(&mut buf, SEALED).unwrap(), 0);
}

#[test]
fn a_client_over_the_cap_gets_a_tls_alert_not_plaintext() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let refuser = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        super::stream::refuse(tcp);
    });
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    let err = connect(tcp, &client_config(), "localhost").unwrap_err();
    refuser.join().unwrap();
    let text = format!("{:?}", err);
    assert!(text.contains("InternalError"), "{}", text);
    assert_eq!(REFUSAL_ALERT[0], 0x15, "an alert record");
}

#[test]
fn the_server_offers_http11_alone_in_alpn() {
    let (server, client) = pair();
    assert_eq!(server.alpn_protocol().as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(client.alpn_protocol().as_deref(), Some(&b"http/1.1"[..]));
}

#[test]
fn a_client_checks_the_name_and_the_issuer() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = server_config();
    let server = thread::spawn(move || {
        for _ in 0..2 {
            let (tcp, _) = listener.accept().unwrap();
            assert!(accept(tcp, &tls).is_err());
        }
    });
    // Not the name on the certificate.
    let tcp = TcpStream::connect(addr).unwrap();
    let err = connect(tcp, &client_config(), "example.com").unwrap_err();
    assert!(
        format!("{:?}", err).contains("not valid for name"),
        "{:?}",
        err
    );
    // Not a CA we trust: the certificate itself as the only root.
    let tcp = TcpStream::connect(addr).unwrap();
    let other = TlsConfig::client_with_ca(cert("b.pem")).unwrap();
    let err = connect(tcp, &other, "localhost").unwrap_err();
    assert!(format!("{:?}", err).contains("UnknownIssuer"), "{:?}", err);
    server.join().unwrap();
}

#[test]
fn read_after_the_peer_vanishes_without_close_notify_is_a_disconnect() {
    let (server, client) = pair();
    // Cut TCP under the client's session: no close_notify goes out.
    client.get_ref().shutdown(Shutdown::Both).unwrap();
    let err = server.read_shared(&mut [0u8; 8], SEALED).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
}

#[test]
fn a_cut_never_waits_for_a_writer_blocked_on_a_peer_that_does_not_read() {
    let (_server, client) = pair();
    let blocked = Arc::clone(&client);
    // 8 MB to a peer that reads nothing: the write blocks once the kernel
    // buffers are full, holding the write order.
    let w =
        thread::spawn(move || blocked.write_shared(&[IoSlice::new(&vec![7u8; 8 << 20])], SEALED));
    // Whenever it lands, the cut returns at once and fails the write.
    client.shutdown(Shutdown::Both).unwrap();
    assert!(w.join().unwrap().is_err());
}
