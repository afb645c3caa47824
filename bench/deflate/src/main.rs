//! Memory per (de)compressor state and CPU per message of one
//! permessage-deflate backend, the one flate2 was built with (see Cargo.toml).
//! The figures feed the backend decision in DESIGN.md.
//!
//! Input is sensor JSON: readings of a Pi-class device, as a hub broadcasts
//! them. Messages are compressed as RFC 7692 does: raw deflate, a sync flush
//! per message, the `00 00 ff ff` tail stripped, and (no context takeover)
//! a reset of both states between messages.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use std::hint::black_box;
use std::time::{Duration, Instant};

const BACKEND: &str = if cfg!(feature = "zlib") {
    "zlib (C, libz-sys static)"
} else if cfg!(feature = "zlib-rs") {
    "zlib-rs"
} else {
    "miniz_oxide"
};

/// A deterministic generator, so every backend sees the same bytes.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// One reading as a JSON object.
fn reading(rng: &mut Lcg, seq: u64) -> String {
    const ROOMS: [&str; 4] = ["kitchen", "garage", "attic", "porch"];
    let room = ROOMS[(rng.next() % 4) as usize];
    format!(
        "{{\"device\":\"pi-{}\",\"sensor\":\"bme280\",\"seq\":{},\"ts\":{},\"temperature\":{}.{:02},\"humidity\":{}.{},\"pressure\":{}.{:02}}}",
        room,
        seq,
        1_764_500_000_000u64 + seq * 100 + rng.next() % 7,
        15 + rng.next() % 10,
        rng.next() % 100,
        35 + rng.next() % 30,
        rng.next() % 10,
        990 + rng.next() % 40,
        rng.next() % 100
    )
}

/// `count` messages of exactly `size` bytes: a short reading for 32 bytes,
/// otherwise a JSON array of readings cut to length.
fn messages(size: usize, count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Lcg(seed);
    let mut seq = 0;
    (0..count)
        .map(|_| {
            let mut m = Vec::with_capacity(size + 256);
            if size <= 64 {
                let s = format!(
                    "{{\"t\":{}.{:02},\"h\":{},\"seq\":{}}}",
                    15 + rng.next() % 10,
                    rng.next() % 100,
                    35 + rng.next() % 30,
                    seq
                );
                m.extend_from_slice(s.as_bytes());
                seq += 1;
            } else {
                m.push(b'[');
                while m.len() < size {
                    m.extend_from_slice(reading(&mut rng, seq).as_bytes());
                    m.push(b',');
                    seq += 1;
                }
            }
            m.resize(size, b' ');
            m
        })
        .collect()
}

fn new_compress(bits: u8) -> Compress {
    #[cfg(any(feature = "zlib", feature = "zlib-rs"))]
    {
        Compress::new_with_window_bits(Compression::new(level()), false, bits)
    }
    #[cfg(not(any(feature = "zlib", feature = "zlib-rs")))]
    {
        assert_eq!(bits, 15, "miniz_oxide has a fixed 15-bit window");
        Compress::new(Compression::new(level()), false)
    }
}

fn new_decompress(bits: u8) -> Decompress {
    #[cfg(any(feature = "zlib", feature = "zlib-rs"))]
    {
        Decompress::new_with_window_bits(false, bits)
    }
    #[cfg(not(any(feature = "zlib", feature = "zlib-rs")))]
    {
        assert_eq!(bits, 15, "miniz_oxide has a fixed 15-bit window");
        Decompress::new(false)
    }
}

/// The compression level, from `DEFLATE_LEVEL` (default 6, zlib's).
fn level() -> u32 {
    std::env::var("DEFLATE_LEVEL").ok().and_then(|v| v.parse().ok()).unwrap_or(6)
}

