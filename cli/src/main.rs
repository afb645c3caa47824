//! `tinyws`: any program's stdin and stdout as a WebSocket, with broadcast.
//!
//! Built on the tinyws library: its [`Server`] (limits, Origin policy,
//! keepalive, graceful shutdown), its handshake hook for `--static` and
//! `--console`, and its [`Hub`](tinyws::Hub) for broadcast. This crate adds
//! processes, pipes and the command line, and nothing the library already
//! does. Run `tinyws --help` for the commands.

#![forbid(unsafe_code)]
#![warn(missing_debug_implementations, rust_2018_idioms, unreachable_pub)]

mod args;
mod broadcast;
mod child;
mod connect;
mod connect_args;
mod relay;
mod serve;
mod site;

use std::io;
use std::net::SocketAddr;
use std::process::{self, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use tinyws::{Config, Server, ServerHandle, TlsConfig};

use crate::args::{Mode, Options, Parsed};
use crate::broadcast::Feed;
use crate::child::{Framing, Output};
use crate::serve::Serve;
use crate::site::Site;

fn main() {
    let mut raw = std::env::args_os().skip(1);
    if raw.next().as_deref() == Some(child::NEW_GROUP.as_ref()) {
        // tinyws started itself to run CMD in a process group of its own.
        let command: Vec<_> = raw.collect();
        process::exit(child::exec_in_new_group(&command));
    }
    if std::env::args_os().nth(1).map_or(false, |a| a == "connect") {
        process::exit(connect::main(std::env::args_os().skip(2)));
    }
    let options = match args::parse(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(options)) => options,
        Ok(Parsed::Help) => {
            print!("{}", args::HELP);
            return;
        }
        Ok(Parsed::Version) => {
            println!("tinyws {}", env!("CARGO_PKG_VERSION"));
            return;
        }
        Err(e) => {
            eprintln!("tinyws: {}\nTry 'tinyws --help'.", e);
            process::exit(2);
        }
    };
    init_logger(options.log_level.as_deref());
    match run(options) {
        Ok(code) => process::exit(code),
        Err(e) => {
            eprintln!("tinyws: {}", e);
            process::exit(1);
        }
    }
}

/// Logs to stderr at `info`, or at `--log-level`, or per RUST_LOG.
fn init_logger(level: Option<&str>) {
    let mut logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if let Some(level) = level {
        logger.parse_filters(level);
    }
    logger.init();
}

/// Runs the server until a signal or the end of the broadcast source, and
/// returns the exit code.
fn run(o: Options) -> Result<i32, String> {
    let site = Site::new(o.static_dir.as_deref(), o.console, o.dotfiles).map_err(|e| {
        let dir = o.static_dir.as_deref().unwrap_or_else(|| ".".as_ref());
        format!("--static {}: {}", dir.display(), e)
    })?;
    let config = config(&o);
    let max_message = config.max_message_size;
    let publish = match (&o.publish, &o.publish_token) {
        (Some(path), Some(token)) => Some(relay::Publish::new(path.clone(), token.clone())?),
        _ => None,
    };
    let gate = publish.clone();
    let server = Server::bind(&o.addr, &config)
        .map_err(|e| match e {
            tinyws::Error::Config(_) => e.to_string(),
            e => format!("cannot listen on {}: {}", o.addr, e),
        })?
        .on_request(move |req| match gate.as_ref().and_then(|p| p.gate(req)) {
            Some(action) => action,
            None => site.answer(req),
        });
    let tls = match &o.tls {
        Some((cert, key)) => Some(tls(cert, key)?),
        None => None,
    };
    let server = match &tls {
        Some(tls) => server.tls(tls.clone()).map_err(|e| e.to_string())?,
        None => server,
    };
    let local = server.local_addr().map_err(|e| e.to_string())?;
    announce(&o, local);
    let signalled = on_signals(server.handle(), tls).map_err(|e| format!("signals: {}", e))?;
    let framing = if o.binary {
        Framing::Binary
    } else {
        Framing::Lines
    };
    match o.mode {
        Mode::Echo => server.serve(echo).map(|_| 0).map_err(|e| e.to_string()),
        Mode::Serve => {
            let serve = Serve {
                inherited_env: child::inherited_env(&o.passenv),
                command: o.command,
                framing,
                max_message,
                grace: o.grace,
            };
            server
                .serve(move |ws| serve.handle(ws))
                .map(|_| 0)
                .map_err(|e| e.to_string())
        }
        Mode::Broadcast => broadcast(&o, server, framing, max_message, &signalled, publish),
    }
}

