//! permessage-deflate (RFC 7692) over real sockets: negotiation, echo of
//! compressed messages, the RSV1 rules, bombs and limits, and the hub's
//! compress-once broadcast. A raw client plays the peer and inflates the
//! server's frames with a fresh decoder whose window is exactly the
//! negotiated 2^15 bytes.

#![cfg(feature = "deflate")]

mod support;

use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use support::{upgrade_request_with, Client, TestServer, TIMEOUT};
use tinyws::{Config, Deflate, Hub, Message, Server, WebSocket};

const OFFER: &str = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
const ANSWER: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

fn deflate_config() -> Config {
    Config::default().deflate(Some(Deflate::default()))
}

/// Raw deflate with a sync flush, the 00 00 ff ff tail stripped: one
/// message as a peer without context takeover sends it.
fn compress(data: &[u8]) -> Vec<u8> {
    use miniz_oxide::deflate::core::{
        compress, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush,
    };
    let mut c = CompressorOxide::new(create_comp_flags_from_zip_params(6, -15, 0));
    let mut out = vec![0u8; data.len() + data.len() / 8 + 64];
    let (_, used, written) = compress(&mut c, data, &mut out, TDEFLFlush::Sync);
    assert_eq!(used, data.len());
    out.truncate(written);
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(written - 4);
    out
}

/// Inflates one message as a fresh decoder with a window of exactly 2^15
/// bytes does: the wrapping 32 KiB dictionary of the inflate core.
fn inflate(wire: &[u8]) -> Vec<u8> {
    let mut input = wire.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut d = DecompressorOxide::new();
    let mut window = vec![0u8; 1 << 15];
    let (mut pos, mut out, mut inp) = (0, Vec::new(), &input[..]);
    loop {
        let (status, used, written) = decompress(
            &mut d,
            inp,
            &mut window,
            pos,
            inflate_flags::TINFL_FLAG_HAS_MORE_INPUT,
        );
        assert!((status as i32) >= 0, "{:?}", status);
        out.extend_from_slice(&window[pos..pos + written]);
        pos = (pos + written) & (window.len() - 1);
        inp = &inp[used..];
        if inp.is_empty() && written == 0 {
            return out;
        }
    }
}

/// A masked client frame with RSV1 set as given.
fn frame_rsv(fin: bool, rsv1: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = support::frame(fin, opcode, payload);
    if rsv1 {
        f[0] |= 0x40;
    }
    f
}

/// Opens a connection that offers `offer` and returns the answer's
/// Sec-WebSocket-Extensions.
fn open_with(addr: std::net::SocketAddr, offer: &str) -> (Client, Option<String>) {
    let (c, r) = Client::request(addr, &upgrade_request_with("/", offer));
    assert_eq!(r.status, 101, "{}", r.head);
    let ext = r.header("sec-websocket-extensions").map(str::to_owned);
    (c, ext)
}

fn json(len: usize) -> String {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < len {
        s.push_str(&format!(
            "{{\"seq\":{},\"t\":2{}.{},\"h\":4{}}},",
            i,
            i % 10,
            i % 7,
            i % 5
        ));
        i += 1;
    }
    s.truncate(len);
    s
}

