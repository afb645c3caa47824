//! Load generator for scripts/bench.sh: drives tinyws's `examples/echo`, a
//! tungstenite echo and a raw TCP echo, each in its own process, taking turns
//! (A B C A B C ...) over several rounds, and prints medians, ratios and
//! targets. Every echoed byte is checked. Loopback only; every loop is
//! bounded by a deadline and a count.
//!
//! usage: tinyws-bench --tinyws BIN --many BIN --tung BIN --tcp BIN
//!                     [--rounds N] [--secs S] [--idle 1000,10000]
//!                     [--size-tinyws FILE --size-tung FILE] [--only-idle]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::{client_frame, cpu_secs, median};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Ws,
    Raw,
}

#[derive(Clone)]
struct ServerSpec {
    name: &'static str,
    bin: String,
    kind: Kind,
}

struct Running {
    child: Child,
    addr: SocketAddr,
    attached: Option<u32>,
}

impl Running {
    fn start(spec: &ServerSpec, env: &[(&str, &str)]) -> Running {
        let mut cmd = Command::new(&spec.bin);
        cmd.arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Connect/disconnect lines are a deployment choice, not protocol
            // work: the tinyws example logs at warn here, like the others.
            .env("RUST_LOG", "warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", spec.bin));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("server banner");
        let addr = line
            .split_whitespace()
            .find_map(|w| w.trim_start_matches("ws://").parse::<SocketAddr>().ok())
            .unwrap_or_else(|| panic!("no address in banner {line:?}"));
        Running {
            child,
            addr,
            attached: None,
        }
    }

    /// A server started by someone else (profiling); never killed.
    fn attach(addr: SocketAddr, pid: u32) -> Running {
        Running {
            child: Command::new("sleep").arg("0").spawn().expect("placeholder"),
            addr,
            attached: None,
        }
        .with_pid(pid)
    }

    fn with_pid(mut self, pid: u32) -> Running {
        self.attached = Some(pid);
        self
    }

    fn pid(&self) -> u32 {
        self.attached.unwrap_or_else(|| self.child.id())
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (VmRSS KiB, VmSize KiB, Threads) of a process.
fn mem_status(pid: u32) -> (u64, u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let get = |key: &str| {
        s.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (get("VmRSS:"), get("VmSize:"), get("Threads:"))
}

// ---- a minimal client ------------------------------------------------------

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    Ok(s)
}

/// Opens a WebSocket connection and checks the 101 and its accept key.
fn ws_handshake(s: &mut TcpStream, addr: SocketAddr) -> std::io::Result<()> {
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes())?;
    let mut head = Vec::with_capacity(256);
    let mut b = [0u8; 1];
    // Byte by byte: nothing after the head may be swallowed. Handshakes only.
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b)? == 0 || head.len() > 4096 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(b[0]);
    }
    let text = String::from_utf8_lossy(&head);
    if !text.starts_with("HTTP/1.1 101") || !text.contains(ACCEPT) {
        return Err(std::io::Error::other(format!(
            "bad handshake answer: {text:?}"
        )));
    }
    Ok(())
}

/// Reads one server frame into `buf`; returns its opcode.
fn read_frame<R: Read>(r: &mut R, buf: &mut Vec<u8>) -> std::io::Result<u8> {
    let mut h = [0u8; 2];
    r.read_exact(&mut h)?;
    let len = match h[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            r.read_exact(&mut l)?;
            u16::from_be_bytes(l) as usize
        }
        127 => {
            let mut l = [0u8; 8];
            r.read_exact(&mut l)?;
            u64::from_be_bytes(l) as usize
        }
        n => n as usize,
    };
    if h[1] & 0x80 != 0 || h[0] & 0x80 == 0 {
        return Err(std::io::Error::other("server frame masked or fragmented"));
    }
    buf.resize(len, 0);
    r.read_exact(buf)?;
    Ok(h[0] & 0x0f)
}

/// Per connection: a few distinct messages, prebuilt so the client spends
/// its time on I/O and comparing, not on masking.
struct Variants {
    wire: Vec<Vec<u8>>,
    expect: Vec<Vec<u8>>,
}