/// The server's TLS configuration from `--tls-cert` and `--tls-key`, or
/// what stands in the way: a build without TLS, or the files.
fn tls(cert: &std::path::Path, key: &std::path::Path) -> Result<TlsConfig, String> {
    TlsConfig::server(cert, key).map_err(|e| match e {
        tinyws::Error::Unsupported(_) => without_tls("--tls-cert"),
        // The message names the file and what is wrong with it.
        tinyws::Error::Io(e) => e.to_string(),
        e => e.to_string(),
    })
}

/// What a tool built without the `tls` feature answers to `what` (a TLS
/// flag, or a wss:// URL).
pub(crate) fn without_tls(what: &str) -> String {
    format!(
        "{}: this tinyws was built without TLS; build it with \
         `cargo build --release -p tinyws-cli --features tls` \
         (Rust 1.71 or newer), or use a release binary",
        what
    )
}

/// The library's limits and Origin policy, from the options.
fn config(o: &Options) -> Config {
    let mut config = Config::default()
        .allowed_origins(o.origins.clone())
        .allow_any_origin(o.any_origin)
        .allowed_hosts(o.hosts.clone())
        .trusted_proxies(o.trusted_proxies.clone())
        .subprotocols(o.subprotocols.clone());
    if let Some(n) = o.max_conns {
        config = config.max_connections(n);
    }
    if let Some(n) = o.max_message {
        // Browsers send each message as one frame.
        config = config.max_message_size(n).max_frame_size(n);
    }
    if let Some(interval) = o.ping_interval {
        config = config.ping_interval(interval);
    }
    if !o.no_deflate {
        config = config.deflate(Some(tinyws::Deflate::default()));
    }
    config
}

/// Always printed, whatever the log level: tests and scripts read the
/// address from the first line.
fn announce(o: &Options, local: SocketAddr) {
    eprintln!("tinyws {}: listening on {}", o.mode.name(), local);
    let (ws, http) = if o.tls.is_some() {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    let host = if local.ip().is_unspecified() {
        eprintln!(
            "tinyws: every interface: other machines on your network can connect \
             (--addr 127.0.0.1:{} for this machine only)",
            local.port()
        );
        format!("localhost:{}", local.port())
    } else {
        local.to_string()
    };
    eprintln!("tinyws: WebSocket at {}://{}/ (any path)", ws, host);
    if let Some(path) = &o.publish {
        eprintln!(
            "tinyws: publishers at {}://{}{}?token=SECRET; every other path is a viewer",
            ws, host, path
        );
    }
    if o.console {
        eprintln!("tinyws: console at {}://{}/", http, host);
    }
    if let Some(dir) = &o.static_dir {
        eprintln!(
            "tinyws: files from {} at {}://{}/",
            dir.display(),
            http,
            host
        );
    }
}

fn echo(mut ws: tinyws::WebSocket) {
    while let Ok(message) = ws.read() {
        if message.is_data() && ws.send(message).is_err() {
            break;
        }
    }
}

/// SIGINT and SIGTERM start the library's graceful shutdown: stop
/// accepting, Close 1001 to every client, join every connection thread
/// (each stops and reaps its process first). Returns a flag set as soon as
/// a signal arrives, inside the handler. With TLS, SIGHUP re-reads the
/// certificate and key (a bad pair is logged and the old one kept);
/// without, SIGHUP keeps its default action.
fn on_signals(handle: ServerHandle, tls: Option<TlsConfig>) -> io::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&flag))?;
    }
    let mut wanted = vec![SIGINT, SIGTERM];
    if tls.is_some() {
        wanted.push(SIGHUP);
    }
    let mut signals = signal_hook::iterator::Signals::new(&wanted)?;
    thread::Builder::new()
        .name("tinyws-signals".into())
        // Reading and parsing a certificate takes more than the shutdown's
        // few frames.
        .stack_size(256 * 1024)
        .spawn(move || {
            for signal in signals.forever() {
                if signal == SIGHUP {
                    if let Some(tls) = &tls {
                        log::info!("SIGHUP: reloading the TLS certificate");
                        // The library logs the outcome, and keeps the old
                        // pair if the new one is bad.
                        let _ = tls.reload();
                    }
                    continue;
                }
                let name = if signal == SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                if handle.is_shutting_down() {
                    log::info!("{}: already stopping", name);
                } else {
                    log::info!("{}: stopping, closing connections with 1001", name);
                    handle.shutdown();
                }
            }
        })?;
    Ok(flag)
}

