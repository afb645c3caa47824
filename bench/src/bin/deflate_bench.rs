//! Load generator of `scripts/deflate-bench.sh`: permessage-deflate side by
//! side, tinyws against Node `ws` and Python `websockets`, each server in its
//! own process. Prints Markdown tables with ratios from the same run.
//!
//! - bytes on the wire per sensor reading (the dashboard's JSON line),
//!   plain, per-message deflate and with context takeover;
//! - server CPU per echoed message (utime + stime of the server process,
//!   all its threads, from `/proc/PID/stat`), taking turns over several
//!   rounds with the order rotated, medians;
//! - idle RSS per connection at 1,000 connections after one message each,
//!   deflate against plain;
//! - server CPU per broadcast of a 1 KiB JSON reading to 1,000 subscribers
//!   through a `Hub`, deflate against plain, interleaved rounds.
//!
//! The client compresses and inflates with miniz_oxide (the library's own
//! backend), checks every echoed and broadcast byte, and bounds every loop
//! by a deadline. Loopback only.
//!
//! usage: deflate_bench --tinyws BIN [--node NODE --node-script JS]
//!                      [--python PY --py-script PY] [--rounds 5] [--secs 2]
//!                      [--conns 16] [--idle 1000] [--subscribers 1000]
//!                      [--broadcasts 200] [--only wire,echo,idle,broadcast]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use miniz_oxide::deflate::core::CompressorOxide;
use miniz_oxide::inflate::stream::InflateState;
use miniz_oxide::{DataFormat, MZError, MZFlush};

#[path = "../common.rs"]
mod common;
use common::{client_frame, cpu_secs, loadavg, median};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// What a browser offers, minus the window-bits parameter: asks for no
/// context takeover either way, which every server here honours.
const OFFER_STATELESS: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
/// Context takeover both ways (servers configured for it keep it).
const OFFER_TAKEOVER: &str = "permessage-deflate";
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];
/// The level the client compresses at, zlib's default as browsers use it.
const CLIENT_LEVEL: u8 = 6;

type Res<T> = std::result::Result<T, String>;

// ---- servers -----------------------------------------------------------------

#[derive(Clone)]
struct Spec {
    name: String,
    argv: Vec<String>,
    /// One thread per connection (tinyws): idle memory is read once every
    /// connection's thread is up.
    threaded: bool,
}

struct Running {
    child: Child,
    addr: SocketAddr,
}

