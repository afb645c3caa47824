//! Broadcast benchmark: one producer, N subscribers on loopback, with and
//! without one stalled subscriber. Prints figures; asserts nothing about
//! speed.
//!
//! ```text
//! scripts/broadcast-bench.sh            # raises `ulimit -n`, builds --release, runs
//! cargo run --release --example broadcast_bench -- [--subscribers 100,1000]
//!     [--stall-ms 200] [--payload 1024] [--rate 10] [--secs 3]
//! ```
//!
//! Each subscriber is a real connection to a [`Server`], read by a raw client
//! thread that parses frames. Every message carries its send time, so each
//! client measures delivery latency itself. Four runs per N:
//!
//! - flat out: broadcasts back to back for `--secs`; messages delivered per
//!   second to all healthy subscribers, and latency from the start of each
//!   broadcast (mostly queueing, since the producer never waits);
//! - paced: `--rate` broadcasts a second, latency measured from each
//!   message's scheduled time, so a broadcast held up by a stall also counts
//!   against the messages queued behind it;
//! - each again with one stalled subscriber: connected, never reads, first
//!   in the hub's list so a stall on it delays every healthy subscriber. Its
//!   kernel buffers are filled to just short of full before the run (the
//!   capacity is measured on a throwaway connection first), so it stalls
//!   early in the run instead of after megabytes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use tinyws::{Config, Hub, Sender, Server};

const END: u32 = u32::MAX;
/// Room, in messages, left in the stalled subscriber's buffers after the
/// prefill.
const MARGIN: usize = 4;
const WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
struct Opts {
    subscribers: Vec<usize>,
    stall: Duration,
    payload: usize,
    rate: u32,
    secs: f64,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        subscribers: vec![100, 1000],
        stall: Duration::from_millis(200),
        payload: 1024,
        rate: 10,
        secs: 3.0,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or("");
        let bad = || -> ! {
            eprintln!(
                "usage: broadcast_bench [--subscribers 100,1000] [--stall-ms 200] \
                 [--payload 1024] [--rate 10] [--secs 3]"
            );
            std::process::exit(2)
        };
        match pair[0].as_str() {
            "--subscribers" => {
                o.subscribers = value
                    .split(',')
                    .map(|n| n.parse().unwrap_or_else(|_| bad()))
                    .collect()
            }
            "--stall-ms" => {
                o.stall = Duration::from_millis(value.parse().unwrap_or_else(|_| bad()))
            }
            "--payload" => o.payload = value.parse().unwrap_or_else(|_| bad()),
            "--rate" => o.rate = value.parse().unwrap_or_else(|_| bad()),
            "--secs" => o.secs = value.parse().unwrap_or_else(|_| bad()),
            _ => bad(),
        }
    }
    o.payload = o.payload.max(16);
    o
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let opts = parse_opts();
    println!(
        "broadcast_bench: {}-byte binary messages, stall bound {} ms, paced at {}/s, {} s per run, \
         {} CPUs",
        opts.payload,
        opts.stall.as_millis(),
        opts.rate,
        opts.secs,
        thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!(
        "| subscribers | stalled subscriber | producer | delivered msg/s | p50 | p99 | max | slowest broadcast |"
    );
    println!("|---:|---|---|---:|---:|---:|---:|---:|");
    let mut notes = Vec::new();
    for &n in &opts.subscribers {
        match bench(n, &opts, &mut notes) {
            Ok(()) => {}
            Err(e) => {
                eprintln!("broadcast_bench: N={}: {}", n, e);
                std::process::exit(1);
            }
        }
    }
    println!();
    for note in notes {
        println!("{}", note);
    }
}

/// What one client thread saw in one run.
struct Report {
    run: u32,
    count: u64,
    /// Microseconds from send (or schedule) to receipt.
    latencies: Vec<u32>,
    /// When the end marker arrived, in ns since `base`.
    last_ns: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    FlatOut,
    Paced,
}

struct Bench<'a> {
    opts: &'a Opts,
    addr: SocketAddr,
    base: Instant,
    healthy: Vec<Sender>,
    reports: mpsc::Receiver<Report>,
    senders: mpsc::Receiver<(SocketAddr, Sender)>,
    next_run: u32,
}