#[test]
fn negotiates_from_config_only() {
    let server = TestServer::echo(deflate_config());
    let (_c, ext) = open_with(server.addr, OFFER);
    assert_eq!(ext.as_deref(), Some(ANSWER));
    // An offer the compressor cannot honour is declined, not failed.
    let (_c, ext) = open_with(
        server.addr,
        "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9\r\n",
    );
    assert_eq!(ext, None);
    // The first acceptable of several offers.
    let (_c, ext) = open_with(
        server.addr,
        "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9, permessage-deflate; server_max_window_bits=15\r\n",
    );
    assert_eq!(ext.as_deref(), Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15"));
    server.stop().unwrap();
    // Without Config::deflate the offer is declined.
    let plain = TestServer::echo(Config::default());
    let (_c, ext) = open_with(plain.addr, OFFER);
    assert_eq!(ext, None);
    plain.stop().unwrap();
}

#[test]
fn echoes_compressed_messages_and_small_ones_plain() {
    let server = TestServer::echo(deflate_config());
    let (mut c, _) = open_with(server.addr, OFFER);
    for len in [0, 5, 127, 128, 1000, 40_000, 100_000] {
        let text = json(len);
        c.send(&frame_rsv(true, true, 1, &compress(text.as_bytes())));
        let f = c.read_data();
        assert_eq!(f.opcode, 1);
        if len < 128 {
            assert_eq!(f.rsv, 0, "{} bytes should go out plain", len);
            assert_eq!(f.payload, text.as_bytes());
        } else {
            assert_eq!(f.rsv, 0x40, "{} bytes should go out compressed", len);
            assert!(f.payload.len() < len / 2 + 16);
            // Each message inflates alone with a 15-bit window: no context
            // was taken over from the one before.
            assert_eq!(inflate(&f.payload), text.as_bytes());
        }
    }
    // A plain message on a deflate connection is fine too.
    c.send_text("plain");
    assert_eq!(c.read_data().payload, b"plain");
    // Fragmented: RSV1 on the first frame only.
    let wire = compress(json(3000).as_bytes());
    let (a, b) = wire.split_at(wire.len() / 3);
    c.send(&frame_rsv(false, true, 2, a));
    c.send(&support::frame(true, 0, b));
    let f = c.read_data();
    assert_eq!((f.opcode, f.rsv), (2, 0x40));
    assert_eq!(inflate(&f.payload), json(3000).as_bytes());
    server.stop().unwrap();
}

#[test]
fn rsv1_only_on_a_data_message_first_frame() {
    let server = TestServer::echo(deflate_config());
    let wire = compress(b"hello hello hello");
    let cases: Vec<Vec<u8>> = vec![
        // On a continuation.
        [
            frame_rsv(false, true, 1, &wire[..2]),
            frame_rsv(true, true, 0, &wire[2..]),
        ]
        .concat(),
        // On a Ping.
        frame_rsv(true, true, 9, b"x"),
        // On a Close.
        frame_rsv(true, true, 8, &[0x03, 0xe8]),
    ];
    for bytes in cases {
        let (mut c, _) = open_with(server.addr, OFFER);
        c.send(&bytes);
        c.expect_close(1002);
    }
    // RSV1 without deflate agreed.
    let (mut c, ext) = open_with(server.addr, "X-Nothing: 1\r\n");
    assert_eq!(ext, None);
    c.send(&frame_rsv(true, true, 1, &wire));
    c.expect_close(1002);
    server.stop().unwrap();
}

#[test]
fn bombs_and_limits_count_inflated_bytes() {
    // 64 MiB of zeros is about 64 KiB on the wire.
    let bomb = compress(&vec![0u8; 64 << 20]);
    assert!(bomb.len() < 128 * 1024);
    let config = deflate_config().max_message_size(1 << 20);
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let server = Server::bind("127.0.0.1:0", &config).unwrap();
    let server = TestServer::start(server, move |mut ws: WebSocket| {
        let r = ws.read();
        let _ = tx.lock().unwrap().send(r.map_err(|e| e.to_string()));
    });
    let (mut c, _) = open_with(server.addr, OFFER);
    c.send(&frame_rsv(true, true, 2, &bomb));
    c.expect_close(1009);
    let err = rx.recv_timeout(TIMEOUT).unwrap().unwrap_err();
    assert!(err.contains("1048577 > 1048576"), "{}", err);

    // Split over fragments: still counted as the output grows.
    let (mut c, _) = open_with(server.addr, OFFER);
    let (a, b) = bomb.split_at(1000);
    c.send(&frame_rsv(false, true, 2, a));
    let _ = c.try_send(&support::frame(true, 0, b));
    c.expect_close(1009);
    assert!(rx.recv_timeout(TIMEOUT).unwrap().is_err());
    server.stop().unwrap();

    // max_frame_size counts a frame's inflated bytes too.
    let config = deflate_config().max_frame_size(1000);
    let server = TestServer::echo(config);
    let (mut c, _) = open_with(server.addr, OFFER);
    let wire = compress(json(5000).as_bytes());
    assert!(wire.len() < 1000);
    c.send(&frame_rsv(true, true, 1, &wire));
    c.expect_close(1009);
    server.stop().unwrap();
}

#[test]
fn bad_data_and_bad_text() {
    let server = TestServer::echo(deflate_config());
    // Not deflate data.
    let (mut c, _) = open_with(server.addr, OFFER);
    c.send(&frame_rsv(true, true, 2, &[0xff; 20]));
    c.expect_close(1002);
    // Invalid UTF-8 inside a compressed text message: 1007, found while
    // inflating (fail fast), not after.
    let (mut c, _) = open_with(server.addr, OFFER);
    let mut text = json(2000).into_bytes();
    text[100] = 0xff;
    c.send(&frame_rsv(false, true, 1, &compress(&text)));
    c.expect_close(1007);
    server.stop().unwrap();
}

#[test]
fn hub_compresses_once_for_deflate_subscribers_only() {
    let hub = Hub::new(Duration::from_secs(2));
    let (tx, subscribed) = mpsc::channel();
    let tx = Mutex::new(tx);
    let h = hub.clone();
    let server = Server::bind("127.0.0.1:0", &deflate_config()).unwrap();
    let server = TestServer::start(server, move |mut ws: WebSocket| {
        h.subscribe(ws.sender().unwrap()).unwrap();
        let _ = tx.lock().unwrap().send(());
        while ws.read().is_ok() {}
    });
    let (mut a, ext) = open_with(server.addr, OFFER);
    assert!(ext.is_some());
    subscribed.recv_timeout(TIMEOUT).unwrap();
    let (mut b, ext) = open_with(server.addr, "X-Nothing: 1\r\n");
    assert!(ext.is_none());
    subscribed.recv_timeout(TIMEOUT).unwrap();
    let (mut c, _) = open_with(server.addr, OFFER);
    subscribed.recv_timeout(TIMEOUT).unwrap();

    let reading = json(1024);
    assert_eq!(hub.broadcast(reading.as_str()), 3);
    let fa = a.read_data();
    let fc = c.read_data();
    let fb = b.read_data();
    assert_eq!(fa.rsv, 0x40);
    assert_eq!(fa, fc, "one compressed frame for every deflate subscriber");
    assert_eq!(inflate(&fa.payload), reading.as_bytes());
    assert_eq!((fb.rsv, fb.payload.as_slice()), (0, reading.as_bytes()));
    // Below the threshold everyone gets the plain frame.
    assert_eq!(hub.broadcast("21.5"), 3);
    for client in [&mut a, &mut b, &mut c] {
        let f = client.read_data();
        assert_eq!((f.rsv, f.payload.as_slice()), (0, &b"21.5"[..]));
    }
    drop((a, b, c));
    server.stop().unwrap();
}

#[test]
fn context_takeover_when_configured() {
    let config = Config::default().deflate(Some(Deflate::default().context_takeover(true)));
    let server = TestServer::echo(config);
    let (mut c, ext) = open_with(
        server.addr,
        "Sec-WebSocket-Extensions: permessage-deflate\r\n",
    );
    assert_eq!(ext.as_deref(), Some("permessage-deflate"));
    // The client keeps its context too: the second message refers back.
    use miniz_oxide::deflate::core::{
        compress, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush,
    };
    let mut comp = CompressorOxide::new(create_comp_flags_from_zip_params(6, -15, 0));
    let text = json(600);
    let mut sizes = Vec::new();
    let mut got = Vec::new();
    for _ in 0..2 {
        let mut out = vec![0u8; 2000];
        let (_, _, n) = compress(&mut comp, text.as_bytes(), &mut out, TDEFLFlush::Sync);
        out.truncate(n - 4);
        sizes.push(out.len());
        c.send(&frame_rsv(true, true, 1, &out));
        let f = c.read_data();
        assert_eq!(f.rsv, 0x40);
        got.push(f.payload);
    }
    assert!(sizes[1] < sizes[0] / 4, "{:?}", sizes);
    // The server's second message refers into its first: it inflates only
    // with the context kept.
    assert!(
        got[1].len() < got[0].len() / 2,
        "{} {}",
        got[0].len(),
        got[1].len()
    );
    let both = {
        let mut d = DecompressorOxide::new();
        let mut out = vec![0u8; 4096];
        let mut pos = 0;
        for wire in &got {
            let mut input = wire.clone();
            input.extend_from_slice(&[0, 0, 0xff, 0xff]);
            let (status, used, written) = decompress(
                &mut d,
                &input,
                &mut out,
                pos,
                inflate_flags::TINFL_FLAG_HAS_MORE_INPUT
                    | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
            );
            assert!((status as i32) >= 0 && used == input.len(), "{:?}", status);
            pos += written;
        }
        out.truncate(pos);
        out
    };
    assert_eq!(both, [text.as_bytes(), text.as_bytes()].concat());
    server.stop().unwrap();
}

#[test]
fn read_returns_the_inflated_message() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let server = Server::bind("127.0.0.1:0", &deflate_config()).unwrap();
    let server = TestServer::start(server, move |mut ws: WebSocket| {
        let _ = tx
            .lock()
            .unwrap()
            .send(ws.read().map_err(|e| e.to_string()));
    });
    let (mut c, _) = open_with(server.addr, OFFER);
    let text = json(777);
    c.send(&frame_rsv(true, true, 1, &compress(text.as_bytes())));
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), Ok(Message::Text(text)));
    server.stop().unwrap();
}