fn variants(kind: Kind, conn: usize, size: usize, count: usize) -> Variants {
    let mut wire = Vec::new();
    let mut expect = Vec::new();
    for v in 0..count {
        let payload: Vec<u8> = (0..size)
            .map(|i| (i.wrapping_mul(31) ^ (v * 97 + conn * 13) ^ (i >> 8)) as u8)
            .collect();
        let mask = [
            (v as u8) | 1,
            (conn as u8) ^ 0x5a,
            0xc3,
            (v * 7) as u8 ^ 0x11,
        ];
        wire.push(match kind {
            Kind::Ws => client_frame(2, false, &payload, mask),
            Kind::Raw => payload.clone(),
        });
        expect.push(payload);
    }
    Variants { wire, expect }
}

/// Reads one echo and checks every byte against `want`.
fn read_echo<R: Read>(
    kind: Kind,
    r: &mut R,
    buf: &mut Vec<u8>,
    want: &[u8],
) -> std::io::Result<()> {
    match kind {
        Kind::Ws => loop {
            match read_frame(r, buf)? {
                2 => break,
                // A keepalive Ping can only come after 30 s idle; skip it.
                9 | 10 => continue,
                op => return Err(std::io::Error::other(format!("unexpected opcode {op}"))),
            }
        },
        Kind::Raw => {
            buf.resize(want.len(), 0);
            r.read_exact(buf)?;
        }
    }
    if buf[..] != *want {
        return Err(std::io::Error::other("echo differs from what was sent"));
    }
    Ok(())
}

// ---- throughput ----------------------------------------------------------

#[derive(Default)]
struct RunResult {
    msgs: u64,
    secs: f64,
    server_cpu: f64,
    client_cpu: f64,
    lat_us: Vec<f64>,
    bytes: u64,
}

/// `conns` connections, `size`-byte binary messages, `inflight` each, for
/// `secs` seconds (and at most `max_per_conn` messages per connection).
fn run_echo(
    server: &Running,
    kind: Kind,
    conns: usize,
    size: usize,
    inflight: usize,
    secs: f64,
) -> RunResult {
    let addr = server.addr;
    let max_per_conn: u64 = 50_000_000 / conns as u64;
    let barrier = Arc::new(Barrier::new(conns + 1));
    let deadline_slot = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let errors = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for c in 0..conns {
        let barrier = Arc::clone(&barrier);
        let deadline_slot = Arc::clone(&deadline_slot);
        let errors = Arc::clone(&errors);
        handles.push(thread::spawn(move || -> (u64, Vec<f64>) {
            let v = variants(kind, c, size, inflight + 2);
            let opened = connect(addr).and_then(|mut s| {
                if kind == Kind::Ws {
                    ws_handshake(&mut s, addr)?;
                }
                Ok(s)
            });
            // Every thread reaches the barrier, failed or not, so a failed
            // connection is reported rather than hanging the run.
            barrier.wait();
            let deadline = deadline_slot.lock().unwrap().expect("deadline");
            let result = opened.and_then(|s| {
                if inflight == 1 {
                    echo_lockstep(kind, s, &v, deadline, max_per_conn)
                } else if inflight * size <= WINDOW_ALONE {
                    echo_windowed(kind, s, &v, inflight, deadline, max_per_conn)
                } else {
                    echo_pipelined(kind, s, Arc::new(v), inflight, deadline, max_per_conn)
                }
            });
            match result {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("connection {c}: {e}");
                    errors.fetch_add(1, Ordering::Relaxed);
                    (0, Vec::new())
                }
            }
        }));
    }
    let pid = server.pid().to_string();
    // Let every connection finish its handshake before the clock starts.
    thread::sleep(Duration::from_millis(20));
    let cpu0 = cpu_secs(&pid);
    let me0 = cpu_secs("self");
    let start = Instant::now();
    *deadline_slot.lock().unwrap() = Some(start + Duration::from_secs_f64(secs));
    barrier.wait();
    let mut out = RunResult::default();
    for h in handles {
        let (n, lat) = h.join().expect("client thread");
        out.msgs += n;
        out.lat_us.extend(lat);
    }
    out.secs = start.elapsed().as_secs_f64();
    out.server_cpu = cpu_secs(&pid) - cpu0;
    out.client_cpu = cpu_secs("self") - me0;
    out.bytes = out.msgs * size as u64;
    let errs = errors.load(Ordering::Relaxed);
    assert!(errs == 0, "{errs} connections failed: see above");
    out
}