fn bench(n: usize, opts: &Opts, notes: &mut Vec<String>) -> Result<(), String> {
    let config = Config::default().max_connections(n + 16);
    let server = Server::bind("127.0.0.1:0", &config).map_err(|e| e.to_string())?;
    let addr = server.local_addr().map_err(|e| e.to_string())?;
    let handle = server.handle();
    let (tx, senders) = mpsc::channel::<(SocketAddr, Sender)>();
    let tx = Mutex::new(tx);
    let server_thread = thread::spawn(move || {
        server.serve(move |mut ws| {
            let peer = ws.request().and_then(|r| r.peer_addr());
            if let (Ok(sender), Some(peer)) = (ws.sender(), peer) {
                let _ = tx.lock().map(|tx| tx.send((peer, sender)));
            }
            while ws.read().is_ok() {}
        })
    });

    let base = Instant::now();
    let (report_tx, reports) = mpsc::channel::<Report>();
    let mut readers = Vec::with_capacity(n);
    let setup = Instant::now();
    for _ in 0..n {
        let (reader, writer) = open(addr)?;
        let report_tx = report_tx.clone();
        let t = thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || read_loop(reader, writer, base, &report_tx))
            .map_err(|e| format!("cannot start client thread: {}", e))?;
        readers.push(t);
    }
    drop(report_tx);
    let mut healthy = Vec::with_capacity(n);
    for _ in 0..n {
        let (_, sender) = senders
            .recv_timeout(WAIT)
            .map_err(|_| "server never handed over a connection".to_string())?;
        healthy.push(sender);
    }
    notes.push(format!(
        "N={}: {} connections opened in {:.2} s",
        n,
        n,
        setup.elapsed().as_secs_f64()
    ));

    let mut b = Bench {
        opts,
        addr,
        base,
        healthy,
        reports,
        senders,
        next_run: 0,
    };
    for &mode in &[Mode::FlatOut, Mode::Paced] {
        for &stalled in &[false, true] {
            b.run(mode, stalled, notes)?;
        }
    }

    handle.shutdown();
    let _ = server_thread.join();
    for t in readers {
        let _ = t.join();
    }
    Ok(())
}

