//! The command line: what each option means, its defaults, and `--help`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// Which server to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Echo,
    Serve,
    Broadcast,
}

impl Mode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Echo => "echo",
            Mode::Serve => "serve",
            Mode::Broadcast => "broadcast",
        }
    }
}

/// Everything the command line asked for.
#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) mode: Mode,
    pub(crate) addr: String,
    pub(crate) static_dir: Option<PathBuf>,
    pub(crate) console: bool,
    pub(crate) dotfiles: bool,
    pub(crate) origins: Vec<String>,
    pub(crate) any_origin: bool,
    pub(crate) hosts: Vec<String>,
    pub(crate) trusted_proxies: Vec<std::net::IpAddr>,
    pub(crate) subprotocols: Vec<String>,
    pub(crate) max_conns: Option<usize>,
    pub(crate) max_message: Option<usize>,
    /// `Some(None)` turns keepalive off.
    pub(crate) ping_interval: Option<Option<Duration>>,
    /// Decline permessage-deflate.
    pub(crate) no_deflate: bool,
    pub(crate) log_level: Option<String>,
    /// `--tls-cert` and `--tls-key`: serve wss:// and https://.
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    pub(crate) binary: bool,
    pub(crate) replay: usize,
    pub(crate) passenv: Vec<String>,
    pub(crate) grace: Duration,
    pub(crate) command: Vec<OsString>,
    /// broadcast: `--publish PATH` and `--publish-token SECRET`.
    pub(crate) publish: Option<String>,
    pub(crate) publish_token: Option<String>,
}

/// What to do after parsing.
#[derive(Debug)]
// Made once, at start-up: boxing would only add noise.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Parsed {
    Run(Options),
    Help,
    Version,
}

/// Port 8080 needs no root; every interface, so a phone on the LAN can reach
/// a Pi without further options.
pub(crate) const DEFAULT_ADDR: &str = "0.0.0.0:8080";
/// How long a process gets after its stdin closes, and again after SIGTERM.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(1);

pub(crate) const HELP: &str = "\
tinyws: any program's stdin and stdout as a WebSocket, with broadcast

USAGE:
    tinyws echo      [OPTIONS]
    tinyws serve     [OPTIONS] -- CMD [ARGS...]
    tinyws broadcast [OPTIONS] [-- CMD [ARGS...]]
    tinyws connect   [OPTIONS] URL [-- CMD [ARGS...]]

COMMANDS:
    connect     A client: lines on stdin to URL, messages to stdout
                (tinyws connect --help).
    echo        Send every message back to its sender.
    serve       Start CMD for each connection. Each line CMD prints is a text
                message to that client; each message from the client is
                written to CMD's stdin with a newline. When the client leaves,
                CMD's stdin is closed and, after the grace period, CMD is
                stopped (SIGTERM, then SIGKILL). When CMD exits, the
                connection closes with 1000; if CMD cannot start, with 1011.
    broadcast   Start CMD once and send each line it prints to every client.
                Without CMD, broadcast tinyws's own stdin. When CMD exits,
                clients are closed with 1001 and tinyws exits with CMD's
                status.