fn echo_lockstep(
    kind: Kind,
    mut s: TcpStream,
    v: &Variants,
    deadline: Instant,
    max: u64,
) -> std::io::Result<(u64, Vec<f64>)> {
    let mut r = BufReader::with_capacity(64 * 1024, s.try_clone()?);
    let mut buf = Vec::new();
    let mut lat = Vec::with_capacity(1 << 16);
    let mut n = 0u64;
    while n < max {
        let t = Instant::now();
        if t >= deadline {
            break;
        }
        let i = n as usize % v.wire.len();
        s.write_all(&v.wire[i])?;
        read_echo(kind, &mut r, &mut buf, &v.expect[i])?;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        n += 1;
    }
    Ok((n, lat))
}

/// Up to this many bytes in flight per connection, one thread both writes
/// and reads: the socket buffers (128 KiB and more on loopback) hold the
/// whole window, so neither side's blocking write can wait on the other's.
const WINDOW_ALONE: usize = 64 * 1024;

/// Keeps `inflight` messages outstanding from one thread: writes the window,
/// then one new message per echo read. No cross-thread hand-off per message,
/// so the load generator spends its time on I/O and checking.
fn echo_windowed(
    kind: Kind,
    mut s: TcpStream,
    v: &Variants,
    inflight: usize,
    deadline: Instant,
    max: u64,
) -> std::io::Result<(u64, Vec<f64>)> {
    let mut r = BufReader::with_capacity(64 * 1024, s.try_clone()?);
    let mut buf = Vec::new();
    let (mut sent, mut got) = (0u64, 0u64);
    while sent < (inflight as u64).min(max) {
        s.write_all(&v.wire[sent as usize % v.wire.len()])?;
        sent += 1;
    }
    while got < sent {
        read_echo(
            kind,
            &mut r,
            &mut buf,
            &v.expect[got as usize % v.expect.len()],
        )?;
        got += 1;
        if sent < max && Instant::now() < deadline {
            s.write_all(&v.wire[sent as usize % v.wire.len()])?;
            sent += 1;
        }
    }
    Ok((got, Vec::new()))
}

/// A writer thread keeps `inflight` messages outstanding; this thread reads
/// and checks the echoes, handing back one credit per echo.
fn echo_pipelined(
    kind: Kind,
    s: TcpStream,
    v: Arc<Variants>,
    inflight: usize,
    deadline: Instant,
    max: u64,
) -> std::io::Result<(u64, Vec<f64>)> {
    let (credit_tx, credit_rx) = mpsc::sync_channel::<()>(inflight);
    for _ in 0..inflight {
        credit_tx.send(()).unwrap();
    }
    let sent = Arc::new(AtomicU64::new(0));
    let writer_done = Arc::new(AtomicBool::new(false));
    let writer = {
        let mut w = s.try_clone()?;
        let v = Arc::clone(&v);
        let sent = Arc::clone(&sent);
        let writer_done = Arc::clone(&writer_done);
        thread::spawn(move || -> std::io::Result<()> {
            let mut n = 0u64;
            while credit_rx.recv().is_ok() {
                w.write_all(&v.wire[n as usize % v.wire.len()])?;
                n += 1;
                sent.store(n, Ordering::Release);
            }
            writer_done.store(true, Ordering::Release);
            Ok(())
        })
    };
    // The reader only reads while an echo is owed, so a long timeout only
    // catches a server that stopped answering.
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut r = BufReader::with_capacity(64 * 1024, s);
    let mut buf = Vec::new();
    let mut got = 0u64;
    let mut credit = Some(credit_tx);
    let hard_stop = deadline + Duration::from_secs(30);
    loop {
        if credit.is_none()
            && writer_done.load(Ordering::Acquire)
            && got == sent.load(Ordering::Acquire)
        {
            break;
        }
        if got == sent.load(Ordering::Acquire) {
            // Nothing outstanding: wait for the writer without blocking in read.
            if Instant::now() > hard_stop {
                return Err(std::io::Error::other("writer stalled"));
            }
            thread::sleep(Duration::from_micros(50));
            if got == sent.load(Ordering::Acquire) {
                continue;
            }
        }
        let want = &v.expect[got as usize % v.expect.len()];
        read_echo(kind, &mut r, &mut buf, want)?;
        got += 1;
        if let Some(tx) = &credit {
            if Instant::now() >= deadline || got + inflight as u64 >= max {
                credit = None;
            } else {
                let _ = tx.send(());
            }
        }
    }
    writer.join().expect("writer")?;
    Ok((got, Vec::new()))
}