impl Bench<'_> {
    fn run(&mut self, mode: Mode, stalled: bool, notes: &mut Vec<String>) -> Result<(), String> {
        let n = self.healthy.len();
        let opts = self.opts;
        let hub = Hub::new(opts.stall);
        // Kept open until the end of the run, so its socket stays stalled.
        let mut stalled_conn = None;
        if stalled {
            let (conn, sender) = self.stalled_subscriber()?;
            hub.subscribe(sender).map_err(|e| e.to_string())?;
            stalled_conn = Some(conn);
        }
        for s in &self.healthy {
            hub.subscribe(s.clone()).map_err(|e| e.to_string())?;
        }
        let expected = n + usize::from(stalled);
        let run = self.next_run;
        self.next_run += 1;

        let mut message = vec![0u8; opts.payload];
        message[..4].copy_from_slice(&run.to_le_bytes());
        let period = Duration::from_secs_f64(1.0 / f64::from(opts.rate.max(1)));
        let length = Duration::from_secs_f64(opts.secs);
        let start = Instant::now();
        let mut seq: u32 = 0;
        let mut slowest = Duration::from_secs(0);
        let mut durations = Vec::new();
        let mut dropped_after = None;
        loop {
            let now = Instant::now();
            // A stall run goes on until the stall has happened, within
            // reason.
            let waiting = stalled && dropped_after.is_none() && now - start < length * 10;
            if now - start >= length && !waiting {
                break;
            }
            let stamp = match mode {
                Mode::FlatOut => now,
                Mode::Paced => {
                    let due = start + period * seq;
                    if due > now {
                        thread::sleep(due - now);
                    }
                    due
                }
            };
            message[4..8].copy_from_slice(&seq.to_le_bytes());
            let ns = (stamp - self.base).as_nanos() as u64;
            message[8..16].copy_from_slice(&ns.to_le_bytes());
            let t0 = Instant::now();
            let reached = hub.broadcast(&message[..]);
            let took = t0.elapsed();
            slowest = slowest.max(took);
            durations.push(took);
            if reached < expected && dropped_after.is_none() {
                dropped_after = Some((t0 - start, took));
            }
            if reached < n {
                return Err(format!(
                    "a healthy subscriber was dropped ({} of {})",
                    reached, n
                ));
            }
            seq += 1;
        }
        let produced = start.elapsed();
        message[4..8].copy_from_slice(&END.to_le_bytes());
        let ns = self.base.elapsed().as_nanos() as u64;
        message[8..16].copy_from_slice(&ns.to_le_bytes());
        hub.broadcast(&message[..]);

        let mut latencies = Vec::with_capacity(n * seq as usize);
        let mut delivered = 0u64;
        let mut last_ns = 0u64;
        for _ in 0..n {
            let r = self
                .reports
                .recv_timeout(WAIT)
                .map_err(|_| "a client never saw the end of the run".to_string())?;
            if r.run != run {
                return Err(format!("report for run {} during run {}", r.run, run));
            }
            delivered += r.count;
            last_ns = last_ns.max(r.last_ns);
            latencies.extend_from_slice(&r.latencies);
        }
        if delivered != u64::from(seq) * n as u64 {
            return Err(format!(
                "{} deliveries, expected {} x {}",
                delivered, seq, n
            ));
        }
        let elapsed = Duration::from_nanos(last_ns) - (start - self.base);
        latencies.sort_unstable();
        let pct = |p: f64| -> u32 {
            if latencies.is_empty() {
                return 0;
            }
            latencies[((latencies.len() - 1) as f64 * p).round() as usize]
        };
        println!(
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} |",
            n,
            if stalled { "yes" } else { "no" },
            match mode {
                Mode::FlatOut => "flat out".to_owned(),
                Mode::Paced => format!("{}/s", opts.rate),
            },
            delivered as f64 / elapsed.as_secs_f64(),
            ms(pct(0.50)),
            ms(pct(0.99)),
            ms(pct(1.0)),
            ms((slowest.as_micros()) as u32),
        );
        if stalled {
            durations.sort_unstable();
            let median = durations[durations.len() / 2];
            match dropped_after {
                Some((at, took)) => notes.push(format!(
                    "N={} {}: the stalled subscriber was cut {:.0} ms into the run; that broadcast \
                     took {:.1} ms, {:.1} ms more than the median broadcast (bound {} ms); \
                     {} broadcasts in {:.2} s",
                    n,
                    if mode == Mode::FlatOut { "flat out" } else { "paced" },
                    at.as_secs_f64() * 1e3,
                    took.as_secs_f64() * 1e3,
                    (took.saturating_sub(median)).as_secs_f64() * 1e3,
                    opts.stall.as_millis(),
                    seq,
                    produced.as_secs_f64()
                )),
                None => {
                    return Err("the stalled subscriber never stalled; raise --secs".to_string())
                }
            }
            if hub.len() != n {
                return Err(format!(
                    "hub holds {} subscribers, expected {}",
                    hub.len(),
                    n
                ));
            }
        }
        drop(stalled_conn);
        Ok(())
    }

    /// A connection that never reads, with its kernel buffers filled to a
    /// few messages short of full.
    fn stalled_subscriber(&mut self) -> Result<(TcpStream, Sender), String> {
        let coarse = vec![0xAAu8; 16 * 1024];
        let fine = vec![0xAAu8; self.opts.payload];
        let frame = |m: &[u8]| m.len() + if m.len() < 126 { 2 } else { 4 };
        // How much a connection that never reads absorbs before a write
        // stalls: measured on throwaway connections, because the kernel
        // sizes loopback buffers itself. First to 16 KiB, then to one
        // message.
        let mut capacity = 0usize;
        for step in [&coarse, &fine] {
            let start = capacity.saturating_sub(2 * frame(&coarse));
            let (probe, sender) = self.raw_subscriber()?;
            let filler = Hub::new(self.opts.stall);
            filler.subscribe(sender).map_err(|e| e.to_string())?;
            let mut filled = 0;
            while filled + frame(&coarse) <= start {
                if filler.broadcast(&coarse[..]) == 0 {
                    return Err("a probe connection stalled early".to_string());
                }
                filled += frame(&coarse);
            }
            while filler.broadcast(&step[..]) == 1 {
                filled += frame(step);
                if filled > 1 << 30 {
                    return Err("a connection that never reads absorbed 1 GiB".to_string());
                }
            }
            capacity = filled;
            drop(probe);
        }
        log::info!("a connection that never reads absorbs {} bytes", capacity);
        // Fill a fresh connection to MARGIN messages short of that; should
        // the kernel give it less room, try again with more margin.
        for attempt in 0..4 {
            let room = frame(&fine) * (MARGIN << (2 * attempt));
            let (conn, sender) = self.raw_subscriber()?;
            let filler = Hub::new(self.opts.stall);
            filler
                .subscribe(sender.clone())
                .map_err(|e| e.to_string())?;
            let mut filled = 0;
            let mut ok = true;
            for (m, until) in [(&coarse, room + frame(&coarse)), (&fine, room)] {
                while ok && filled + frame(m) + until <= capacity {
                    ok = filler.broadcast(&m[..]) == 1;
                    filled += frame(m);
                }
            }
            if ok {
                return Ok((conn, sender));
            }
            log::info!("prefill with {} bytes of room stalled; retrying", room);
        }
        Err("could not fill a stalled subscriber without it stalling".to_string())
    }

    /// Opens a connection that never reads and returns the server's Sender
    /// for it.
    fn raw_subscriber(&mut self) -> Result<(TcpStream, Sender), String> {
        let (reader, _writer) = open(self.addr)?;
        let local = reader.get_ref().local_addr().map_err(|e| e.to_string())?;
        let (peer, sender) = self
            .senders
            .recv_timeout(WAIT)
            .map_err(|_| "server never handed over a connection".to_string())?;
        if peer != local {
            return Err(format!("expected connection {}, got {}", local, peer));
        }
        Ok((reader.into_inner(), sender))
    }
}