impl Running {
    fn start(spec: &Spec) -> Running {
        let mut child = Command::new(&spec.argv[0])
            .args(&spec.argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .env("RUST_LOG", "warn")
            // The same allocator setting for every server (README, "Memory").
            .env("MALLOC_ARENA_MAX", "1")
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", spec.argv[0]));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("server banner");
        let addr = line
            .split_whitespace()
            .find_map(|w| w.trim_start_matches("ws://").parse::<SocketAddr>().ok())
            .unwrap_or_else(|| panic!("{}: no address in banner {line:?}", spec.name));
        Running { child, addr }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// SIGTERM first, so a server run under a profiler (callgrind) writes
    /// its profile; SIGKILL (on drop) after 10 s.
    fn stop(mut self) {
        let _ = Command::new("kill").arg(self.pid()).status();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// No server outlives the run, whichever way it ends.
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (VmRSS KiB, Threads) of a process.
fn mem_status(pid: &str) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let get = |key: &str| {
        s.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (get("VmRSS:"), get("Threads:"))
}

// ---- payloads ----------------------------------------------------------------

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// One line of the sensor dashboard (`examples/sensor_feed.rs`).
fn dashboard_reading(i: u64) -> String {
    let mut r = Lcg(i + 1);
    format!(
        r#"{{"t":{},"celsius":{}.{:02},"source":"CPU temperature from /sys/class/thermal/thermal_zone0/temp"}}"#,
        1_764_500_000_000u64 + i * 1000 + r.next() % 3,
        45 + r.next() % 6,
        r.next() % 100
    )
}

/// One reading of several sensors, as a richer device would send it.
fn reading(r: &mut Lcg, seq: u64) -> String {
    const ROOMS: [&str; 4] = ["kitchen", "garage", "attic", "porch"];
    format!(
        r#"{{"device":"pi-{}","sensor":"bme280","seq":{},"ts":{},"temperature":{}.{:02},"humidity":{}.{},"pressure":{}.{:02}}}"#,
        ROOMS[(r.next() % 4) as usize],
        seq,
        1_764_500_000_000u64 + seq * 100 + r.next() % 7,
        15 + r.next() % 10,
        r.next() % 100,
        35 + r.next() % 30,
        r.next() % 10,
        990 + r.next() % 40,
        r.next() % 100
    )
}

/// Valid JSON text of exactly `size` bytes (padded with spaces): a short
/// reading up to 64 bytes, otherwise `{"n":N,"readings":[...]}`.
fn json_text(size: usize, n: u64, seed: u64) -> Vec<u8> {
    let mut r = Lcg(seed);
    let mut m = if size <= 64 {
        format!(
            r#"{{"t":{}.{:02},"h":{},"seq":{}}}"#,
            15 + r.next() % 10,
            r.next() % 100,
            35 + r.next() % 30,
            n
        )
    } else {
        let mut m = format!(r#"{{"n":{n},"readings":["#);
        let mut seq = seed * 1000;
        loop {
            let next = reading(&mut r, seq);
            if m.len() + next.len() + 3 > size {
                break;
            }
            if !m.ends_with('[') {
                m.push(',');
            }
            m.push_str(&next);
            seq += 1;
        }
        m.push_str("]}");
        m
    }
    .into_bytes();
    assert!(m.len() <= size, "a {size}-byte message needs more room");
    m.resize(size, b' ');
    m
}

// ---- deflate on the client side -----------------------------------------------

/// Compresses one message as RFC 7692 says: raw deflate, a sync flush, the
/// `00 00 ff ff` tail stripped. A fresh compressor per message (the client
/// agreed to no context takeover) unless one is passed in.
fn compress(msg: &[u8], kept: Option<&mut CompressorOxide>) -> Vec<u8> {
    let mut fresh;
    let c = match kept {
        Some(c) => c,
        None => {
            fresh = Box::new(CompressorOxide::new(0));
            fresh.set_format_and_level(DataFormat::Raw, CLIENT_LEVEL);
            &mut *fresh
        }
    };
    let mut out = vec![0u8; msg.len() + msg.len() / 8 + 64];
    let r = miniz_oxide::deflate::stream::deflate(c, msg, &mut out, MZFlush::Sync);
    assert_eq!(r.bytes_consumed, msg.len(), "compress: room to spare");
    out.truncate(r.bytes_written);
    if out.ends_with(&TAIL) {
        out.truncate(out.len() - 4);
    }
    out
}

/// Inflates one message's payload (the tail appended) with `state`.
fn inflate(state: &mut InflateState, wire: &[u8], out: &mut Vec<u8>) -> Res<()> {
    let mut data = Vec::with_capacity(wire.len() + 4);
    data.extend_from_slice(wire);
    data.extend_from_slice(&TAIL);
    out.clear();
    out.resize((wire.len() * 4).max(1024), 0);
    let (mut pos, mut n) = (0, 0);
    for _ in 0..100_000 {
        let r = miniz_oxide::inflate::stream::inflate(
            state,
            &data[pos..],
            &mut out[n..],
            MZFlush::Sync,
        );
        pos += r.bytes_consumed;
        n += r.bytes_written;
        match r.status {
            Ok(_) | Err(MZError::Buf) => {}
            Err(e) => return Err(format!("inflate: {e:?}")),
        }
        if n == out.len() {
            let grow = out.len() * 2;
            out.resize(grow, 0);
        } else if pos == data.len() {
            out.truncate(n);
            return Ok(());
        } else if r.bytes_consumed == 0 && r.bytes_written == 0 {
            return Err("inflate made no progress".into());
        }
    }
    Err("inflate did not end".into())
}

// ---- a minimal client ----------------------------------------------------------

fn connect(addr: SocketAddr) -> Res<TcpStream> {
    let s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    Ok(s)
}

/// What the server agreed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Agreed {
    Plain,
    /// Deflate; `true` when the server resets its compressor per message.
    Deflate {
        server_resets: bool,
    },
}

/// Opens a WebSocket on `path` with `offer`; checks the 101 and the key.
fn handshake(s: &mut TcpStream, addr: SocketAddr, path: &str, offer: Option<&str>) -> Res<Agreed> {
    let ext = offer.map_or(String::new(), |o| {
        format!("Sec-WebSocket-Extensions: {o}\r\n")
    });
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut head = Vec::with_capacity(256);
    let mut b = [0u8; 1];
    // Byte by byte: nothing after the head may be swallowed.
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).map_err(|e| format!("handshake: {e}"))? == 0 || head.len() > 8192 {
            return Err("closed during the handshake".into());
        }
        head.push(b[0]);
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    if !text.starts_with("http/1.1 101") || !text.contains(&ACCEPT.to_ascii_lowercase()) {
        return Err(format!("bad handshake answer: {text:?}"));
    }
    let ext = text
        .lines()
        .find(|l| l.starts_with("sec-websocket-extensions:"))
        .unwrap_or("");
    Ok(if ext.contains("permessage-deflate") {
        Agreed::Deflate {
            server_resets: ext.contains("server_no_context_takeover"),
        }
    } else {
        Agreed::Plain
    })
}

/// Reads one server frame into `buf`; returns (first byte, bytes on the
/// wire, header included).
fn read_frame<R: Read>(r: &mut R, buf: &mut Vec<u8>) -> Res<(u8, usize)> {
    let io = |e: std::io::Error| format!("read: {e}");
    let mut h = [0u8; 2];
    r.read_exact(&mut h).map_err(io)?;
    let (len, head) = match h[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            r.read_exact(&mut l).map_err(io)?;
            (u16::from_be_bytes(l) as usize, 4)
        }
        127 => {
            let mut l = [0u8; 8];
            r.read_exact(&mut l).map_err(io)?;
            (u64::from_be_bytes(l) as usize, 10)
        }
        n => (n as usize, 2),
    };
    if h[1] & 0x80 != 0 || h[0] & 0x80 == 0 {
        return Err("server frame masked or fragmented".into());
    }
    buf.resize(len, 0);
    r.read_exact(buf).map_err(io)?;
    Ok((h[0], head + len))
}

/// Reads the next data message, inflating it if RSV1 is set; returns its
/// bytes on the wire.
fn read_message<R: Read>(
    r: &mut R,
    buf: &mut Vec<u8>,
    plain: &mut Vec<u8>,
    inflater: &mut InflateState,
    resets: bool,
) -> Res<usize> {
    loop {
        let (b0, wire) = read_frame(r, buf)?;
        match b0 & 0x0f {
            1 | 2 => {}
            9 | 10 => continue,
            op => return Err(format!("unexpected opcode {op}")),
        }
        if b0 & 0x40 != 0 {
            if resets {
                inflater.reset(DataFormat::Raw);
            }
            inflate(inflater, buf, plain)?;
        } else {
            plain.clear();
            plain.extend_from_slice(buf);
        }
        return Ok(wire);
    }
}

/// One client connection, opened and ready.
struct Conn {
    w: TcpStream,
    r: BufReader<TcpStream>,
    agreed: Agreed,
    inflater: Box<InflateState>,
    compressor: Option<Box<CompressorOxide>>,
    buf: Vec<u8>,
    plain: Vec<u8>,
}

impl Conn {
    fn open(addr: SocketAddr, path: &str, offer: Option<&str>) -> Res<Conn> {
        let mut s = connect(addr)?;
        let agreed = handshake(&mut s, addr, path, offer)?;
        let r = BufReader::with_capacity(64 * 1024, s.try_clone().map_err(|e| e.to_string())?);
        Ok(Conn {
            w: s,
            r,
            agreed,
            inflater: InflateState::new_boxed(DataFormat::Raw),
            compressor: None,
            buf: Vec::new(),
            plain: Vec::new(),
        })
    }

    fn deflate(&self) -> bool {
        self.agreed != Agreed::Plain
    }

    /// The frame for `msg`: compressed if agreed and `compressed`, with a
    /// kept context when `takeover`.
    fn frame(&mut self, msg: &[u8], compressed: bool, takeover: bool, mask: [u8; 4]) -> Vec<u8> {
        if self.deflate() && compressed {
            let kept = if takeover {
                let c = self.compressor.get_or_insert_with(|| {
                    let mut c = Box::new(CompressorOxide::new(0));
                    c.set_format_and_level(DataFormat::Raw, CLIENT_LEVEL);
                    c
                });
                Some(&mut **c)
            } else {
                None
            };
            client_frame(1, true, &compress(msg, kept), mask)
        } else {
            client_frame(1, false, msg, mask)
        }
    }

    /// Reads one message and checks it is `want`; returns its wire bytes.
    fn expect(&mut self, want: &[u8]) -> Res<usize> {
        let resets = matches!(
            self.agreed,
            Agreed::Deflate {
                server_resets: true
            }
        );
        let wire = read_message(
            &mut self.r,
            &mut self.buf,
            &mut self.plain,
            &mut self.inflater,
            resets,
        )?;
        if self.plain[..] != *want {
            return Err(format!(
                "echo differs from what was sent ({} B, want {} B)",
                self.plain.len(),
                want.len()
            ));
        }
        Ok(wire)
    }
}

// ---- 1. bytes on the wire ---------------------------------------------------------

/// Sends `count` dashboard readings and returns the mean bytes on the wire
/// of the server's echoes (frame header included), and whether the server
/// agreed to deflate.
fn wire_per_reading(server: &Running, offer: Option<&str>, count: u64) -> Res<(f64, Agreed)> {
    let mut c = Conn::open(server.addr, "/", offer)?;
    let mut total = 0;
    for i in 0..count {
        let m = dashboard_reading(i);
        let f = c.frame(m.as_bytes(), false, false, [1, 2, 3, 4]);
        c.w.write_all(&f).map_err(|e| e.to_string())?;
        total += c.expect(m.as_bytes())?;
    }
    Ok((total as f64 / count as f64, c.agreed))
}

// ---- 2. CPU per echo ----------------------------------------------------------------

struct EchoRun {
    msgs: u64,
    server_cpu: f64,
    wire: u64,
}

/// `conns` connections, one `size`-byte JSON text in flight each, for
/// `secs`; compressed by the client when deflate was agreed and
/// `compress_in`.
fn run_echo(
    server: &Running,
    offer: Option<&str>,
    compress_in: bool,
    size: usize,
    conns: usize,
    secs: f64,
) -> Res<EchoRun> {
    let addr = server.addr;
    let barrier = Arc::new(Barrier::new(conns + 1));
    let deadline = Arc::new(Mutex::new(None::<Instant>));
    let offer = offer.map(str::to_owned);
    let handles: Vec<_> = (0..conns)
        .map(|k| {
            let (barrier, deadline, offer) =
                (Arc::clone(&barrier), Arc::clone(&deadline), offer.clone());
            thread::spawn(move || -> Res<(u64, u64)> {
                let opened = Conn::open(addr, "/", offer.as_deref()).map(|mut c| {
                    let msgs: Vec<Vec<u8>> = (0..4)
                        .map(|v| json_text(size, v, (k * 4) as u64 + v + 1))
                        .collect();
                    let frames: Vec<Vec<u8>> = msgs
                        .iter()
                        .enumerate()
                        .map(|(v, m)| {
                            c.frame(m, compress_in, false, [v as u8 | 1, k as u8, 0x5a, 0xc3])
                        })
                        .collect();
                    (c, msgs, frames)
                });
                // Every thread reaches the barrier, failed or not.
                barrier.wait();
                let (mut c, msgs, frames) = opened?;
                let deadline = deadline.lock().unwrap().expect("deadline");
                let (mut n, mut wire) = (0u64, 0u64);
                while Instant::now() < deadline && n < 10_000_000 {
                    let i = n as usize % msgs.len();
                    c.w.write_all(&frames[i]).map_err(|e| e.to_string())?;
                    wire += c.expect(&msgs[i])? as u64;
                    n += 1;
                }
                Ok((n, wire))
            })
        })
        .collect();
    // Let every connection finish its handshake before the clock starts.
    thread::sleep(Duration::from_millis(50));
    let pid = server.pid();
    let cpu0 = cpu_secs(&pid);
    *deadline.lock().unwrap() = Some(Instant::now() + Duration::from_secs_f64(secs));
    barrier.wait();
    let mut out = EchoRun {
        msgs: 0,
        server_cpu: 0.0,
        wire: 0,
    };
    let mut err = None;
    for h in handles {
        match h.join().expect("client thread") {
            Ok((n, w)) => {
                out.msgs += n;
                out.wire += w;
            }
            Err(e) => err = Some(e),
        }
    }
    out.server_cpu = cpu_secs(&pid) - cpu0;
    match err {
        Some(e) => Err(e),
        None if out.msgs == 0 => Err("no echo at all".into()),
        None => Ok(out),
    }
}

// ---- 3. idle memory -------------------------------------------------------------------

/// RSS per connection of a fresh server after `n` connections sent one
/// 1 KiB JSON message each (compressed if agreed) and read its echo.
fn run_idle(spec: &Spec, offer: Option<&str>, n: usize) -> Res<(f64, bool)> {
    let server = Running::start(spec);
    thread::sleep(Duration::from_millis(300));
    let pid = server.pid();
    let (rss0, thr0) = mem_status(&pid);
    let mut conns = Vec::with_capacity(n);
    let mut deflate = true;
    let result = (|| -> Res<()> {
        for i in 0..n {
            let mut c = Conn::open(server.addr, "/", offer)?;
            deflate &= c.deflate();
            let m = json_text(1024, i as u64, i as u64 % 16 + 1);
            let f = c.frame(&m, true, false, [7, 1, 3, 9]);
            c.w.write_all(&f).map_err(|e| e.to_string())?;
            c.expect(&m)?;
            conns.push(c);
        }
        Ok(())
    })();
    if let Err(e) = result {
        server.stop();
        return Err(format!("{}: {e}", spec.name));
    }
    // Thread-per-connection servers: every thread back in its read.
    let wait_until = Instant::now() + Duration::from_secs(20);
    while spec.threaded && mem_status(&pid).1 < thr0 + n as u64 && Instant::now() < wait_until {
        thread::sleep(Duration::from_millis(50));
    }
    // Then let the last replies and frees settle (less for a smoke run).
    thread::sleep(Duration::from_millis(200 + n as u64 / 2));
    let (rss1, _) = mem_status(&pid);
    drop(conns);
    server.stop();
    Ok(((rss1 as f64 - rss0 as f64) / n as f64, deflate))
}

// ---- 4. broadcast ----------------------------------------------------------------------

/// A tinyws server with `n` subscribers on `/sub` and a publisher on
/// `/pub`; the subscribers' reader threads count and check every message.
struct Broadcast {
    server: Running,
    publisher: Conn,
    received: Arc<AtomicU64>,
    ready: Arc<AtomicUsize>,
    failed: Arc<AtomicBool>,
    wire: Arc<AtomicU64>,
    n: usize,
}

/// Each subscriber inflates and checks one broadcast in this many.
const CHECK_EVERY: usize = 8;

fn broadcast_message(k: u64) -> Vec<u8> {
    json_text(1024, k, k % 32 + 100)
}

impl Broadcast {
    fn open(
        spec: &Spec,
        offer: Option<&str>,
        n: usize,
        expected: Arc<Vec<Vec<u8>>>,
    ) -> Res<Broadcast> {
        let server = Running::start(spec);
        let received = Arc::new(AtomicU64::new(0));
        let ready = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicBool::new(false));
        let wire = Arc::new(AtomicU64::new(0));
        for i in 0..n {
            let mut c = Conn::open(server.addr, "/sub", offer)?;
            if c.deflate() != offer.is_some() {
                return Err(format!("{}: deflate not agreed as offered", spec.name));
            }
            c.r.get_ref()
                .set_read_timeout(None)
                .map_err(|e| e.to_string())?;
            let (received, ready, failed, wire, expected) = (
                Arc::clone(&received),
                Arc::clone(&ready),
                Arc::clone(&failed),
                Arc::clone(&wire),
                Arc::clone(&expected),
            );
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut first = true;
                    let resets = matches!(
                        c.agreed,
                        Agreed::Deflate {
                            server_resets: true
                        }
                    );
                    for seen in i.. {
                        // Every subscriber gets the same frame, so each
                        // inflates and checks one message in CHECK_EVERY
                        // (staggered, so that each broadcast is checked by
                        // n / CHECK_EVERY subscribers): the clients' work,
                        // which competes with the server for the CPUs, is
                        // then about the same with deflate as without.
                        let check = seen % CHECK_EVERY == 0 || first;
                        let w = match if check {
                            read_message(
                                &mut c.r,
                                &mut c.buf,
                                &mut c.plain,
                                &mut c.inflater,
                                resets,
                            )
                        } else {
                            read_frame(&mut c.r, &mut c.buf).map(|(_, w)| w)
                        } {
                            Ok(w) => w,
                            Err(_) => return, // the server was stopped
                        };
                        // `{"n":K,...`: K says which message this is.
                        let k: Option<usize> = c
                            .plain
                            .get(5..)
                            .and_then(|t| {
                                std::str::from_utf8(
                                    &t[..t.iter().position(|&b| b == b',').unwrap_or(0)],
                                )
                                .ok()
                            })
                            .and_then(|t| t.parse().ok());
                        if check && k.and_then(|k| expected.get(k)) != Some(&c.plain) {
                            failed.store(true, Ordering::Release);
                        }
                        wire.fetch_add(w as u64, Ordering::Relaxed);
                        received.fetch_add(1, Ordering::AcqRel);
                        if first {
                            ready.fetch_add(1, Ordering::AcqRel);
                            first = false;
                        }
                    }
                })
                .map_err(|e| format!("client thread: {e}"))?;
        }
        let publisher = Conn::open(server.addr, "/pub", None)?;
        let mut b = Broadcast {
            server,
            publisher,
            received,
            ready,
            failed,
            wire,
            n,
        };
        // Subscribing happens after the 101: broadcast until all have one.
        let until = Instant::now() + Duration::from_secs(60);
        while b.ready.load(Ordering::Acquire) < n {
            if Instant::now() > until {
                return Err(format!(
                    "{}: only {} of {n} subscribed",
                    spec.name,
                    b.ready.load(Ordering::Acquire)
                ));
            }
            b.publish(&expected[0])?;
            thread::sleep(Duration::from_millis(20));
        }
        Ok(b)
    }

    fn publish(&mut self, msg: &[u8]) -> Res<()> {
        let f = client_frame(1, false, msg, [3, 1, 4, 1]);
        self.publisher.w.write_all(&f).map_err(|e| e.to_string())
    }

    /// `count` broadcasts, each one sent when the last reached everyone;
    /// returns (server CPU per broadcast, wire bytes per subscriber).
    fn run(&mut self, expected: &[Vec<u8>], count: u64) -> Res<(f64, f64)> {
        // Let the warm-up's last messages land.
        let settle = Instant::now() + Duration::from_secs(10);
        let mut last = u64::MAX;
        while self.received.load(Ordering::Acquire) != last && Instant::now() < settle {
            last = self.received.load(Ordering::Acquire);
            thread::sleep(Duration::from_millis(100));
        }
        let base = self.received.load(Ordering::Acquire);
        let wire0 = self.wire.load(Ordering::Acquire);
        let pid = self.server.pid();
        let cpu0 = cpu_secs(&pid);
        for k in 1..=count {
            let i = (k as usize % (expected.len() - 1)) + 1;
            self.publish(&expected[i])?;
            let want = base + k * self.n as u64;
            let until = Instant::now() + Duration::from_secs(60);
            while self.received.load(Ordering::Acquire) < want {
                if Instant::now() > until {
                    let got = self.received.load(Ordering::Acquire) - (want - self.n as u64);
                    return Err(format!(
                        "broadcast {k} reached {got} of {} subscribers in 60 s",
                        self.n
                    ));
                }
                thread::sleep(Duration::from_micros(100));
            }
        }
        let cpu = cpu_secs(&pid) - cpu0;
        if self.failed.load(Ordering::Acquire) {
            return Err("a subscriber got a message that differs from the one sent".into());
        }
        let wire =
            (self.wire.load(Ordering::Acquire) - wire0) as f64 / (count as f64 * self.n as f64);
        Ok((cpu * 1e6 / count as f64, wire))
    }
}