OPTIONS:
    --addr ADDR          Where to listen. [default: 0.0.0.0:8080]
                         0.0.0.0:8080 is every interface, so other machines
                         on your network can connect; 127.0.0.1:8080 is this
                         machine only; [::]:8080 for IPv6. A bare port such
                         as 9000 means 0.0.0.0:9000.
    --static DIR         Serve the files in DIR for plain HTTP GETs on the same
                         port: index.html for a directory (/dir redirects to
                         /dir/), 404 for anything missing, 403 for paths
                         leading outside DIR. Files of any size are sent in
                         16 KiB chunks; ETag and Last-Modified let browsers
                         revalidate (304). Names starting with a dot (.env,
                         .git/) are not served.
    --dotfiles           With --static, serve names starting with a dot too.
    --console            Serve a page at / with an input box and a message log,
                         to try the endpoint from a browser.
    --origin ORIGIN      Also accept WebSocket connections from web pages at
                         ORIGIN, such as http://192.168.1.20:3000 (repeatable):
                         a scheme, host and port, with no path; the default
                         port (80 for http, 443 for https) may be left out.
                         By default only pages served by this tinyws itself
                         (same origin) and non-browser clients may connect.
    --any-origin         Accept web pages from any origin.
    --host NAME          Also answer requests for NAME, such as pi.example.com
                         (repeatable; * for any). By default only this
                         device's own names are answered (IP addresses,
                         localhost, its host name and NAME.local): a page
                         whose DNS name is made to point here gets 421, which
                         defeats DNS rebinding.
    --trusted-proxy IP   A reverse proxy at IP (repeatable), whose
                         X-Forwarded-For, X-Forwarded-Host and Forwarded
                         headers give the client's address and the host it
                         asked for. Ignored from anyone else.
    --subprotocol NAME   Speak this subprotocol (repeatable): of those a client
                         offers, the first that is on this list is chosen. A
                         browser page that asks for subprotocols, as in
                         new WebSocket(url, ['chat']), fails to connect unless
                         the server chooses one of them.
    --max-conns N        Most connections at once; with serve, also the most
                         processes. Beyond it, HTTP 503. [default: 256]
    --max-message SIZE   Largest message a client may send, in bytes or with
                         a k or M suffix; also the longest line read from CMD
                         (longer lines are split, between characters).
                         [default: 1M]
    --ping-interval SECS Ping idle clients this often and drop those that stop
                         answering; 0 turns it off. [default: 30]
    --no-deflate         Do not compress: decline permessage-deflate, which is
                         otherwise agreed with every browser that offers it
                         (messages of 128 bytes and more go out compressed,
                         with no compression state kept between messages).
    --log-level LEVEL    off, error, warn, info, debug or trace, or a RUST_LOG
                         filter. RUST_LOG also works. [default: info]
    --tls-cert FILE      Serve wss:// and https:// with this PEM certificate
    --tls-key FILE       chain (leaf first, as certbot's fullchain.pem) and its
                         PEM key; both or neither. The files are re-read when
                         they change (certbot renewals included) and on
                         SIGHUP; open connections keep their certificate.
                         Needs a tinyws built with the `tls` feature.
    -h, --help           Show this help.
    -V, --version        Show the version.

SERVE AND BROADCAST OPTIONS:
    --binary             Send CMD's output as binary messages, in raw chunks as
                         it arrives, instead of one text message per line; with
                         serve, client messages go to stdin as they are, with
                         no newline added.
    --passenv NAME,...   Pass these variables from tinyws's environment to CMD
                         (repeatable).
    --grace SECS         How long CMD gets to exit after its stdin is closed,
                         and again after SIGTERM, before SIGKILL. [default: 1]
    --replay N           broadcast: send the last N lines to each new client.
                         [default: 0]
    --publish PATH       broadcast: a relay. Clients connecting to PATH with the
                         token publish: each message they send goes to every
                         other client (the viewers), as lines from CMD do.
                         Without CMD, stdin is not read. Viewers cannot publish.
    --publish-token SECRET
                         The token publishers show, as ?token=SECRET or
                         Authorization: Bearer SECRET; others get 403. At least
                         16 characters of A-Z a-z 0-9 - . _ ~.

ENVIRONMENT OF CMD:
    serve gives CMD REMOTE_ADDR, REMOTE_PORT, REQUEST_URI, PATH_INFO,
    QUERY_STRING, SERVER_PORT, REQUEST_METHOD, SERVER_PROTOCOL,
    SERVER_SOFTWARE, GATEWAY_INTERFACE and HTTP_<NAME> for each request header
    (except Proxy, and names holding `_`, which a client could use to forge
    a header a proxy sets: X_Forwarded_For would read as X-Forwarded-For). CMD also gets PATH and the --passenv variables, and nothing
    else from tinyws's environment (broadcast: PATH and --passenv only).

TEXT AND INVALID UTF-8:
    Without --binary, each line of output becomes a text message, which must
    be UTF-8. Bytes that are not valid UTF-8 (Latin-1 text, binary data) are
    replaced by U+FFFD (�), the replacement character, and the rest of the
    line is sent. Use --binary to pass bytes through unchanged.

LINES ARRIVE LATE? OUTPUT BUFFERING:
    Many programs buffer their output when it goes to a pipe rather than a
    terminal, so their lines reach the browser late and in bursts. Make CMD
    flush each line:
        stdbuf -oL CMD ARGS       C programs using stdio (grep, awk, cut, ...)
        python3 -u script.py      or print(..., flush=True)
        grep --line-buffered, sed -u, awk '{ print; fflush() }'
    In a shell loop, echo and printf write each line at once, but a filter
    you pipe the loop through (| grep, | tr, | awk) buffers: add the flag
    above to that filter, or run it under stdbuf -oL.

EXAMPLES:
    tinyws echo --addr 127.0.0.1:9001 --console
        An echo server on this machine only; open http://127.0.0.1:9001/.
    ./read_sensor.sh | tinyws broadcast --static ./www
        Every line the script prints goes to every browser, and ./www is
        the page, at http://<the Pi's address>:8080/.
    tinyws broadcast --replay 20 --static ./www -- ./read_sensor.sh
        The same, starting the script itself; new clients first get the
        last 20 lines, and tinyws exits with the script's status.
    tinyws serve --console -- python3 -u ./chat_bot.py
        One chat_bot.py per browser tab, tried out at http://localhost:8080/.
    tinyws serve -- sh -c 'while read -r line; do echo \"you said: $line\"; done'
        A per-client shell loop.
";

/// A host name or address, with an optional port: what `--host` takes.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b))
}

