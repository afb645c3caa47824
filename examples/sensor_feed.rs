//! A live sensor dashboard: one producer thread, any number of browser tabs.
//!
//! ```text
//! cargo run --release --example sensor_feed [ADDR] [--host NAME]... [--trusted-proxy IP]...
//!     [--tls-cert FILE --tls-key FILE]
//! ```
//!
//! ADDR defaults to `0.0.0.0:8080`, so other machines on the LAN can open the
//! page; pass `127.0.0.1:8080` to keep it on this machine. Then open the URL
//! it prints. `RUST_LOG=debug` shows more (the default is `info`).
//!
//! Behind a reverse proxy (`deploy/nginx.conf`), pass the proxy's address
//! with `--trusted-proxy 127.0.0.1`, so that the Origin check and the log
//! lines use the host and client the proxy forwards, and the public name
//! with `--host pi.example.com` (see `Config::allowed_hosts`).
//!
//! The same port serves the page (`GET /`, through the handshake hook) and
//! the WebSocket (`/ws`). The page is `sensor_feed.html`, compiled in, with
//! no CDN or other file, since the device may be offline. Ten times a second
//! the producer reads the CPU temperature from
//! `/sys/class/thermal/thermal_zone0/temp` (as on a Raspberry Pi), or makes
//! up a signal where that file does not exist, and broadcasts
//! `{"t":<ms since 1970>,"celsius":<value>,"source":"thermal_zone0"|"simulated"}`
//! through a [`Hub`]. The page labels a simulated signal as such.
//!
//! The default Origin policy accepts the page, since it is served from the
//! same origin as the WebSocket.
//!
//! Built with `--features deflate` it agrees to permessage-deflate, as the
//! browsers offer. With `--features tls` and `--tls-cert FILE --tls-key FILE`
//! it serves the page over https and the feed over wss (README, "wss on a
//! LAN"); without the feature those options say how to build it.
//!
//! `/echo` is a WebSocket that sends every message back, so that large
//! messages can be checked both ways through whatever lies between a browser
//! and the device (a proxy, TLS, compression); `scripts/browser-test.sh`
//! uses it.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tinyws::{Config, Hub, Reply, Server, TlsConfig, Upgrade, WebSocket};

const PAGE: &str = include_str!("sensor_feed.html");
const THERMAL: &str = "/sys/class/thermal/thermal_zone0/temp";
const PERIOD: Duration = Duration::from_millis(100);
/// A tab that stops reading for this long is disconnected rather than
/// allowed to delay the others; its page then reconnects by itself.
const STALL: Duration = Duration::from_millis(500);

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let (addr, config, tls) = match options(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("sensor_feed: {}", e);
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&addr, config, tls) {
        eprintln!("sensor_feed: {}: {}", addr, e);
        std::process::exit(1);
    }
}

/// The certificate and key files for https/wss.
type TlsFiles = Option<(String, String)>;

/// `[ADDR] [--host NAME]... [--trusted-proxy IP]... [--tls-cert FILE --tls-key FILE]`
fn options(args: impl Iterator<Item = String>) -> Result<(String, Config, TlsFiles), String> {
    let mut addr = "0.0.0.0:8080".to_owned();
    let (mut hosts, mut proxies) = (Vec::new(), Vec::new());
    let (mut cert, mut key) = (None, None);
    let mut args = args;
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{} needs a value", arg));
        match arg.as_str() {
            "--host" => hosts.push(value()?),
            "--trusted-proxy" => {
                let ip = value()?;
                proxies.push(
                    ip.parse()
                        .map_err(|_| format!("{}: not an IP address", ip))?,
                );
            }
            "--tls-cert" => cert = Some(value()?),
            "--tls-key" => key = Some(value()?),
            _ if !arg.starts_with('-') => addr = arg,
            _ => return Err(format!("unknown option {}", arg)),
        }
    }
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".to_owned()),
    };
    let mut config = Config::default()
        .allowed_hosts(hosts)
        .trusted_proxies(proxies);
    if cfg!(feature = "deflate") {
        config = config.deflate(Some(tinyws::Deflate::default()));
    }
    Ok((addr, config, tls))
}

fn run(addr: &str, config: Config, tls: TlsFiles) -> tinyws::Result<()> {
    let mut server = Server::bind(addr, &config)?;
    if let Some((cert, key)) = &tls {
        server = server.tls(TlsConfig::server(cert, key)?)?;
    }
    let server = server.on_request(|req| match (req.is_upgrade(), req.path()) {
        (true, "/ws") | (true, "/echo") => Upgrade::new().into(),
        (false, "/") | (false, "/index.html") => {
            Reply::html(PAGE).header("Cache-Control", "no-cache").into()
        }
        _ => Reply::text(404, "not found; the dashboard is at /\n").into(),
    });
    print_urls(
        server.local_addr()?,
        if tls.is_some() { "https" } else { "http" },
    );

    let hub = Hub::new(STALL);
    let feed = hub.clone();
    std::thread::Builder::new()
        .name("producer".into())
        .spawn(move || produce(&feed))?;

    server.serve(move |mut ws| {
        if ws.request().map(|r| r.path()) == Some("/echo") {
            return echo(ws);
        }
        // Subscribe, then read only to answer Pings and notice the close:
        // the producer does all the sending.
        match ws.sender() {
            Ok(sender) => {
                if let Err(e) = hub.subscribe(sender) {
                    log::warn!("cannot subscribe: {}", e);
                    return;
                }
            }
            Err(e) => {
                log::warn!("no sender: {}", e);
                return;
            }
        }
        log::debug!("{} watching", hub.len());
        while ws.read().is_ok() {}
    })
}