// ---- reporting ----------------------------------------------------------------------

fn f(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_nan() || b.is_nan() || b == 0.0 {
        "-".into()
    } else {
        format!("{:.2}", a / b)
    }
}

struct Opts {
    rounds: usize,
    secs: f64,
    conns: usize,
    idle: usize,
    subscribers: usize,
    broadcasts: u64,
    only: Vec<String>,
}

fn main() {
    let mut o: HashMap<String, String> = HashMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.strip_prefix("--") {
            Some(k) => {
                o.insert(
                    k.to_owned(),
                    args.next().unwrap_or_else(|| panic!("{a} needs a value")),
                );
            }
            None => panic!("unexpected argument {a}"),
        }
    }
    if let Some(addr) = o.get("drive") {
        drive(&o, addr);
        return;
    }
    let num = |k: &str, d: f64| {
        o.get(k).map_or(d, |v| {
            v.parse().unwrap_or_else(|_| panic!("--{k}: not a number"))
        })
    };
    let opts = Opts {
        rounds: num("rounds", 5.0) as usize,
        secs: num("secs", 2.0),
        conns: num("conns", 16.0) as usize,
        idle: num("idle", 1000.0) as usize,
        subscribers: num("subscribers", 1000.0) as usize,
        broadcasts: num("broadcasts", 200.0) as u64,
        only: o.get("only").map_or(
            vec![
                "wire".into(),
                "echo".into(),
                "idle".into(),
                "broadcast".into(),
            ],
            |s| s.split(',').map(str::to_owned).collect(),
        ),
    };
    let tinyws = o.get("tinyws").expect("--tinyws BIN is required").clone();
    let ti = |mode: &str, extra: &[&str]| Spec {
        name: format!("tinyws {mode} {}", extra.join(" "))
            .trim()
            .to_owned(),
        argv: [tinyws.as_str(), "127.0.0.1:0", mode]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect(),
        threaded: true,
    };
    let node = o.get("node-script").map(|script| {
        let bin = o.get("node").cloned().unwrap_or_else(|| "node".into());
        move |mode: &str| Spec {
            name: format!("Node ws {mode}"),
            argv: vec![bin.clone(), script.clone(), mode.into()],
            threaded: false,
        }
    });
    let python = o.get("py-script").map(|script| {
        let bin = o.get("python").cloned().unwrap_or_else(|| "python3".into());
        move |mode: &str| Spec {
            name: format!("Python websockets {mode}"),
            argv: vec![bin.clone(), script.clone(), mode.into()],
            threaded: false,
        }
    });
    let want = |s: &str| opts.only.iter().any(|o| o == s);
    let mut failed = false;
    let mut check = |what: &str, r: Res<()>| {
        if let Err(e) = r {
            eprintln!("deflate_bench: {what}: {e}");
            failed = true;
        }
    };

    if want("wire") {
        check("wire", wire_table(&ti, node.as_ref(), python.as_ref()));
    }
    if want("echo") {
        check(
            "echo",
            echo_table(&opts, &ti, node.as_ref(), python.as_ref()),
        );
    }
    if want("idle") {
        check(
            "idle",
            idle_table(&opts, &ti, node.as_ref(), python.as_ref()),
        );
    }
    if want("broadcast") {
        check("broadcast", broadcast_table(&opts, &ti));
    }
    if failed {
        std::process::exit(1);
    }
}