#[test]
fn client_and_server_agree_and_round_trip() {
    let server = TestServer::echo(deflate_config());
    let url = format!("ws://{}/", server.addr);
    let mut ws = tinyws::Client::new(url)
        .config(deflate_config())
        .connect()
        .unwrap();
    assert_eq!(
        ws.response()
            .and_then(|r| r.header("sec-websocket-extensions")),
        Some(ANSWER)
    );
    for len in [0, 10, 127, 128, 5000, 100_000] {
        let text = json(len);
        ws.send(text.as_str()).unwrap();
        assert_eq!(ws.read().unwrap(), Message::Text(text));
    }
    drop(ws);
    server.stop().unwrap();
}

#[test]
fn client_fails_an_answer_its_offer_rules_out() {
    // A raw server that answers with client_max_window_bits, which the
    // client (whose compressor cannot shrink its window) never offers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0);
            head.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&head).to_string();
        let key = text
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap()
            .trim()
            .to_owned();
        let offer = text
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Extensions: "))
            .map(str::to_owned);
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: permessage-deflate; \
             server_no_context_takeover; client_max_window_bits=10\r\n\r\n",
            tinyws::accept_key(&key)
        );
        s.write_all(answer.as_bytes()).unwrap();
        offer
    });
    let err = tinyws::Client::new(format!("ws://{}/", addr))
        .config(deflate_config())
        .connect()
        .unwrap_err();
    assert!(matches!(err, tinyws::Error::Protocol(_)), "{}", err);
    let offer = t.join().unwrap().expect("the client offered deflate");
    assert!(!offer.contains("client_max_window_bits"), "{}", offer);
}