/// Compresses one message with a sync flush and strips the tail.
fn compress(c: &mut Compress, msg: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(msg.len() + 64);
    let start_in = c.total_in();
    loop {
        let done = (c.total_in() - start_in) as usize;
        c.compress_vec(&msg[done..], out, FlushCompress::Sync)
            .expect("compress");
        if (c.total_in() - start_in) as usize == msg.len() && out.ends_with(&[0, 0, 0xff, 0xff]) {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    out.truncate(out.len() - 4);
}

/// Inflates one message (tail appended) into `out`.
fn decompress(d: &mut Decompress, wire: &[u8], out: &mut Vec<u8>) {
    out.clear();
    for part in [wire, &[0, 0, 0xff, 0xff][..]] {
        let start = d.total_in();
        while ((d.total_in() - start) as usize) < part.len() {
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(256));
            }
            let done = (d.total_in() - start) as usize;
            d.decompress_vec(&part[done..], out, FlushDecompress::Sync)
                .expect("decompress");
        }
    }
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

/// RSS per state, for 100 states each after `input` bytes of traffic.
fn memory(bits: u8, total: usize) {
    const N: usize = 100;
    let msgs = messages(1024, total / 1024, 7);
    let mut out = Vec::new();
    let mut wires = Vec::new();
    let mut tmp = new_compress(bits);
    for m in &msgs {
        compress(&mut tmp, m, &mut out);
        wires.push(out.clone());
    }
    drop(tmp);
    let before = rss_kib();
    let mut cs: Vec<Compress> = (0..N).map(|_| new_compress(bits)).collect();
    for c in &mut cs {
        for m in &msgs {
            compress(c, m, &mut out);
        }
    }
    let after_c = rss_kib();
    let mut ds: Vec<Decompress> = (0..N).map(|_| new_decompress(bits)).collect();
    let mut plain = Vec::with_capacity(2048);
    for d in &mut ds {
        for w in &wires {
            decompress(d, w, &mut plain);
        }
    }
    let after_d = rss_kib();
    println!(
        "memory  wb={bits:2} after {:6} B: compressor {:4} KiB, decompressor {:3} KiB",
        msgs.len() * 1024,
        (after_c - before) / N as u64,
        (after_d - after_c) / N as u64
    );
    black_box((cs, ds));
}

/// CPU per message, compress and inflate separately, with a reset of each
/// state per message (`takeover == false`) or not.
fn cpu(bits: u8, size: usize, takeover: bool) {
    let count = (4 << 20) / size.max(256);
    let count = count.clamp(200, 20_000);
    let msgs = messages(size, count, 11);
    let mut c = new_compress(bits);
    let mut d = new_decompress(bits);
    let mut wires: Vec<Vec<u8>> = Vec::with_capacity(msgs.len());
    let mut out = Vec::new();
    // Warm up and collect the wire forms.
    for m in &msgs {
        if !takeover {
            c.reset();
        }
        compress(&mut c, m, &mut out);
        wires.push(out.clone());
    }
    let reps = 3;
    let mut tc = Duration::MAX;
    let mut td = Duration::MAX;
    for _ in 0..reps {
        c.reset();
        let t = Instant::now();
        for m in &msgs {
            if !takeover {
                c.reset();
            }
            compress(&mut c, m, &mut out);
            black_box(&out);
        }
        tc = tc.min(t.elapsed());
        d.reset(false);
        let mut plain = Vec::with_capacity(size + 64);
        let t = Instant::now();
        for (w, m) in wires.iter().zip(&msgs) {
            if !takeover {
                d.reset(false);
            }
            decompress(&mut d, w, &mut plain);
            debug_assert_eq!(&plain, m);
            black_box(&plain);
        }
        td = td.min(t.elapsed());
        assert_eq!(&plain, msgs.last().unwrap());
    }
    let wire: usize = wires.iter().map(Vec::len).sum();
    let n = msgs.len() as f64;
    println!(
        "cpu     wb={bits:2} {:8} {:6} B: deflate {:7.2} us, inflate {:6.2} us, wire {:6.1} B ({:5.1} %)",
        if takeover { "takeover" } else { "reset" },
        size,
        tc.as_secs_f64() * 1e6 / n,
        td.as_secs_f64() * 1e6 / n,
        wire as f64 / n,
        100.0 * wire as f64 / (n * size as f64)
    );
}

/// The reset alone, as paid per message without context takeover.
fn reset_cost(bits: u8) {
    let mut c = new_compress(bits);
    let mut d = new_decompress(bits);
    let mut out = Vec::new();
    compress(&mut c, &messages(1024, 1, 3)[0], &mut out);
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        c.reset();
        black_box(&c);
    }
    let rc = t.elapsed();
    let t = Instant::now();
    for _ in 0..n {
        d.reset(false);
        black_box(&d);
    }
    let rd = t.elapsed();
    println!(
        "reset   wb={bits:2}: compressor {:.2} us, decompressor {:.2} us",
        rc.as_secs_f64() * 1e6 / n as f64,
        rd.as_secs_f64() * 1e6 / n as f64
    );
}