fn wire_table(
    ti: &dyn Fn(&str, &[&str]) -> Spec,
    node: Option<&impl Fn(&str) -> Spec>,
    python: Option<&impl Fn(&str) -> Spec>,
) -> Res<()> {
    const COUNT: u64 = 200;
    let plain_len = (0..COUNT)
        .map(|i| dashboard_reading(i).len())
        .sum::<usize>() as f64
        / COUNT as f64;
    println!("### Bytes on the wire per sensor reading");
    println!();
    println!(
        "{COUNT} dashboard readings (`examples/sensor_feed.rs`'s JSON line, {plain_len:.1} B of text) echoed \
         back; mean bytes per server frame, header included."
    );
    println!();
    println!("| server | plain | per-message deflate | with context takeover |");
    println!("|---|---:|---:|---:|");
    let mut rows: Vec<(String, Spec, Spec, Spec)> = vec![
        (
            "tinyws, default `Deflate` (threshold 128)".into(),
            ti("plain", &[]),
            ti("deflate", &[]),
            ti("takeover", &[]),
        ),
        (
            "tinyws, threshold 0 (level 1)".into(),
            ti("plain", &[]),
            ti("deflate", &["--threshold", "0"]),
            ti("takeover", &["--threshold", "0"]),
        ),
        (
            "tinyws, threshold 0, level 6".into(),
            ti("plain", &[]),
            ti("deflate", &["--threshold", "0", "--level", "6"]),
            ti("takeover", &["--threshold", "0", "--level", "6"]),
        ),
    ];
    if let Some(n) = node {
        rows.push((
            "Node ws (threshold 0, level 6)".into(),
            n("plain"),
            n("deflate"),
            n("takeover"),
        ));
    }
    if let Some(p) = python {
        rows.push((
            "Python websockets (level 6, 12-bit window)".into(),
            p("plain"),
            p("deflate"),
            p("takeover"),
        ));
    }
    for (name, plain, stateless, takeover) in rows {
        let mut cells = Vec::new();
        for (spec, offer) in [
            (plain, None),
            (stateless, Some(OFFER_STATELESS)),
            (takeover, Some(OFFER_TAKEOVER)),
        ] {
            let s = Running::start(&spec);
            let r = wire_per_reading(&s, offer, COUNT);
            s.stop();
            let (bytes, agreed) = r.map_err(|e| format!("{}: {e}", spec.name))?;
            if (agreed != Agreed::Plain) != offer.is_some() {
                return Err(format!(
                    "{}: deflate agreed {agreed:?} for offer {offer:?}",
                    spec.name
                ));
            }
            cells.push(format!(
                "{} ({:.0} %)",
                f(bytes),
                100.0 * bytes / (plain_len + 2.0)
            ));
        }
        println!("| {name} | {} | {} | {} |", cells[0], cells[1], cells[2]);
    }
    println!();
    Ok(())
}