fn ms(micros: u32) -> String {
    format!("{:.2} ms", f64::from(micros) / 1000.0)
}

/// Connects and completes the handshake; returns a buffered reader and a
/// writer on the same socket.
fn open(addr: SocketAddr) -> Result<(BufReader<TcpStream>, TcpStream), String> {
    let err = |e: std::io::Error| format!("client: {}", e);
    let mut stream = TcpStream::connect(addr).map_err(err)?;
    stream.set_read_timeout(Some(WAIT)).map_err(err)?;
    stream.set_nodelay(true).map_err(err)?;
    stream
        .write_all(
            b"GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .map_err(err)?;
    let writer = stream.try_clone().map_err(err)?;
    let mut reader = BufReader::with_capacity(16 * 1024, stream);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(err)?;
    if !line.starts_with("HTTP/1.1 101") {
        return Err(format!("handshake refused: {}", line.trim()));
    }
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(err)? == 0 {
            return Err("closed during the handshake".to_string());
        }
        if line == "\r\n" {
            return Ok((reader, writer));
        }
    }
}

/// One healthy subscriber: reads frames, timestamps them, reports at each
/// run's end marker, answers Close and exits.
fn read_loop(
    mut reader: BufReader<TcpStream>,
    mut writer: TcpStream,
    base: Instant,
    reports: &mpsc::Sender<Report>,
) {
    let mut payload = Vec::new();
    let mut latencies = Vec::new();
    let mut count = 0u64;
    loop {
        let opcode = match read_frame(&mut reader, &mut payload) {
            Ok(op) => op,
            Err(_) => return,
        };
        let now = base.elapsed().as_nanos() as u64;
        match opcode {
            2 if payload.len() >= 16 => {}
            8 => {
                // An empty masked Close answers the server's.
                let _ = writer.write_all(&[0x88, 0x80, 0, 0, 0, 0]);
                return;
            }
            _ => continue,
        }
        let word = |i: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&payload[i..i + 4]);
            u32::from_le_bytes(b)
        };
        let mut stamp = [0u8; 8];
        stamp.copy_from_slice(&payload[8..16]);
        let sent = u64::from_le_bytes(stamp);
        if word(4) == END {
            let report = Report {
                run: word(0),
                count,
                latencies: std::mem::take(&mut latencies),
                last_ns: now,
            };
            if reports.send(report).is_err() {
                return;
            }
            count = 0;
            continue;
        }
        count += 1;
        latencies.push((now.saturating_sub(sent) / 1000).min(u64::from(u32::MAX)) as u32);
    }
}

/// Reads one unmasked server frame into `payload`; returns its opcode.
fn read_frame(r: &mut impl Read, payload: &mut Vec<u8>) -> std::io::Result<u8> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head)?;
    let len = match head[1] & 0x7F {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b)?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b)?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    payload.resize(len as usize, 0);
    r.read_exact(payload)?;
    Ok(head[0] & 0x0F)
}
