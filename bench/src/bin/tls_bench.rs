//! Load generator for scripts/tls-bench.sh: wss:// on tinyws, tungstenite
//! behind rustls, and a raw rustls echo (no WebSocket), each its own
//! process, taking turns in every round (the order rotates), on the same
//! rustls, ring and ECDSA P-256 certificate. Prints medians over the rounds
//! and the ratios, and the goals of issue 15. Every echoed byte is checked;
//! every socket has a timeout. Loopback only.
//!
//! usage: tls_bench --tinyws BIN --tung BIN --raw BIN --cert PEM --key PEM --ca PEM
//!                  [--rounds N (5)] [--secs S (2)] [--idle N (1000)]
//!                  [--size-plain FILE --size-tls FILE]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

#[path = "../common.rs"]
mod common;
use common::{client_frame, clk_tck, loadavg, median};

/// The mask of every client frame: the servers unmask whatever it is.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

const NAMES: [&str; 3] = ["tinyws", "tungstenite+rustls", "raw rustls"];
/// Client threads (and connections) for the echo and handshake loops: one
/// per core of the machine this was written on.
const THREADS: usize = 2;

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(bin: &str, cert: &str, key: &str) -> Server {
        let mut child = Command::new(bin)
            .args(["127.0.0.1:0", cert, key])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {bin}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("banner");
        let addr = line
            .split_whitespace()
            .find_map(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Server { child, addr }
    }

    /// utime + stime of all its threads, dead ones included, in seconds.
    fn cpu(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let after = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
        let f: Vec<f64> = after
            .split_whitespace()
            .map(|s| s.parse().unwrap_or(0.0))
            .collect();
        (f[11] + f[12]) / clk_tck()
    }

    fn rss_kib(&self) -> f64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        s.lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client_config(ca: &str, resume: bool) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("CA file") {
        roots.add(cert.expect("CA")).expect("CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if !resume {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Arc::new(config)
}

/// A client connection: TLS, and the WebSocket upgrade unless `raw`.
/// Returns after the upgrade's 101 (or at once for raw: the handshake
/// completes on the first echo).
fn open(addr: SocketAddr, config: &Arc<rustls::ClientConfig>, raw: bool) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(20)))?;
    let name = ServerName::try_from("localhost").unwrap();
    let session =
        rustls::ClientConnection::new(Arc::clone(config), name).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(session, tcp);
    if !raw {
        tls.write_all(
            b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )?;
        let mut head = Vec::with_capacity(256);
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if tls.read(&mut b)? == 0 || head.len() > 4096 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            head.push(b[0]);
        }
        if !head.starts_with(b"HTTP/1.1 101") {
            return Err(std::io::Error::other("no 101"));
        }
    }
    Ok(tls)
}

/// Sends `payload` and checks that it comes back (as one binary frame, or
/// as the same bytes for raw).
fn echo(
    tls: &mut Tls,
    raw: bool,
    wire: &[u8],
    payload: &[u8],
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    tls.write_all(wire)?;
    if raw {
        buf.resize(payload.len(), 0);
        tls.read_exact(buf)?;
    } else {
        let mut h = [0u8; 2];
        tls.read_exact(&mut h)?;
        let len = match h[1] & 0x7f {
            126 => {
                let mut l = [0u8; 2];
                tls.read_exact(&mut l)?;
                u16::from_be_bytes(l) as usize
            }
            127 => return Err(std::io::Error::other("unexpected 64-bit length")),
            n => n as usize,
        };
        if h[0] != 0x82 {
            return Err(std::io::Error::other(format!(
                "unexpected frame {:#x}",
                h[0]
            )));
        }
        buf.resize(len, 0);
        tls.read_exact(buf)?;
    }
    if buf[..] != payload[..] {
        return Err(std::io::Error::other("echo differs"));
    }
    Ok(())
}

/// Ends a connection politely: a Close frame (or close_notify for raw),
/// then reads until the server has closed, so its side is all done.
fn close(mut tls: Tls, raw: bool) {
    if raw {
        tls.conn.send_close_notify();
        let _ = tls.flush();
    } else {
        let _ = tls.write_all(&client_frame(0x8, false, &[0x03, 0xe8], MASK));
    }
    let mut sink = [0u8; 256];
    while let Ok(n) = tls.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
    // No TIME_WAIT on the client: thousands of handshakes per run.
    let _ = socket_linger0(&tls.sock);
}

fn socket_linger0(tcp: &TcpStream) -> std::io::Result<()> {
    socket2::SockRef::from(tcp).set_linger(Some(Duration::from_secs(0)))
}

fn payload(size: usize, seed: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 + seed * 7) as u8).collect()
}