fn echo_table(
    opts: &Opts,
    ti: &dyn Fn(&str, &[&str]) -> Spec,
    node: Option<&impl Fn(&str) -> Spec>,
    python: Option<&impl Fn(&str) -> Spec>,
) -> Res<()> {
    // (server, offer): deflate agreed for every offer, or none. The first
    // two are compared with each other, the peers from PEERS on with the
    // first; level 6 shows what the default level saves.
    const PEERS: usize = 3;
    let mut servers: Vec<(Spec, Option<&str>)> = vec![
        (ti("deflate", &[]), Some(OFFER_STATELESS)),
        (ti("plain", &[]), None),
        (ti("deflate", &["--level", "6"]), Some(OFFER_STATELESS)),
    ];
    if let Some(n) = node {
        servers.push((n("deflate"), Some(OFFER_STATELESS)));
    }
    if let Some(p) = python {
        servers.push((p("deflate"), Some(OFFER_STATELESS)));
    }
    // (label, size, the client compresses what it sends)
    let scenarios: [(&str, usize, bool); 3] = [
        ("32 B, sent compressed", 32, true),
        ("32 B, sent plain", 32, false),
        ("16 KiB, sent compressed", 16 * 1024, true),
    ];
    let running: Vec<Running> = servers.iter().map(|(s, _)| Running::start(s)).collect();
    let result = (|| -> Res<Vec<Vec<Vec<EchoRun>>>> {
        for (i, (spec, offer)) in servers.iter().enumerate() {
            run_echo(&running[i], *offer, true, 1024, 4, 0.3)
                .map_err(|e| format!("{} warm-up: {e}", spec.name))?;
        }
        let mut results: Vec<Vec<Vec<EchoRun>>> = scenarios
            .iter()
            .map(|_| servers.iter().map(|_| Vec::new()).collect())
            .collect();
        for round in 0..opts.rounds {
            eprintln!(
                "echo round {} of {}, load {}",
                round + 1,
                opts.rounds,
                loadavg()
            );
            for (si, &(label, size, compress_in)) in scenarios.iter().enumerate() {
                for k in 0..servers.len() {
                    let i = (k + round) % servers.len();
                    let (spec, offer) = &servers[i];
                    thread::sleep(Duration::from_millis(200));
                    let r = run_echo(
                        &running[i],
                        *offer,
                        compress_in,
                        size,
                        opts.conns,
                        opts.secs,
                    )
                    .map_err(|e| format!("{} {label}: {e}", spec.name))?;
                    eprintln!(
                        "  {:<24} {:<28} {:>8.0} msg/s  server {:>7.1} us/msg",
                        label,
                        spec.name,
                        r.msgs as f64 / opts.secs,
                        r.server_cpu * 1e6 / r.msgs as f64
                    );
                    results[si][i].push(r);
                }
            }
        }
        Ok(results)
    })();
    for r in running {
        r.stop();
    }
    let results = result?;
    let med = |si: usize, i: usize, g: &dyn Fn(&EchoRun) -> f64| {
        median(results[si][i].iter().map(g).collect())
    };
    let cpu = |r: &EchoRun| r.server_cpu * 1e6 / r.msgs as f64;
    let wire = |r: &EchoRun| r.wire as f64 / r.msgs as f64;
    println!("### Server CPU per echoed message");
    println!();
    println!(
        "Median of {} rounds of {} s, {} connections with one message in flight each, servers taking turns \
         in rotated order; server utime + stime from /proc/PID/stat. JSON text; the client compresses at level 6 \
         when deflate is agreed (\"sent compressed\", as browsers do).",
        opts.rounds, opts.secs, opts.conns
    );
    println!();
    let mut head =
        "| per message | tinyws deflate | tinyws plain | tinyws deflate level 6".to_owned();
    for (s, _) in &servers[PEERS..] {
        head += &format!(" | {}", s.name);
    }
    println!("{head} | ÷ tinyws plain | ÷ best of Node/Python | target |");
    println!("|---{}|---:|---:|---|", "|---:".repeat(servers.len()));
    for (si, &(label, size, _)) in scenarios.iter().enumerate() {
        let v: Vec<f64> = (0..servers.len()).map(|i| med(si, i, &cpu)).collect();
        let best = v[PEERS..].iter().cloned().fold(f64::NAN, f64::min);
        let target = if size > 1024 {
            let ok = v[0] <= 0.7 * best;
            format!("≤ 0.7 × best: {}", if ok { "met" } else { "MISSED" })
        } else if !scenarios[si].2 {
            let ok = v[0] <= 1.05 * v[1];
            format!("≤ 1.05 × plain: {}", if ok { "met" } else { "MISSED" })
        } else {
            String::new()
        };
        let cells: Vec<String> = v.iter().map(|x| f(*x)).collect();
        println!(
            "| server CPU, {label} (µs) | {} | {} | {} | {target} |",
            cells.join(" | "),
            ratio(v[0], v[1]),
            ratio(v[0], best)
        );
    }
    for (si, &(label, _, _)) in scenarios.iter().enumerate() {
        let v: Vec<String> = (0..servers.len()).map(|i| f(med(si, i, &wire))).collect();
        println!(
            "| echo on the wire, {label} (B) | {} | | | |",
            v.join(" | ")
        );
    }
    for (si, &(label, _, _)) in scenarios.iter().enumerate() {
        let v: Vec<String> = (0..servers.len())
            .map(|i| f(med(si, i, &|r: &EchoRun| r.msgs as f64 / opts.secs)))
            .collect();
        println!("| echoes per second, {label} | {} | | | |", v.join(" | "));
    }
    println!();
    Ok(())
}

