//! `tinyws connect URL`: lines on stdin (or CMD's output) become messages,
//! messages become lines on stdout (or CMD's input), over the library's
//! client, with its reconnection for `--reconnect`.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use tinyws::{Client, CloseCode, Config, Error, Message, TlsConfig, WebSocket};

use crate::args::DEFAULT_GRACE;
use crate::child::{self, Framing, Output};
use crate::connect_args::{exit, ConnectOptions, ParsedConnect, HELP};

/// Lines read while disconnected, kept for the next connection.
const QUEUE: usize = 64;

/// Runs `tinyws connect` with the arguments after `connect`; returns the
/// exit code.
pub(crate) fn main<I>(args: I) -> i32
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let o = match crate::connect_args::parse(args) {
        Ok(ParsedConnect::Run(o)) => o,
        Ok(ParsedConnect::Help) => {
            print!("{}", HELP);
            return exit::OK;
        }
        Err(e) => {
            eprintln!("tinyws connect: {}\nTry 'tinyws connect --help'.", e);
            return exit::USAGE;
        }
    };
    crate::init_logger(o.log_level.as_deref());
    // Before CMD starts: a CA file that cannot be used, or a build without
    // TLS, is a mistake on the command line, not a connection failure.
    let tls = match tls(&o) {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("tinyws connect: {}", e);
            return exit::ERROR;
        }
    };
    let mut child = None;
    let (input, output): (Box<dyn Read + Send>, Box<dyn Write + Send>) = if o.command.is_empty() {
        (Box::new(io::stdin()), Box::new(io::stdout()))
    } else {
        let env = std::env::vars_os().collect();
        let mut started = match child::spawn(&o.command, env, Stdio::piped) {
            Ok(c) => c,
            Err(e) => {
                eprintln!(
                    "tinyws connect: cannot start {}: {}",
                    child::display(&o.command),
                    e
                );
                return exit::ERROR;
            }
        };
        let (stdin, stdout) = match (started.stdin.take(), started.stdout.take()) {
            (Some(i), Some(o)) => (i, o),
            _ => return exit::ERROR,
        };
        child = Some(started);
        (Box::new(stdout), Box::new(stdin))
    };
    let code = if o.reconnect {
        reconnecting(&o, tls, input, output)
    } else {
        once(&o, tls, input, output)
    };
    finish_child(child, &o.command, code)
}

/// The TLS configuration `--ca` or `--insecure` asks for; `None` leaves a
/// wss:// URL to the system's trusted CAs.
fn tls(o: &ConnectOptions) -> Result<Option<TlsConfig>, String> {
    let (flag, made) = match (&o.ca, o.insecure) {
        (Some(ca), _) => ("--ca", TlsConfig::client_with_ca(ca)),
        (None, true) => {
            // Printed whatever the log level; the library also logs it on
            // every connection.
            eprintln!(
                "tinyws connect: WARNING: --insecure: the server's certificate and name \
                 are NOT verified; for tests only"
            );
            ("--insecure", TlsConfig::client_insecure_skip_verify())
        }
        (None, false) => return Ok(None),
    };
    made.map(Some).map_err(|e| match e {
        Error::Unsupported(_) => crate::without_tls(flag),
        // The library's message names the file and what is wrong with it.
        e => format!("{}: {}", flag, e),
    })
}

/// The library client for the options.
fn client(o: &ConnectOptions, tls: Option<TlsConfig>) -> Client {
    let mut config = Config::default();
    if let Some(n) = o.max_message {
        config = config.max_message_size(n).max_frame_size(n);
    }
    if !o.no_deflate {
        config = config.deflate(Some(tinyws::Deflate::default()));
    }
    let mut client = Client::new(o.url.clone()).config(config);
    for (name, value) in &o.headers {
        client = client.header(name.clone(), value.clone());
    }
    if let Some(origin) = &o.origin {
        client = client.origin(origin.clone());
    }
    for p in &o.subprotocols {
        client = client.subprotocol(p.clone());
    }
    if let Some(tls) = tls {
        client = client.tls(tls);
    }
    client
}

fn framing(o: &ConnectOptions) -> Framing {
    if o.binary {
        Framing::Binary
    } else {
        Framing::Lines
    }
}

fn max_message(o: &ConnectOptions) -> usize {
    o.max_message
        .unwrap_or_else(|| Config::default().max_message_size)
}

/// One connection: the first failure exits.
fn once(
    o: &ConnectOptions,
    tls: Option<TlsConfig>,
    input: Box<dyn Read + Send>,
    mut output: Box<dyn Write + Send>,
) -> i32 {
    let mut ws = match client(o, tls).connect() {
        Ok(ws) => ws,
        Err(e) => return connect_failed(&o.url, &e),
    };
    log::info!("connected to {}", shown(&o.url));
    let sender = match ws.sender() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tinyws connect: {}", e);
            return exit::ERROR;
        }
    };
    let input_done = Arc::new(AtomicBool::new(false));
    let done = Arc::clone(&input_done);
    let mut source = Output::new(input, framing(o), max_message(o));
    let pump = thread::Builder::new()
        .name("tinyws-input".into())
        .spawn(move || {
            loop {
                match source.next_message() {
                    Ok(Some(message)) => {
                        if sender.send(message).is_err() {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        log::error!("reading input: {}", e);
                        break;
                    }
                }
            }
            // End of input: Close, then the server's Close ends the read loop.
            done.store(true, Ordering::Release);
            let _ = sender.close(CloseCode::NORMAL, "");
        });
    if let Err(e) = pump {
        eprintln!("tinyws connect: cannot start a thread: {}", e);
        return exit::ERROR;
    }
    match print_messages(&mut ws, &mut *output, o.binary) {
        Ended::Close(code) if input_done.load(Ordering::Acquire) => {
            log::debug!("closed with {:?}", code);
            exit::OK
        }
        Ended::Close(code) => {
            eprintln!(
                "tinyws connect: closed by the server{}",
                code.map_or_else(String::new, |c| format!(" with {}", c.0))
            );
            exit::CLOSED_BY_SERVER
        }
        Ended::Lost(e) => {
            eprintln!("tinyws connect: connection lost: {}", e);
            exit::CLOSED_BY_SERVER
        }
        Ended::OutputClosed => exit::ERROR,
    }
}