/// Echoes of `size` bytes in lockstep on THREADS connections for `secs`:
/// (server CPU per echo in µs, echoes).
fn run_echo(
    server: &Server,
    raw: bool,
    size: usize,
    secs: f64,
    config: &Arc<rustls::ClientConfig>,
) -> (f64, f64) {
    let mut conns: Vec<Tls> = (0..THREADS)
        .map(|_| open(server.addr, config, raw).expect("connect"))
        .collect();
    // Warm up: the handshake finishes and buffers reach their size.
    let mut buf = Vec::new();
    let p = payload(size, 1);
    let wire = if raw {
        p.clone()
    } else {
        client_frame(0x2, false, &p, MASK)
    };
    for tls in &mut conns {
        for _ in 0..20 {
            echo(tls, raw, &wire, &p, &mut buf).expect("warm-up echo");
        }
    }
    let cpu0 = server.cpu();
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let handles: Vec<_> = conns
        .into_iter()
        .map(|mut tls| {
            let (p, wire) = (p.clone(), wire.clone());
            thread::spawn(move || {
                let mut buf = Vec::new();
                let mut n = 0u64;
                while Instant::now() < until {
                    echo(&mut tls, raw, &wire, &p, &mut buf).expect("echo");
                    n += 1;
                }
                (n, tls)
            })
        })
        .collect();
    let results: Vec<(u64, Tls)> = handles
        .into_iter()
        .map(|h| h.join().expect("echo thread"))
        .collect();
    let cpu1 = server.cpu();
    let n: u64 = results.iter().map(|r| r.0).sum();
    for (_, tls) in results {
        close(tls, raw);
    }
    ((cpu1 - cpu0) * 1e6 / n as f64, n as f64)
}

/// Connections in a row on THREADS threads for `secs`, each a TLS handshake
/// (+ upgrade), one 32 B echo and a close: (per second, server CPU per
/// connection in µs).
fn run_handshakes(
    server: &Server,
    raw: bool,
    secs: f64,
    config: &Arc<rustls::ClientConfig>,
    resume: bool,
) -> (f64, f64) {
    let p = payload(32, 2);
    let wire = if raw {
        p.clone()
    } else {
        client_frame(0x2, false, &p, MASK)
    };
    // Warm up, and a first full handshake so a resuming client has a ticket.
    for _ in 0..5 {
        let mut tls = open(server.addr, config, raw).expect("connect");
        echo(&mut tls, raw, &wire, &p, &mut Vec::new()).expect("echo");
        close(tls, raw);
    }
    let cpu0 = server.cpu();
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(secs);
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (config, p, wire, addr) =
                (Arc::clone(config), p.clone(), wire.clone(), server.addr);
            thread::spawn(move || {
                let mut n = 0u64;
                let mut buf = Vec::new();
                let mut resumed = 0u64;
                while Instant::now() < until {
                    let mut tls = open(addr, &config, raw).expect("connect");
                    echo(&mut tls, raw, &wire, &p, &mut buf).expect("echo");
                    if tls.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                        resumed += 1;
                    }
                    close(tls, raw);
                    n += 1;
                }
                (n, resumed)
            })
        })
        .collect();
    let (n, resumed) = handles
        .into_iter()
        .map(|h| h.join().expect("handshake thread"))
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let elapsed = start.elapsed().as_secs_f64();
    let cpu1 = server.cpu();
    // A resuming client that did not resume measures nothing it claims to.
    let want = if resume { n } else { 0 };
    assert_eq!(resumed, want, "{} of {} handshakes resumed", resumed, n);
    (n as f64 / elapsed, (cpu1 - cpu0) * 1e6 / n as f64)
}