fn idle_table(
    opts: &Opts,
    ti: &dyn Fn(&str, &[&str]) -> Spec,
    node: Option<&impl Fn(&str) -> Spec>,
    python: Option<&impl Fn(&str) -> Spec>,
) -> Res<()> {
    let n = opts.idle;
    let mut rows: Vec<(String, Spec, Spec, &str)> = vec![
        (
            "tinyws".into(),
            ti("deflate", &[]),
            ti("plain", &[]),
            OFFER_STATELESS,
        ),
        (
            "tinyws, context takeover".into(),
            ti("takeover", &[]),
            ti("plain", &[]),
            OFFER_TAKEOVER,
        ),
    ];
    if let Some(nd) = node {
        rows.push((
            "Node ws".into(),
            nd("deflate"),
            nd("plain"),
            OFFER_STATELESS,
        ));
    }
    if let Some(p) = python {
        rows.push((
            "Python websockets".into(),
            p("deflate"),
            p("plain"),
            OFFER_STATELESS,
        ));
        rows.push((
            "Python websockets, context takeover".into(),
            p("takeover"),
            p("plain"),
            OFFER_TAKEOVER,
        ));
    }
    println!("### Idle memory per connection");
    println!();
    println!(
        "RSS growth of a fresh server process per connection, {n} connections that each sent one 1 KiB JSON \
         text (compressed when agreed) and read its echo, then stay open; MALLOC_ARENA_MAX=1; median of {} runs.",
        opts.rounds.clamp(1, 3)
    );
    println!();
    println!("| server | deflate (KiB) | plain (KiB) | deflate − plain (KiB) |");
    println!("|---|---:|---:|---:|");
    for (name, deflate, plain, offer) in rows {
        let (mut d, mut p) = (Vec::new(), Vec::new());
        for round in 0..opts.rounds.clamp(1, 3) {
            // Alternate which goes first.
            for k in 0..2 {
                let with = (k + round) % 2 == 0;
                let (spec, offer) = if with {
                    (&deflate, Some(offer))
                } else {
                    (&plain, None)
                };
                let (kib, agreed) = run_idle(spec, offer, n)?;
                if agreed != with {
                    return Err(format!(
                        "{}: deflate agreed {agreed}, expected {with}",
                        spec.name
                    ));
                }
                eprintln!(
                    "  idle {:<36} {n} conns: {kib:.1} KiB/conn (load {})",
                    spec.name,
                    loadavg()
                );
                if with {
                    d.push(kib)
                } else {
                    p.push(kib)
                }
            }
        }
        let (d, p) = (median(d), median(p));
        println!("| {name} | {} | {} | {} |", f(d), f(p), f(d - p));
    }
    println!();
    Ok(())
}