/// Sends every message back until the peer closes.
fn echo(mut ws: WebSocket) {
    while let Ok(msg) = ws.read() {
        if msg.is_data() && ws.send(msg).is_err() {
            break;
        }
    }
}

/// Reads and broadcasts ten times a second, on a fixed schedule that does not
/// drift with the time each broadcast takes.
fn produce(hub: &Hub) {
    let mut sensor = Sensor::new();
    log::info!("source: {}", sensor.describe());
    let mut next = Instant::now();
    loop {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let (celsius, source) = sensor.read(t);
        let json = format!(
            r#"{{"t":{},"celsius":{:.2},"source":"{}"}}"#,
            t, celsius, source
        );
        hub.broadcast(json);
        next += PERIOD;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            // Fell behind (a stalled tab cost up to STALL): start afresh.
            next = now;
        }
    }
}

/// The CPU temperature where the kernel exposes one, else a made-up signal.
struct Sensor {
    real: bool,
    noise: u32,
}

impl Sensor {
    fn new() -> Sensor {
        Sensor {
            real: read_thermal().is_some(),
            noise: 0x9E37_79B9,
        }
    }

    fn describe(&self) -> String {
        if self.real {
            format!("CPU temperature from {}", THERMAL)
        } else {
            format!("simulated signal ({} not found)", THERMAL)
        }
    }

    /// `t` is the time in milliseconds since 1970.
    fn read(&mut self, t: u128) -> (f64, &'static str) {
        if self.real {
            if let Some(c) = read_thermal() {
                return (c, "thermal_zone0");
            }
        }
        (self.simulate(t), "simulated")
    }

    /// A slow one-minute wave around 47 °C with a little noise, roughly what
    /// a Pi's CPU shows under a varying load. Its phase follows the clock,
    /// so the curve carries on across a restart.
    fn simulate(&mut self, t: u128) -> f64 {
        // xorshift32: noise without a dependency.
        self.noise ^= self.noise << 13;
        self.noise ^= self.noise >> 17;
        self.noise ^= self.noise << 5;
        let jitter = f64::from(self.noise % 1000) / 1000.0 - 0.5;
        let s = (t % 3_600_000) as f64 / 1000.0;
        47.0 + 6.0 * (s * std::f64::consts::TAU / 60.0).sin()
            + 1.5 * (s * std::f64::consts::TAU / 6.0).sin()
            + 0.4 * jitter
    }
}

/// The kernel reports millidegrees Celsius.
fn read_thermal() -> Option<f64> {
    let text = std::fs::read_to_string(THERMAL).ok()?;
    let milli: f64 = text.trim().parse().ok()?;
    Some(milli / 1000.0)
}

/// Prints where to point a browser.
fn print_urls(local: SocketAddr, scheme: &str) {
    let port = local.port();
    if !local.ip().is_unspecified() {
        println!("sensor feed: open {}://{}/", scheme, local);
        if local.ip().is_loopback() {
            println!(
                "(only this machine can open it; pass 0.0.0.0:{} to share it on the LAN)",
                port
            );
        }
        return;
    }
    println!("sensor feed: open one of");
    println!("  {}://127.0.0.1:{}/   (this machine)", scheme, port);
    if let Some(ip) = lan_ip() {
        println!(
            "  {}://{}/   (other machines on the LAN)",
            scheme,
            SocketAddr::new(ip, port)
        );
    }
    if let Some(host) = hostname() {
        println!(
            "  {}://{}.local:{}/   (if mDNS works on your LAN)",
            scheme, host, port
        );
    }
    println!(
        "(listening on all interfaces; pass 127.0.0.1:{} to keep it on this machine)",
        port
    );
}

/// The address of the interface with the default route. Connecting a UDP
/// socket only picks a route; it sends nothing.
fn lan_ip() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?; // TEST-NET-1: never a real host
    let ip = socket.local_addr().ok()?.ip();
    if ip.is_unspecified() || ip.is_loopback() {
        None
    } else {
        Some(ip)
    }
}

fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/etc/hostname").ok()?;
    let name = name.trim();
    if name.is_empty() || name == "localhost" {
        None
    } else {
        Some(name.to_owned())
    }
}