/// Parses the command line (without the program name).
pub(crate) fn parse<I>(args: I) -> Result<Parsed, String>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    use lexopt::prelude::*;

    let mut parser = lexopt::Parser::from_args(args);
    let mut mode = None;
    let (mut tls_cert, mut tls_key) = (None, None);
    let mut o = Options {
        mode: Mode::Echo,
        addr: DEFAULT_ADDR.to_owned(),
        static_dir: None,
        console: false,
        dotfiles: false,
        origins: Vec::new(),
        any_origin: false,
        hosts: Vec::new(),
        trusted_proxies: Vec::new(),
        subprotocols: Vec::new(),
        max_conns: None,
        max_message: None,
        ping_interval: None,
        no_deflate: false,
        log_level: None,
        tls: None,
        binary: false,
        replay: 0,
        passenv: Vec::new(),
        grace: DEFAULT_GRACE,
        command: Vec::new(),
        publish: None,
        publish_token: None,
    };
    let err = |e: lexopt::Error| e.to_string();
    while let Some(arg) = parser.next().map_err(err)? {
        match arg {
            Short('h') | Long("help") => return Ok(Parsed::Help),
            Short('V') | Long("version") => return Ok(Parsed::Version),
            Long("addr") => o.addr = normalize_addr(&text(parser.value())?),
            Long("static") => o.static_dir = Some(parser.value().map_err(err)?.into()),
            Long("console") => o.console = true,
            Long("dotfiles") => o.dotfiles = true,
            Long("origin") => o.origins.push(origin(&text(parser.value())?)?),
            Long("any-origin") => o.any_origin = true,
            Long("host") => {
                let host = text(parser.value())?;
                if host != "*" && !is_host_name(&host) {
                    return Err(format!(
                        "--host {}: give a host name such as pi.example.com, without scheme or path",
                        host
                    ));
                }
                o.hosts.push(host);
            }
            Long("trusted-proxy") => {
                let ip = text(parser.value())?;
                match ip.parse() {
                    Ok(ip) => o.trusted_proxies.push(ip),
                    Err(_) => {
                        return Err(format!(
                            "--trusted-proxy {}: give an IP address such as 127.0.0.1",
                            ip
                        ))
                    }
                }
            }
            Long("subprotocol") => o.subprotocols.push(token(&text(parser.value())?)?),
            Long("max-conns") => match number(&text(parser.value())?)? {
                0 => return Err("--max-conns must be at least 1".to_owned()),
                n => o.max_conns = Some(n),
            },
            Long("max-message") => o.max_message = Some(size(&text(parser.value())?)?),
            Long("ping-interval") => {
                let d = seconds(&text(parser.value())?)?;
                o.ping_interval = Some(if d == Duration::from_secs(0) {
                    None
                } else {
                    Some(d)
                });
            }
            Long("no-deflate") => o.no_deflate = true,
            Long("log-level") => o.log_level = Some(text(parser.value())?),
            Long("tls-cert") => tls_cert = Some(PathBuf::from(parser.value().map_err(err)?)),
            Long("tls-key") => tls_key = Some(PathBuf::from(parser.value().map_err(err)?)),
            Long("binary") => o.binary = true,
            Long("replay") => o.replay = number(&text(parser.value())?)?,
            Long("passenv") => {
                for name in text(parser.value())?.split(',') {
                    let name = name.trim();
                    if !name.is_empty() {
                        o.passenv.push(name.to_owned());
                    }
                }
            }
            Long("grace") => o.grace = seconds(&text(parser.value())?)?,
            Long("publish") => o.publish = Some(text(parser.value())?),
            Long("publish-token") => o.publish_token = Some(text(parser.value())?),
            Value(v) if mode.is_none() => {
                mode = Some(match v.to_str() {
                    Some("echo") => Mode::Echo,
                    Some("serve") => Mode::Serve,
                    Some("broadcast") => Mode::Broadcast,
                    _ => {
                        return Err(format!(
                            "unknown command {:?}: expected echo, serve or broadcast",
                            v
                        ))
                    }
                });
            }
            Value(v) => {
                // CMD and everything after it, options included, belong to CMD.
                o.command.push(v);
                o.command.extend(parser.raw_args().map_err(err)?);
            }
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    o.mode = match mode {
        Some(m) => m,
        None => return Err("a command is needed: echo, serve or broadcast".to_owned()),
    };
    o.tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        (Some(_), None) => {
            return Err("--tls-cert needs --tls-key, the certificate's key".to_owned())
        }
        (None, Some(_)) => return Err("--tls-key needs --tls-cert, the certificate".to_owned()),
    };
    check(&o)?;
    Ok(Parsed::Run(o))
}