fn broadcast_table(opts: &Opts, ti: &dyn Fn(&str, &[&str]) -> Spec) -> Res<()> {
    let n = opts.subscribers;
    let expected: Arc<Vec<Vec<u8>>> = Arc::new((0..33).map(broadcast_message).collect());
    let mut plain = Broadcast::open(&ti("plain", &[]), None, n, Arc::clone(&expected))?;
    let mut deflate = Broadcast::open(
        &ti("deflate", &[]),
        Some(OFFER_STATELESS),
        n,
        Arc::clone(&expected),
    )?;
    let (mut cp, mut cd, mut wp, mut wd) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..opts.rounds {
        for k in 0..2 {
            let with = (k + round) % 2 == 1;
            let b = if with { &mut deflate } else { &mut plain };
            let (cpu, wire) = b.run(&expected, opts.broadcasts)?;
            eprintln!(
                "  broadcast round {} {:<8} {n} subscribers: server {cpu:.0} us per broadcast, {wire:.0} B each (load {})",
                round + 1,
                if with { "deflate" } else { "plain" },
                loadavg()
            );
            if with {
                cd.push(cpu);
                wd.push(wire);
            } else {
                cp.push(cpu);
                wp.push(wire);
            }
        }
    }
    plain.server.stop();
    deflate.server.stop();
    let (cp, cd, wp, wd) = (median(cp), median(cd), median(wp), median(wd));
    println!("### Broadcast");
    println!();
    println!(
        "A `Hub` sends each 1 KiB JSON text from a publisher to {n} subscribers; {} broadcasts per round, each \
         sent when the last reached everyone; median of {} interleaved rounds.",
        opts.broadcasts, opts.rounds
    );
    println!();
    println!("| per broadcast to {n} | plain | deflate | deflate ÷ plain | target |");
    println!("|---|---:|---:|---:|---|");
    println!(
        "| server CPU (µs) | {} | {} | {} | close to plain (≤ 1.1 ×): {} |",
        f(cp),
        f(cd),
        ratio(cd, cp),
        if cd <= 1.1 * cp { "met" } else { "MISSED" }
    );
    println!(
        "| bytes on the wire per subscriber (B) | {} | {} | {} | |",
        f(wp),
        f(wd),
        ratio(wd, wp)
    );
    println!();
    Ok(())
}