/// Handshake + close loops on `threads` client threads for `secs` seconds.
fn run_handshakes(server: &Running, kind: Kind, threads: usize, secs: f64) -> RunResult {
    let addr = server.addr;
    let pid = server.pid().to_string();
    let cpu0 = cpu_secs(&pid);
    let me0 = cpu_secs("self");
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            thread::spawn(move || -> u64 {
                let close = client_frame(8, false, &1000u16.to_be_bytes(), [1, 2, 3, 4]);
                let mut n = 0u64;
                let mut buf = Vec::new();
                while Instant::now() < deadline && n < 1_000_000 {
                    let mut s = connect(addr).expect("connect");
                    match kind {
                        Kind::Ws => {
                            ws_handshake(&mut s, addr).expect("handshake");
                            s.write_all(&close).expect("send close");
                            let op = read_frame(&mut s, &mut buf).expect("close reply");
                            assert_eq!(op, 8, "expected the Close reply");
                            assert_eq!(&buf[..2], &1000u16.to_be_bytes());
                        }
                        Kind::Raw => {
                            s.write_all(b"x").expect("send");
                            let mut b = [0u8; 1];
                            s.read_exact(&mut b).expect("echo");
                            assert_eq!(&b, b"x");
                            s.shutdown(std::net::Shutdown::Write).expect("shutdown");
                        }
                    }
                    // The server closes TCP: wait for its FIN, then reset so
                    // that neither side keeps the port in TIME_WAIT.
                    let mut rest = [0u8; 64];
                    let eof = s.read(&mut rest).expect("eof");
                    assert_eq!(eof, 0, "bytes after close");
                    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
                    drop(s);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let msgs: u64 = handles
        .into_iter()
        .map(|h| h.join().expect("handshake thread"))
        .sum();
    // Let the last server threads finish their bookkeeping before reading CPU.
    thread::sleep(Duration::from_millis(50));
    RunResult {
        msgs,
        secs: start.elapsed().as_secs_f64(),
        server_cpu: cpu_secs(&pid) - cpu0,
        client_cpu: cpu_secs("self") - me0,
        lat_us: Vec::new(),
        bytes: 0,
    }
}

// ---- idle memory ---------------------------------------------------------

struct IdleResult {
    asked: usize,
    held: usize,
    rss_kib: f64,
    virt_kib: f64,
    threads: u64,
    base_threads: u64,
    pongs: usize,
    rss_after_ping_kib: f64,
}

fn run_idle(spec: &ServerSpec, env: &[(&str, &str)], n: usize) -> IdleResult {
    let server = Running::start(spec, env);
    thread::sleep(Duration::from_millis(200));
    let (rss0, virt0, thr0) = mem_status(server.pid());
    let mut conns = Vec::with_capacity(n);
    let mut failures = 0;
    let give_up = Instant::now() + Duration::from_secs(90);
    while conns.len() < n && failures < 3 && Instant::now() < give_up {
        let attempt = (|| -> std::io::Result<TcpStream> {
            let mut s = connect(server.addr)?;
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            match spec.kind {
                Kind::Ws => ws_handshake(&mut s, server.addr)?,
                Kind::Raw => {
                    // The echo proves the server's thread is running.
                    s.write_all(b"h")?;
                    let mut b = [0u8; 1];
                    s.read_exact(&mut b)?;
                }
            }
            Ok(s)
        })();
        match attempt {
            Ok(s) => conns.push(s),
            Err(e) => {
                failures += 1;
                eprintln!("{}: connection {} failed: {e}", spec.name, conns.len() + 1);
            }
        }
    }
    let held = conns.len();
    // Every handler thread must be up before memory is read.
    let wait_until = Instant::now() + Duration::from_secs(20);
    while mem_status(server.pid()).2 < thr0 + held as u64 && Instant::now() < wait_until {
        thread::sleep(Duration::from_millis(50));
    }
    thread::sleep(Duration::from_millis(500));
    let (rss1, virt1, thr1) = mem_status(server.pid());
    // Every connection must still answer: a Ping (an echo for raw TCP) each.
    for (i, s) in conns.iter_mut().enumerate() {
        let payload = (i as u32).to_be_bytes();
        let _ = match spec.kind {
            Kind::Ws => s.write_all(&client_frame(9, false, &payload, [9, 8, 7, 6])),
            Kind::Raw => s.write_all(&payload),
        };
    }
    let mut pongs = 0;
    let mut buf = Vec::new();
    for (i, s) in conns.iter_mut().enumerate() {
        let payload = (i as u32).to_be_bytes();
        let ok = match spec.kind {
            Kind::Ws => loop {
                match read_frame(s, &mut buf) {
                    Ok(10) if buf[..] == payload => break true,
                    Ok(9) => continue,
                    _ => break false,
                }
            },
            Kind::Raw => {
                let mut b = [0u8; 4];
                s.read_exact(&mut b).is_ok() && b == payload
            }
        };
        pongs += ok as usize;
    }
    thread::sleep(Duration::from_millis(300));
    let (rss2, _, _) = mem_status(server.pid());
    for s in &conns {
        let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
    }
    drop(conns);
    server.stop();
    let per = |a: u64, b: u64| (a as f64 - b as f64) / held.max(1) as f64;
    IdleResult {
        asked: n,
        held,
        rss_kib: per(rss1, rss0),
        virt_kib: per(virt1, virt0),
        threads: thr1,
        base_threads: thr0,
        pongs,
        rss_after_ping_kib: per(rss2, rss0),
    }
}

// ---- reporting -------------------------------------------------------------

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// One printed row: a figure for the three servers and the ratios.
struct Row {
    name: String,
    vals: [f64; 3],
    unit: &'static str,
    /// (description, met) when the row has a target.
    target: Option<(String, bool)>,
}

fn fmt_val(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v.abs() >= 1000.0 {
        format!("{:.0}", v)
    } else if v.abs() >= 10.0 {
        format!("{:.1}", v)
    } else {
        format!("{:.2}", v)
    }
}

fn print_rows(rows: &[Row]) {
    println!(
        "{:<44} {:>11} {:>11} {:>11} {:>8} {:>8}  {}",
        "figure", "tinyws", "tungstenite", "raw TCP", "ti/tung", "ti/tcp", "target"
    );
    for r in rows {
        let ratio = |d: f64| {
            if d.is_nan() || r.vals[0].is_nan() || d == 0.0 {
                "-".into()
            } else {
                format!("{:.2}", r.vals[0] / d)
            }
        };
        let target = match &r.target {
            Some((t, met)) => format!("{} {}", t, if *met { "MET" } else { "MISSED" }),
            None => String::new(),
        };
        println!(
            "{:<44} {:>11} {:>11} {:>11} {:>8} {:>8}  {}",
            format!("{} ({})", r.name, r.unit),
            fmt_val(r.vals[0]),
            fmt_val(r.vals[1]),
            fmt_val(r.vals[2]),
            ratio(r.vals[1]),
            ratio(r.vals[2]),
            target
        );
    }
}

fn main() {
    let mut opts: HashMap<String, String> = HashMap::new();
    let mut flags = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--only-idle" || a == "--skip-idle" {
            flags.push(a);
        } else if let Some(k) = a.strip_prefix("--") {
            opts.insert(k.to_owned(), args.next().expect("option value"));
        }
    }
    if let Some(addr) = opts.get("drive") {
        // Drive one running server, for profiling: --drive ADDR --pid PID
        // [--kind raw] --conns N --size B --inflight K --secs S, or
        // --handshakes THREADS --secs S
        let server = Running::attach(
            addr.parse().expect("address"),
            opts["pid"].parse().expect("pid"),
        );
        let kind = if opts.get("kind").map(String::as_str) == Some("raw") {
            Kind::Raw
        } else {
            Kind::Ws
        };
        let n = |k: &str, d: usize| opts.get(k).map_or(d, |s| s.parse().unwrap());
        let secs: f64 = opts.get("secs").map_or(2.0, |s| s.parse().unwrap());
        let r = if opts.contains_key("handshakes") {
            // --handshakes THREADS: handshake + close loops instead of echoes.
            run_handshakes(&server, kind, n("handshakes", 2), secs)
        } else {
            run_echo(
                &server,
                kind,
                n("conns", 64),
                n("size", 32),
                n("inflight", 1),
                secs,
            )
        };
        let mut lat = r.lat_us.clone();
        println!(
            "{} msgs, {:.0} msg/s, {:.1} MB/s, server {:.2} us/msg, client {:.2} us/msg, round trip p50 {:.0} us p99 {:.0} us",
            r.msgs,
            r.msgs as f64 / r.secs,
            r.bytes as f64 / r.secs / 1e6,
            r.server_cpu * 1e6 / r.msgs as f64,
            r.client_cpu * 1e6 / r.msgs as f64,
            percentile(&mut lat, 0.5),
            percentile(&mut lat, 0.99)
        );
        std::mem::forget(server);
        return;
    }
    let get = |k: &str| {
        opts.get(k)
            .cloned()
            .unwrap_or_else(|| panic!("--{k} is required"))
    };
    let rounds: usize = opts.get("rounds").map_or(6, |s| s.parse().unwrap());
    let secs: f64 = opts.get("secs").map_or(2.0, |s| s.parse().unwrap());
    let idle_counts: Vec<usize> = opts
        .get("idle")
        .map_or("1000,10000".into(), |s| s.clone())
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let servers = [
        ServerSpec {
            name: "tinyws",
            bin: get("tinyws"),
            kind: Kind::Ws,
        },
        ServerSpec {
            name: "tungstenite",
            bin: get("tung"),
            kind: Kind::Ws,
        },
        ServerSpec {
            name: "raw TCP",
            bin: get("tcp"),
            kind: Kind::Raw,
        },
    ];
    let many = ServerSpec {
        name: "tinyws",
        bin: get("many"),
        kind: Kind::Ws,
    };
    let only_idle = flags.iter().any(|f| f == "--only-idle");
    let skip_idle = flags.iter().any(|f| f == "--skip-idle");
    let env_arena: Vec<(&str, &str)> = match opts.get("arena-max") {
        Some(v) => vec![(
            "MALLOC_ARENA_MAX",
            Box::leak(v.clone().into_boxed_str()) as &str,
        )],
        None => Vec::new(),
    };

    let mut rows = Vec::new();
    if !only_idle {
        throughput(&servers, &env_arena, rounds, secs, &mut rows);
    }
    if !skip_idle {
        idle(&servers, &many, &idle_counts, &mut rows);
    }
    if let (Some(a), Some(b)) = (opts.get("size-tinyws"), opts.get("size-tung")) {
        let size = |p: &str| {
            std::fs::metadata(p)
                .map(|m| m.len() as f64 / 1024.0)
                .unwrap_or(f64::NAN)
        };
        let (a, b) = (size(a), size(b));
        // The raw TCP echo shows what std alone costs a threaded server.
        let c = opts.get("size-tcp").map_or(f64::NAN, |p| size(p));
        rows.push(Row {
            name: "stripped echo, opt z + LTO + 1 CGU, unwind".into(),
            vals: [a, b, c],
            unit: "KiB",
            target: Some(("<= 0.80 x tung".into(), a <= 0.8 * b)),
        });
        if let Some(c) = opts.get("size-tinyws-nolog") {
            let c = size(c);
            rows.push(Row {
                name: "  same, tinyws echo without env_logger".into(),
                vals: [c, b, f64::NAN],
                unit: "KiB",
                target: Some(("<= 0.80 x tung".into(), c <= 0.8 * b)),
            });
        }
    }
    println!();
    print_rows(&rows);
}

const SCENARIOS: &[(&str, usize, usize, usize)] = &[
    // (name, connections, message size, in flight)
    ("1 conn x 32 B x 1", 1, 32, 1),
    ("64 conns x 32 B x 1", 64, 32, 1),
    ("16 conns x 16 KiB x 4", 16, 16 * 1024, 4),
    ("4 conns x 1 MiB x 2", 4, 1 << 20, 2),
];

fn throughput(
    servers: &[ServerSpec; 3],
    env: &[(&str, &str)],
    rounds: usize,
    secs: f64,
    rows: &mut Vec<Row>,
) {
    let running: Vec<Running> = servers.iter().map(|s| Running::start(s, env)).collect();
    // results[scenario][server] = runs
    let mut results: Vec<Vec<Vec<RunResult>>> = (0..=SCENARIOS.len())
        .map(|_| (0..3).map(|_| Vec::new()).collect())
        .collect();
    // Warm-up: one short pass each, not counted.
    for (i, s) in servers.iter().enumerate() {
        let _ = run_echo(&running[i], s.kind, 8, 32, 1, 0.3);
    }
    for round in 0..rounds {
        // Taking turns, with the order rotated each round (A B C, B C A,
        // C A B), so that no server always runs first after the handshake
        // storm of the round before.
        let order: Vec<usize> = (0..3).map(|k| (k + round) % 3).collect();
        thread::sleep(Duration::from_millis(500));
        for (si, &(name, conns, size, inflight)) in SCENARIOS.iter().enumerate() {
            for &i in &order {
                let s = &servers[i];
                // Let the previous run's connection threads (in whichever
                // server) finish exiting before the clock starts.
                thread::sleep(Duration::from_millis(300));
                let r = run_echo(&running[i], s.kind, conns, size, inflight, secs);
                eprintln!(
                    "round {} {:<24} {:<12} {:>10.0} msg/s  server {:>6.2} us/msg  client {:>6.2} us/msg",
                    round + 1,
                    name,
                    s.name,
                    r.msgs as f64 / r.secs,
                    r.server_cpu * 1e6 / r.msgs as f64,
                    r.client_cpu * 1e6 / r.msgs as f64
                );
                results[si][i].push(r);
            }
        }
        for &i in &order {
            let s = &servers[i];
            thread::sleep(Duration::from_millis(300));
            let r = run_handshakes(&running[i], s.kind, 2, secs);
            eprintln!(
                "round {} {:<24} {:<12} {:>10.0} conn/s   server {:>6.1} us/conn client {:>6.1} us/conn",
                round + 1,
                "handshake + close",
                s.name,
                r.msgs as f64 / r.secs,
                r.server_cpu * 1e6 / r.msgs as f64,
                r.client_cpu * 1e6 / r.msgs as f64
            );
            results[SCENARIOS.len()][i].push(r);
        }
    }
    for r in running {
        r.stop();
    }

    let med = |si: usize, f: &dyn Fn(&RunResult) -> f64| -> [f64; 3] {
        let mut out = [0.0; 3];
        for (i, o) in out.iter_mut().enumerate() {
            *o = median(results[si][i].iter().map(f).collect());
        }
        out
    };
    let rate = |r: &RunResult| r.msgs as f64 / r.secs;
    let mbps = |r: &RunResult| r.bytes as f64 / r.secs / 1e6;
    let scpu = |r: &RunResult| r.server_cpu * 1e6 / r.msgs as f64;
    let ccpu = |r: &RunResult| r.client_cpu * 1e6 / r.msgs as f64;
    let ge = |v: [f64; 3], k: f64| v[0] >= k * v[1];
    let no_worse = |v: [f64; 3]| (">= 1.0 x tung".to_string(), ge(v, 1.0));

    // 1 connection: rate and latency percentiles over all rounds' samples.
    let v = med(0, &rate);
    rows.push(Row {
        name: "1 conn x 32 B echo".into(),
        vals: v,
        unit: "msg/s",
        target: Some(no_worse(v)),
    });
    let mut p = [[0.0; 3]; 2];
    for i in 0..3 {
        let p50: Vec<f64> = results[0][i]
            .iter()
            .map(|r| percentile(&mut r.lat_us.clone(), 0.5))
            .collect();
        let p99: Vec<f64> = results[0][i]
            .iter()
            .map(|r| percentile(&mut r.lat_us.clone(), 0.99))
            .collect();
        p[0][i] = median(p50);
        p[1][i] = median(p99);
    }
    let le = |v: [f64; 3]| ("<= 1.0 x tung".to_string(), v[0] <= v[1]);
    rows.push(Row {
        name: "1 conn x 32 B round trip p50".into(),
        vals: p[0],
        unit: "us",
        target: Some(le(p[0])),
    });
    rows.push(Row {
        name: "1 conn x 32 B round trip p99".into(),
        vals: p[1],
        unit: "us",
        target: Some(le(p[1])),
    });
    let v = med(1, &rate);
    rows.push(Row {
        name: "64 conns x 32 B x 1 in flight".into(),
        vals: v,
        unit: "msg/s",
        target: Some((
            ">= 1.1 x tung, >= 0.95 x tcp".into(),
            ge(v, 1.1) && v[0] >= 0.95 * v[2],
        )),
    });
    let c = med(1, &scpu);
    rows.push(Row {
        name: "server CPU per msg, 64 x 32 B".into(),
        vals: c,
        unit: "us",
        target: Some(("<= 1.05 x tcp".into(), c[0] <= 1.05 * c[2])),
    });
    let v = med(2, &rate);
    rows.push(Row {
        name: "16 conns x 16 KiB x 4 in flight".into(),
        vals: v,
        unit: "msg/s",
        target: Some((">= 1.2 x tung".into(), ge(v, 1.2))),
    });
    let v = med(2, &mbps);
    rows.push(Row {
        name: "16 conns x 16 KiB x 4 in flight".into(),
        vals: v,
        unit: "MB/s",
        target: Some((">= 1.2 x tung".into(), ge(v, 1.2))),
    });
    let c = med(2, &scpu);
    rows.push(Row {
        name: "server CPU per msg, 16 KiB".into(),
        vals: c,
        unit: "us",
        target: None,
    });
    let v = med(3, &mbps);
    rows.push(Row {
        name: "4 conns x 1 MiB x 2 in flight".into(),
        vals: v,
        unit: "MB/s",
        target: Some(no_worse(v)),
    });
    let c = med(3, &scpu);
    rows.push(Row {
        name: "server CPU per msg, 1 MiB".into(),
        vals: c,
        unit: "us",
        target: None,
    });
    let hs = SCENARIOS.len();
    let v = med(hs, &rate);
    rows.push(Row {
        name: "handshake + close, 2 client threads".into(),
        vals: v,
        unit: "conn/s",
        target: Some(no_worse(v)),
    });
    let c = med(hs, &scpu);
    rows.push(Row {
        name: "server CPU per handshake + close".into(),
        vals: c,
        unit: "us",
        target: Some(("<= 0.6 x tung".into(), c[0] <= 0.6 * c[1])),
    });
    // The load generator's own cost, to show it is not the bottleneck.
    for (si, name) in [(1, "64 x 32 B"), (2, "16 KiB")] {
        let c = med(si, &ccpu);
        rows.push(Row {
            name: format!("load generator CPU per msg, {name}"),
            vals: c,
            unit: "us",
            target: None,
        });
    }
}

fn idle(servers: &[ServerSpec; 3], many: &ServerSpec, counts: &[usize], rows: &mut Vec<Row>) {
    let specs = [many.clone(), servers[1].clone(), servers[2].clone()];
    for (label, env) in [
        ("glibc default", Vec::<(&str, &str)>::new()),
        ("MALLOC_ARENA_MAX=1", vec![("MALLOC_ARENA_MAX", "1")]),
    ] {
        for &n in counts {
            let res: Vec<IdleResult> = specs.iter().map(|s| run_idle(s, &env, n)).collect();
            for (s, r) in specs.iter().zip(&res) {
                eprintln!(
                    "idle {label} {n}: {:<12} held {}/{} pongs {} threads {} (base {}) RSS {:.1} KiB/conn virt {:.1} KiB/conn RSS after ping {:.1} KiB/conn",
                    s.name, r.held, r.asked, r.pongs, r.threads, r.base_threads, r.rss_kib, r.virt_kib, r.rss_after_ping_kib
                );
            }
            let v = |f: &dyn Fn(&IdleResult) -> f64| [f(&res[0]), f(&res[1]), f(&res[2])];
            let rss = v(&|r| r.rss_kib);
            let virt = v(&|r| r.virt_kib);
            let strict = label == "MALLOC_ARENA_MAX=1";
            rows.push(Row {
                name: format!("idle RSS/conn @{n}, {label}"),
                vals: rss,
                unit: "KiB",
                target: strict.then(|| ("<= 8 KiB".into(), rss[0] <= 8.0)),
            });
            rows.push(Row {
                name: format!("idle virt/conn @{n}, {label}"),
                vals: virt,
                unit: "KiB",
                target: strict.then(|| ("<= 96 KiB".into(), virt[0] <= 96.0)),
            });
            rows.push(Row {
                name: format!("RSS/conn after one ping each @{n}, {label}"),
                vals: v(&|r| r.rss_after_ping_kib),
                unit: "KiB",
                target: None,
            });
            rows.push(Row {
                name: format!("held / answered / threads @{n}, {label}"),
                vals: [res[0].held as f64, res[1].held as f64, res[2].held as f64],
                unit: "conns",
                target: Some((
                    format!("all {n} held and answering"),
                    res[0].held == n && res[0].pongs == n,
                )),
            });
            rows.push(Row {
                name: format!("  pongs @{n}, {label}"),
                vals: [
                    res[0].pongs as f64,
                    res[1].pongs as f64,
                    res[2].pongs as f64,
                ],
                unit: "answers",
                target: None,
            });
            rows.push(Row {
                name: format!("  server threads @{n}, {label}"),
                vals: [
                    res[0].threads as f64,
                    res[1].threads as f64,
                    res[2].threads as f64,
                ],
                unit: "threads",
                target: None,
            });
        }
    }
}