/// Refuses options that make no sense for the mode, rather than ignoring them.
fn check(o: &Options) -> Result<(), String> {
    let only = |ok: bool, what: &str, modes: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("{} is only for {}", what, modes))
        }
    };
    only(
        o.mode != Mode::Echo || !o.binary,
        "--binary",
        "serve and broadcast",
    )?;
    only(
        o.mode != Mode::Echo || o.passenv.is_empty(),
        "--passenv",
        "serve and broadcast",
    )?;
    only(
        o.static_dir.is_some() || !o.dotfiles,
        "--dotfiles",
        "--static",
    )?;
    only(
        o.mode == Mode::Broadcast || o.replay == 0,
        "--replay",
        "broadcast",
    )?;
    only(
        o.mode == Mode::Broadcast || (o.publish.is_none() && o.publish_token.is_none()),
        "--publish",
        "broadcast",
    )?;
    if o.publish.is_some() != o.publish_token.is_some() {
        return Err("--publish and --publish-token go together".to_owned());
    }
    match o.mode {
        Mode::Serve if o.command.is_empty() => {
            Err("serve needs a command to run: tinyws serve [OPTIONS] -- CMD [ARGS...]".to_owned())
        }
        Mode::Echo if !o.command.is_empty() => {
            Err(format!("echo takes no command, got {:?}", o.command[0]))
        }
        _ => Ok(()),
    }
}

fn text(value: Result<OsString, lexopt::Error>) -> Result<String, String> {
    value
        .map_err(|e| e.to_string())?
        .into_string()
        .map_err(|v| format!("not valid UTF-8: {:?}", v))
}