/// CPU per message of tinyws's own module: stateless compress (pooled
/// compressor) and bounded inflate (pooled decompressor), per level; and
/// the bytes on the wire, frame header included, of small messages, which
/// set the threshold below which a message goes out plain.
#[cfg(feature = "tinyws")]
fn module() {
    use tinyws::fuzzing::{deflate_message, inflate_pieces};
    /// A server frame header's length for a payload of `n` bytes.
    fn header(n: usize) -> usize {
        match n {
            0..=125 => 2,
            126..=65535 => 4,
            _ => 10,
        }
    }
    println!("backend tinyws deflate module (miniz_oxide {})", "0.8");
    for level in [1u8, 3, 6] {
        for size in [32, 64, 128, 256, 1024, 4096, 16384] {
            let count = ((4 << 20) / size.max(256)).clamp(200, 20_000);
            let msgs = messages(size, count, 11);
            let wires: Vec<Vec<u8>> = msgs.iter().map(|m| deflate_message(m, level)).collect();
            let mut tc = Duration::MAX;
            let mut td = Duration::MAX;
            for _ in 0..3 {
                let t = Instant::now();
                for m in &msgs {
                    black_box(deflate_message(m, level));
                }
                tc = tc.min(t.elapsed());
                let t = Instant::now();
                for w in &wires {
                    black_box(inflate_pieces(&[w], &[], size, false));
                }
                td = td.min(t.elapsed());
            }
            for (w, m) in wires.iter().zip(&msgs) {
                assert_eq!(inflate_pieces(&[w], &[], size, false)[0].as_deref(), Some(&m[..]));
            }
            let n = msgs.len() as f64;
            let wire: usize = wires.iter().map(|w| w.len() + header(w.len())).sum();
            println!(
                "module  level {level} {size:6} B: deflate {:7.2} us, inflate {:6.2} us, frame {:7.1} B vs plain {:6} B ({:5.1} %)",
                tc.as_secs_f64() * 1e6 / n,
                td.as_secs_f64() * 1e6 / n,
                wire as f64 / n,
                size + header(size),
                100.0 * wire as f64 / (n * (size + header(size)) as f64)
            );
        }
    }
}