/// RSS per idle connection: a fresh server, 50 connections to warm it up,
/// then `n` more, each after one 32 B echo; (RSS after - before) / n, KiB.
fn run_idle(
    bin: &str,
    cert: &str,
    key: &str,
    raw: bool,
    n: usize,
    config: &Arc<rustls::ClientConfig>,
) -> f64 {
    let server = Server::start(bin, cert, key);
    let p = payload(32, 3);
    let wire = if raw {
        p.clone()
    } else {
        client_frame(0x2, false, &p, MASK)
    };
    let mut buf = Vec::new();
    let mut hold = |count: usize, held: &mut Vec<Tls>| {
        for _ in 0..count {
            let mut tls = open(server.addr, config, raw).expect("connect");
            echo(&mut tls, raw, &wire, &p, &mut buf).expect("echo");
            held.push(tls);
        }
    };
    let mut held = Vec::new();
    hold(50, &mut held);
    thread::sleep(Duration::from_secs(1));
    let before = server.rss_kib();
    hold(n, &mut held);
    // Let every connection thread settle into its idle read.
    thread::sleep(Duration::from_secs(2));
    let after = server.rss_kib();
    drop(held);
    (after - before) / n as f64
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn main() {
    let mut opts: HashMap<String, String> = HashMap::new();
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let key = pair[0].trim_start_matches("--").to_string();
        opts.insert(key, pair.get(1).cloned().unwrap_or_default());
    }
    let opt = |k: &str| {
        opts.get(k)
            .cloned()
            .unwrap_or_else(|| panic!("--{k} is required"))
    };
    let bins = [opt("tinyws"), opt("tung"), opt("raw")];
    let (cert, key, ca) = (opt("cert"), opt("key"), opt("ca"));
    let rounds: usize = opts.get("rounds").and_then(|s| s.parse().ok()).unwrap_or(5);
    let secs: f64 = opts.get("secs").and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let idle: usize = opts
        .get("idle")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let fresh = client_config(&ca, false);
    let resume = client_config(&ca, true);
    println!("load before: {}", loadavg());

    // name, then per server the values of each round
    let scenarios = [
        "CPU per 32 B echo (µs)",
        "CPU per 16 KiB echo (µs)",
        "connections/s, full handshake",
        "CPU per connection, full handshake (µs)",
        "connections/s, resumed",
        "CPU per connection, resumed (µs)",
    ];
    let mut vals = vec![[Vec::new(), Vec::new(), Vec::new()]; scenarios.len()];
    for round in 0..rounds {
        for k in 0..3 {
            let s = (round + k) % 3;
            let raw = s == 2;
            let server = Server::start(&bins[s], &cert, &key);
            vals[0][s].push(run_echo(&server, raw, 32, secs, &fresh).0);
            vals[1][s].push(run_echo(&server, raw, 16 * 1024, secs, &fresh).0);
            let (rate, cpu) = run_handshakes(&server, raw, secs, &fresh, false);
            vals[2][s].push(rate);
            vals[3][s].push(cpu);
            let (rate, cpu) = run_handshakes(&server, raw, secs, &resume, true);
            vals[4][s].push(rate);
            vals[5][s].push(cpu);
        }
        eprintln!("round {} of {} done, load {}", round + 1, rounds, loadavg());
    }
    let mut idle_vals = [Vec::new(), Vec::new(), Vec::new()];
    if idle > 0 {
        for round in 0..2 {
            for k in 0..3 {
                let s = (round + k) % 3;
                idle_vals[s].push(run_idle(&bins[s], &cert, &key, s == 2, idle, &fresh));
            }
        }
    }

    println!(
        "{:<44} {:>9} {:>11} {:>10} {:>9} {:>9}",
        "median of rounds", NAMES[0], "tung+rustls", NAMES[2], "ti/tung", "ti/raw"
    );
    let row = |name: &str, v: [f64; 3]| {
        let ratio = |d: f64| {
            if d > 0.0 {
                format!("{:.2}", v[0] / d)
            } else {
                "-".into()
            }
        };
        println!(
            "{:<44} {:>9} {:>11} {:>10} {:>9} {:>9}",
            name,
            fmt(v[0]),
            fmt(v[1]),
            fmt(v[2]),
            ratio(v[1]),
            ratio(v[2])
        );
        v
    };
    let mut med = Vec::new();
    for (i, name) in scenarios.iter().enumerate() {
        let v = [
            median(vals[i][0].clone()),
            median(vals[i][1].clone()),
            median(vals[i][2].clone()),
        ];
        med.push(row(name, v));
    }
    let idle_med = if idle > 0 {
        let v = [
            median(idle_vals[0].clone()),
            median(idle_vals[1].clone()),
            median(idle_vals[2].clone()),
        ];
        row(&format!("idle RSS per connection at {idle} (KiB)"), v)
    } else {
        [f64::NAN; 3]
    };
    let size = |k: &str| {
        opts.get(k)
            .and_then(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
    };
    if let (Some(plain), Some(tls)) = (size("size-plain"), size("size-tls")) {
        println!(
            "stripped tinyws tool: {plain} bytes without tls, {tls} with ({:+} bytes)",
            tls as i64 - plain as i64
        );
    }
    println!(
        "rounds {rounds} of {secs} s per figure and server; {THREADS} client connections/threads"
    );
    println!("load after: {}", loadavg());
    println!("goals (issue 15):");
    let goal =
        |what: &str, met: bool| println!("  {:<66} {}", what, if met { "MET" } else { "NOT MET" });
    goal(
        &format!("idle wss connection <= 24 KiB RSS: {}", fmt(idle_med[0])),
        idle_med[0] <= 24.0,
    );
    goal(
        &format!(
            "32 B echo <= tungstenite+rustls: {:.2} x",
            med[0][0] / med[0][1]
        ),
        med[0][0] <= med[0][1],
    );
    goal(
        &format!(
            "32 B echo <= 1.1 x raw rustls: {:.2} x",
            med[0][0] / med[0][2]
        ),
        med[0][0] <= 1.1 * med[0][2],
    );
    goal(
        &format!(
            "TLS handshake <= 0.8 x tungstenite+rustls (full): {:.2} x",
            med[3][0] / med[3][1]
        ),
        med[3][0] <= 0.8 * med[3][1],
    );
    goal(
        &format!(
            "TLS handshake <= 0.8 x tungstenite+rustls (resumed): {:.2} x",
            med[5][0] / med[5][1]
        ),
        med[5][0] <= 0.8 * med[5][1],
    );
}