/// An `--origin` value in the form browsers send in the Origin header
/// (RFC 6454 section 6.2): scheme and host in lower case, no default port, no
/// path. `http://Pi.local:80` becomes `http://pi.local`, which is what a
/// page at that address sends; values that cannot be an origin are refused.
fn origin(s: &str) -> Result<String, String> {
    let example = "such as http://192.168.1.20:3000";
    let (scheme, authority) = match s.split_once("://") {
        Some(parts) => parts,
        None => return Err(format!("--origin needs a scheme, {}: got {:?}", example, s)),
    };
    let scheme = scheme.to_ascii_lowercase();
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        return Err(format!(
            "--origin has no valid scheme, {}: got {:?}",
            example, s
        ));
    }
    if authority.contains(['/', '?', '#']) {
        return Err(format!(
            "--origin is a scheme, host and port, without a path (browsers send no \
             path in Origin), {}: got {:?}",
            example, s
        ));
    }
    let (host, port) = if authority.starts_with('[') {
        // An IPv6 literal: [::1] or [::1]:8080.
        match authority.find(']') {
            Some(end) => match &authority[end + 1..] {
                "" => (&authority[..=end], None),
                rest => (
                    &authority[..=end],
                    Some(rest.strip_prefix(':').unwrap_or("x")),
                ),
            },
            None => ("", None),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty()
        || host.contains(['@', ' '])
        || (!host.starts_with('[') && host.contains(':'))
    {
        return Err(format!(
            "--origin has no valid host, {}: got {:?}",
            example, s
        ));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => {
                return Err(format!(
                    "--origin has no valid port, {}: got {:?}",
                    example, s
                ))
            }
        },
    };
    let default = match scheme.as_str() {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    };
    let host = host.to_ascii_lowercase();
    Ok(match port {
        Some(p) if Some(p) != default => format!("{}://{}:{}", scheme, host, p),
        _ => format!("{}://{}", scheme, host),
    })
}

/// A subprotocol name: an HTTP token (RFC 6455 section 4.1, RFC 9110
/// section 5.6.2), since it travels in a comma-separated header.
fn token(s: &str) -> Result<String, String> {
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if !s.is_empty() && s.chars().all(tchar) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "--subprotocol needs a name such as chat or v2.json (letters, digits \
             and !#$%&'*+-.^_`|~), got {:?}",
            s
        ))
    }
}

fn number(s: &str) -> Result<usize, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("not a whole number: {:?}", s))
}

/// `65536`, `64k`, `1M`: sizes in bytes, KiB or MiB.
pub(crate) fn size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (digits, unit) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1024),
        Some((i, 'm' | 'M')) => (&t[..i], 1024 * 1024),
        _ => (t, 1),
    };
    digits
        .trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("not a size above zero such as 65536, 64k or 1M: {:?}", s))
}