/// Idle memory per connection of a tinyws server in this process: `n`
/// clients connect (offering permessage-deflate or not), each sends one
/// 1 KiB JSON message (compressed if agreed) and reads the echo, then all
/// stay open while the process's RSS is read. Run once per mode and
/// compare: `idle 1000 plain` and `idle 1000 deflate`.
#[cfg(feature = "tinyws")]
fn idle(n: usize, deflate: bool, size: usize) {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let mut config = tinyws::Config::default().max_connections(n + 16);
    if deflate {
        config = config.deflate(Some(tinyws::Deflate::default()));
    }
    let server = tinyws::Server::bind("127.0.0.1:0", &config).expect("bind");
    let addr = server.local_addr().unwrap();
    let handle = server.handle();
    std::thread::spawn(move || {
        server.serve(|mut ws| {
            while let Ok(msg) = ws.read() {
                if msg.is_data() && ws.send(msg).is_err() {
                    break;
                }
            }
        })
    });
    let msg = &messages(size, 1, 5)[0];
    let mut wire = Vec::new();
    if deflate {
        let mut c = new_compress(15);
        compress(&mut c, msg, &mut wire);
    } else {
        wire = msg.clone();
    }
    let mut frame = vec![0x81 | if deflate { 0x40 } else { 0 }];
    if wire.len() < 126 {
        frame.push(0x80 | wire.len() as u8);
    } else {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&(wire.len() as u16).to_be_bytes());
    }
    frame.extend_from_slice(&[0, 0, 0, 0]); // a zero mask
    frame.extend_from_slice(&wire);
    let offer = if deflate {
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    } else {
        ""
    };
    let request = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
    );
    let before = rss_kib();
    let mut clients = Vec::with_capacity(n);
    let mut buf = vec![0u8; 8192];
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut head = Vec::new();
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let k = s.read(&mut buf).expect("read head");
            assert!(k > 0, "closed during the handshake");
            head.extend_from_slice(&buf[..k]);
        }
        let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
        assert_eq!(text.contains("permessage-deflate"), deflate, "{text}");
        s.write_all(&frame).unwrap();
        let end = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let mut got = head.len() - end;
        // The echo: its header, then its payload.
        let mut need = usize::MAX;
        let mut echo = head[end..].to_vec();
        while got < need {
            if echo.len() >= 2 && echo[1] < 126 {
                need = 2 + echo[1] as usize;
            } else if echo.len() >= 4 {
                need = 4 + u16::from_be_bytes([echo[2], echo[3]]) as usize;
            }
            if got >= need {
                break;
            }
            let k = s.read(&mut buf).expect("read echo");
            assert!(k > 0);
            echo.extend_from_slice(&buf[..k]);
            got += k;
        }
        assert_eq!(echo[0] & 0x40 != 0, deflate && size >= 128);
        clients.push(s);
    }
    // Let every connection thread go back to its read.
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib();
    println!(
        "idle    {} connections, {}, one {} B echo each: {:.1} KiB RSS per connection (server and client in one process)",
        n,
        if deflate { "deflate" } else { "plain" },
        size,
        (after - before) as f64 / n as f64
    );
    handle.shutdown();
    drop(clients);
}

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_default();
    #[cfg(feature = "tinyws")]
    if arg == "module" {
        module();
        return;
    }
    #[cfg(feature = "tinyws")]
    if arg == "stack" {
        // Runs compress and inflate of one 1 KiB message (pool warm) on a
        // thread with the given stack; an overflow aborts the process.
        let kib: usize = std::env::args().nth(2).and_then(|v| v.parse().ok()).unwrap_or(64);
        let what = std::env::args().nth(3).unwrap_or_default();
        let which = what.clone();
        let msg = messages(1024, 1, 5).remove(0);
        let wire = tinyws::fuzzing::deflate_message(&msg, 1);
        if std::env::var_os("COLD").is_none() {
            let _ = tinyws::fuzzing::inflate_pieces(&[&wire], &[], 4096, false);
        }
        std::thread::Builder::new()
            .stack_size(kib * 1024)
            .spawn(move || {
                if which != "inflate" {
                    black_box(tinyws::fuzzing::deflate_message(&msg, 1));
                }
                if which != "deflate" {
                    black_box(tinyws::fuzzing::inflate_pieces(&[&wire], &[], 4096, false));
                }
            })
            .unwrap()
            .join()
            .unwrap();
        println!("stack {kib} KiB {what}: ok");
        return;
    }
    #[cfg(feature = "tinyws")]
    if arg == "idle" {
        let n = std::env::args().nth(2).and_then(|v| v.parse().ok()).unwrap_or(1000);
        let size = std::env::args().nth(4).and_then(|v| v.parse().ok()).unwrap_or(1024);
        idle(n, std::env::args().nth(3).as_deref() == Some("deflate"), size);
        return;
    }
    let bits: Vec<u8> = if cfg!(any(feature = "zlib", feature = "zlib-rs")) {
        vec![15, 12, 9]
    } else {
        vec![15]
    };
    println!("backend {BACKEND}, level {}", level());
    if arg == "memory" {
        // One measurement per process: freed states would otherwise be
        // reused by the next and hide its cost.
        let b: u8 = std::env::args().nth(2).and_then(|v| v.parse().ok()).unwrap_or(15);
        let n: usize = std::env::args().nth(3).and_then(|v| v.parse().ok()).unwrap_or(147 * 1024);
        memory(b, n);
    }
    if arg.is_empty() || arg == "cpu" {
        for &b in &bits {
            reset_cost(b);
            for size in [32, 256, 1024, 16384] {
                cpu(b, size, false);
            }
            for size in [32, 1024] {
                cpu(b, size, true);
            }
        }
    }
}