/// `--reconnect`: the library's loop; input is sent through its handle,
/// queued while disconnected. The end of input sends what is queued,
/// closes, and exits 0.
fn reconnecting(
    o: &ConnectOptions,
    tls: Option<TlsConfig>,
    input: Box<dyn Read + Send>,
    mut output: Box<dyn Write + Send>,
) -> i32 {
    let client = client(o, tls).queue(QUEUE);
    let handle = client.handle();
    let mut source = Output::new(input, framing(o), max_message(o));
    let pump = thread::Builder::new()
        .name("tinyws-input".into())
        .spawn(move || {
            loop {
                match source.next_message() {
                    Ok(Some(message)) => {
                        if let Err(e) = handle.send(message) {
                            log::warn!("message not sent: {}", e);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        log::error!("reading input: {}", e);
                        break;
                    }
                }
            }
            handle.finish();
        });
    if let Err(e) = pump {
        eprintln!("tinyws connect: cannot start a thread: {}", e);
        return exit::ERROR;
    }
    let stopper = client.handle();
    let result = client.run(|ws| {
        if let Ended::OutputClosed = print_messages(ws, &mut *output, o.binary) {
            stopper.stop();
        }
    });
    match result {
        Ok(()) => exit::OK,
        Err(e) => connect_failed(&o.url, &e),
    }
}

/// How a connection's read loop ended.
enum Ended {
    /// The close handshake completed, with the server's code.
    Close(Option<CloseCode>),
    /// An error ended it.
    Lost(Error),
    /// Stdout (or CMD's stdin) is gone.
    OutputClosed,
}

/// Writes every data message to `out` until the connection ends.
fn print_messages(ws: &mut WebSocket, out: &mut dyn Write, binary: bool) -> Ended {
    loop {
        let written = match ws.read() {
            Ok(Message::Text(text)) => {
                let line = if binary { "" } else { "\n" };
                out.write_all(text.as_bytes())
                    .and_then(|()| out.write_all(line.as_bytes()))
            }
            Ok(Message::Binary(bytes)) => out.write_all(&bytes),
            Ok(Message::Close(frame)) => return Ended::Close(frame.map(|f| f.code)),
            Ok(_) => Ok(()),
            Err(e) => return Ended::Lost(e),
        };
        if let Err(e) = written.and_then(|()| out.flush()) {
            log::info!("output closed: {}", e);
            let _ = ws.close(CloseCode::NORMAL, "");
            return Ended::OutputClosed;
        }
    }
}

/// The URL for messages, without its query, which often carries a token.
pub(crate) fn shown(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{}?…", base),
        None => url.to_owned(),
    }
}

/// Reports a connection that could not be made, and picks its exit code.
fn connect_failed(url: &str, e: &Error) -> i32 {
    match e {
        Error::Refused(r) => {
            eprintln!("tinyws connect: {}: {}", shown(url), r);
            exit::REFUSED
        }
        Error::InvalidUrl(_) | Error::InvalidInput(_) | Error::Config(_) => {
            eprintln!("tinyws connect: {}", e);
            exit::USAGE
        }
        // A wss:// URL in a build without TLS.
        Error::Unsupported(_) => {
            eprintln!(
                "tinyws connect: {}: {}",
                shown(url),
                crate::without_tls("wss://")
            );
            exit::ERROR
        }
        Error::Io(io) if is_verification(io) => {
            eprintln!(
                "tinyws connect: {}: certificate verification failed: {}{}",
                shown(url),
                e,
                VERIFY_HINT
            );
            exit::NO_CONNECTION
        }
        e => {
            eprintln!("tinyws connect: {}: {}", shown(url), e);
            exit::NO_CONNECTION
        }
    }
}

/// What to try when the server's certificate is refused.
const VERIFY_HINT: &str = " (the server's certificate must chain to a trusted CA, \
     the system's or --ca FILE, and name the URL's host)";

/// Whether a connection failed because the server's certificate was
/// refused. The library reports rustls's errors as `InvalidData` with
/// rustls's own wording, which names the certificate.
fn is_verification(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData && e.to_string().contains("certificate")
}

/// Stops CMD (its stdin is already closed or about to be) and, after a
/// clean run, exits with its status.
fn finish_child(child: Option<Child>, command: &[OsString], code: i32) -> i32 {
    let mut child = match child {
        Some(c) => c,
        None => return code,
    };
    match child::stop(&mut child, DEFAULT_GRACE.max(Duration::from_millis(100))) {
        Ok(status) if code == exit::OK => child::exit_code(status),
        Ok(status) => {
            log::info!("{} stopped: {}", child::display(command), status);
            code
        }
        Err(e) => {
            log::warn!("waiting for {}: {}", child::display(command), e);
            code
        }
    }
}