/// `30`, `2.5`, `500ms`: a duration in seconds, or milliseconds with `ms`.
pub(crate) fn seconds(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad = || format!("not a duration such as 30, 2.5 or 500ms: {:?}", s);
    let (number, scale) = match t.strip_suffix("ms") {
        Some(n) => (n, 0.001),
        None => (t.strip_suffix('s').unwrap_or(t), 1.0),
    };
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    let secs = value * scale;
    if !(0.0..=86_400.0 * 365.0).contains(&secs) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `9000` and `:9000` mean every interface on that port.
fn normalize_addr(addr: &str) -> String {
    let port = addr.strip_prefix(':').unwrap_or(addr);
    if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
        format!("0.0.0.0:{}", port)
    } else {
        addr.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        match parse(args.iter().copied())? {
            Parsed::Run(o) => Ok(o),
            other => Err(format!("{:?}", other)),
        }
    }

    #[test]
    fn command_after_double_dash_keeps_its_options() {
        let o = run(&["serve", "--addr", ":9000", "--", "sh", "-c", "echo --addr"]).unwrap();
        assert_eq!(o.mode, Mode::Serve);
        assert_eq!(o.addr, "0.0.0.0:9000");
        assert_eq!(o.command, ["sh", "-c", "echo --addr"]);
        // Without `--`, CMD starts at the first value after the mode.
        let o = run(&["broadcast", "--replay=3", "./s.sh", "--binary"]).unwrap();
        assert_eq!(o.command, ["./s.sh", "--binary"]);
        assert!(!o.binary);
        assert_eq!(o.replay, 3);
    }

    #[test]
    fn defaults_and_values() {
        let o = run(&["echo"]).unwrap();
        assert_eq!(o.addr, DEFAULT_ADDR);
        assert_eq!(o.grace, DEFAULT_GRACE);
        assert!(o.max_message.is_none() && o.ping_interval.is_none());
        assert!(!o.no_deflate);
        assert!(run(&["echo", "--no-deflate"]).unwrap().no_deflate);
        let o = run(&[
            "broadcast",
            "--max-message",
            "64k",
            "--ping-interval",
            "0",
            "--grace",
            "250ms",
            "--passenv",
            "HOME, LANG",
            "--passenv=TZ",
            "--origin",
            "http://a",
            "--origin=http://b",
            "--host",
            "pi.example.com",
            "--trusted-proxy",
            "127.0.0.1",
            "--trusted-proxy=::1",
            "--subprotocol",
            "chat",
            "--subprotocol=v2.json",
        ])
        .unwrap();
        assert_eq!(o.max_message, Some(65536));
        assert_eq!(o.ping_interval, Some(None));
        assert_eq!(o.grace, Duration::from_millis(250));
        assert_eq!(o.passenv, ["HOME", "LANG", "TZ"]);
        assert_eq!(o.origins, ["http://a", "http://b"]);
        assert_eq!(o.hosts, ["pi.example.com"]);
        assert_eq!(o.trusted_proxies.len(), 2);
        assert_eq!(o.subprotocols, ["chat", "v2.json"]);
        assert!(o.command.is_empty());
    }

    #[test]
    fn mistakes_are_errors() {
        for bad in [
            &["serve"][..],
            &["echo", "cat"],
            &["echo", "--binary"],
            &["serve", "--replay", "2", "--", "cat"],
            &["frobnicate"],
            &["echo", "--max-message", "0"],
            &["echo", "--max-conns", "0"],
            &["echo", "--ping-interval", "soon"],
            &["echo", "--nope"],
            &["echo", "--host", "http://pi.example.com"],
            &["echo", "--trusted-proxy", "nginx"],
            &["echo", "--subprotocol", ""],
            &["echo", "--subprotocol", "a,b"],
            &["echo", "--subprotocol", "chat v2"],
            &[],
        ] {
            assert!(run(bad).is_err(), "{:?}", bad);
        }
        assert!(matches!(parse(["serve", "--help"]), Ok(Parsed::Help)));
        assert!(matches!(parse(["-V"]), Ok(Parsed::Version)));
    }

    #[test]
    fn origins_are_normalised_or_refused() {
        for (given, sent) in [
            ("http://pi.local:3000", "http://pi.local:3000"),
            ("HTTP://Pi.Local:80", "http://pi.local"),
            ("https://dash.example:443", "https://dash.example"),
            ("https://dash.example:80", "https://dash.example:80"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("http://[::1]:80", "http://[::1]"),
            ("http://192.168.1.20", "http://192.168.1.20"),
        ] {
            assert_eq!(origin(given).as_deref(), Ok(sent), "{}", given);
        }
        for bad in [
            "pi.local:3000",
            "pi.local",
            "null",
            "http://pi.local:3000/",
            "http://pi.local/app",
            "http://pi.local?x",
            "http://",
            "http://:80",
            "http://pi.local:",
            "http://pi.local:99999",
            "http://pi.local:0",
            "http://pi.local:+80",
            "http://user@pi.local",
            "http://[::1",
            "http://[::1]x",
            "http://::1:80",
            "1http://pi.local",
        ] {
            assert!(origin(bad).is_err(), "{}", bad);
        }
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(size("1M"), Ok(1 << 20));
        assert_eq!(size("512"), Ok(512));
        assert!(size("1G").is_err());
        assert_eq!(seconds("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(seconds("30s"), Ok(Duration::from_secs(30)));
        assert!(seconds("-1").is_err());
    }
}