/// Broadcast: the source is pumped on its own thread while the server runs.
/// The end of the source shuts the server down; so does a signal.
fn broadcast(
    o: &Options,
    server: Server,
    framing: Framing,
    max_message: usize,
    signalled: &AtomicBool,
    publish: Option<relay::Publish>,
) -> Result<i32, String> {
    let feed = Arc::new(Feed::new(o.replay));
    let handle = server.handle();
    let pumped = Arc::clone(&feed);
    let mut process = None;
    let spawned = if o.command.is_empty() && publish.is_some() {
        // A relay: publishers are the source; it runs until a signal.
        Ok(())
    } else if o.command.is_empty() {
        thread::Builder::new()
            .name("tinyws-stdin".into())
            .spawn(move || {
                broadcast::pump(&pumped, Output::new(io::stdin(), framing, max_message));
                log::info!("stdin closed: stopping");
                handle.shutdown();
            })
            .map(drop)
    } else {
        let name = child::display(&o.command);
        let mut started = child::spawn(&o.command, child::inherited_env(&o.passenv), Stdio::null)
            .map_err(|e| format!("cannot start {}: {}", name, e))?;
        log::info!("started {} (pid {})", name, started.id());
        let stdout = started.stdout.take();
        process = Some(started);
        thread::Builder::new()
            .name("tinyws-source".into())
            .spawn(move || {
                if let Some(stdout) = stdout {
                    broadcast::pump(&pumped, Output::new(stdout, framing, max_message));
                }
                log::info!("{} closed its output: stopping", name);
                handle.shutdown();
            })
            .map(drop)
    };
    if let Err(e) = spawned {
        if let Some(mut p) = process {
            let _ = p.kill();
            let _ = p.wait();
        }
        return Err(format!("cannot start a thread: {}", e));
    }
    let served = server.serve(move |ws| relay::handle(&feed, publish.as_ref(), ws));
    let mut code = 0;
    if let Some(mut p) = process {
        let name = child::display(&o.command);
        match child::stop(&mut p, o.grace) {
            Ok(status) if signalled.load(Ordering::Acquire) => {
                log::info!("{} stopped: {}", name, status);
            }
            Ok(status) => {
                eprintln!("tinyws: {} exited: {}", name, status);
                code = child::exit_code(status);
            }
            Err(e) => return Err(format!("waiting for {}: {}", name, e)),
        }
    }
    served.map_err(|e| e.to_string())?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(args: &[&str]) -> Options {
        match args::parse(args.iter().copied()) {
            Ok(args::Parsed::Run(o)) => o,
            other => panic!("{:?}", other),
        }
    }

    #[test]
    fn deflate_by_default_and_off_with_no_deflate() {
        let on = config(&options(&["echo"]));
        assert_eq!(on.deflate, Some(tinyws::Deflate::default()));
        let off = config(&options(&["echo", "--no-deflate"]));
        assert_eq!(off.deflate, None);
    }
}