/// Drives one running server, for profiling (callgrind, perf):
/// `--drive ADDR [--offer stateless|takeover|none]
/// [--compressed 1] [--size 32] [--conns 4] [--secs 2]`; prints the count
/// of echoes first.
fn drive(o: &HashMap<String, String>, addr: &str) {
    let get = |k: &str, d: &str| o.get(k).cloned().unwrap_or_else(|| d.to_owned());
    // Not ours to stop: a placeholder child, and the CPU figure is unused.
    let server = Running {
        child: Command::new("true").spawn().expect("placeholder"),
        addr: addr.parse().expect("--drive ADDR"),
    };
    let offer = match get("offer", "stateless").as_str() {
        "none" => None,
        "takeover" => Some(OFFER_TAKEOVER),
        _ => Some(OFFER_STATELESS),
    };
    let num = |k: &str, d: &str| {
        get(k, d)
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("--{k}: not a number"))
    };
    let r = run_echo(
        &server,
        offer,
        get("compressed", "1") == "1",
        num("size", "32") as usize,
        num("conns", "4") as usize,
        num("secs", "2"),
    )
    .unwrap_or_else(|e| panic!("drive: {e}"));
    println!(
        "{} echoes, {:.1} B on the wire each",
        r.msgs,
        r.wire as f64 / r.msgs as f64
    );
}
