//! The command line of `tinyws connect`: options, exit codes and `--help`.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::args::size;
use crate::connect::shown;

/// Exit codes of `tinyws connect`, so that a script can tell what happened.
pub(crate) mod exit {
    /// The input ended, our Close was answered by the server's.
    pub(crate) const OK: i32 = 0;
    /// Anything else: stdout closed, CMD could not start, an I/O error.
    pub(crate) const ERROR: i32 = 1;
    /// A bad command line.
    pub(crate) const USAGE: i32 = 2;
    /// No connection: name resolution, TCP, a timeout or a bad 101.
    pub(crate) const NO_CONNECTION: i32 = 3;
    /// The server refused the handshake with an HTTP status (on stderr).
    pub(crate) const REFUSED: i32 = 4;
    /// The server closed first, or the connection was lost.
    pub(crate) const CLOSED_BY_SERVER: i32 = 5;
}

/// Everything `tinyws connect` was asked for.
#[derive(Debug, Default)]
pub(crate) struct ConnectOptions {
    pub(crate) url: String,
    pub(crate) binary: bool,
    pub(crate) reconnect: bool,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) origin: Option<String>,
    pub(crate) subprotocols: Vec<String>,
    pub(crate) max_message: Option<usize>,
    pub(crate) log_level: Option<String>,
    /// `--ca FILE`: trust only these CA certificates for wss://.
    pub(crate) ca: Option<PathBuf>,
    /// `--insecure`: verify nothing (tests only).
    pub(crate) insecure: bool,
    /// `--no-deflate`: do not offer permessage-deflate.
    pub(crate) no_deflate: bool,
    pub(crate) command: Vec<OsString>,
}

/// What to do after parsing.
#[derive(Debug)]
pub(crate) enum ParsedConnect {
    Run(ConnectOptions),
    Help,
}

pub(crate) const HELP: &str = "\
tinyws connect: a WebSocket client for the command line

USAGE:
    tinyws connect [OPTIONS] URL [-- CMD [ARGS...]]

    Each line on stdin is sent as a text message; each message received is
    written to stdout, a text message as one line. At the end of stdin,
    tinyws sends Close, keeps printing until the server's Close, and exits.
    With CMD, CMD's stdout is sent instead of stdin and what arrives goes to
    CMD's stdin.

    URL is ws://HOST[:PORT]/PATH[?QUERY] or wss://... for TLS; an IPv6
    host goes in brackets: ws://[::1]:8080/. A wss:// server's certificate
    is checked against the system's trusted CAs (or --ca) and HOST.

OPTIONS:
    --binary             Send input as binary messages in raw chunks as it
                         arrives, and write messages without adding newlines.
    --reconnect          Keep the connection up: after a failure or a server
                         close, connect again with exponential backoff and
                         jitter (up to 1 s at first, doubling to 60 s). Lines
                         read while disconnected wait in a queue of 64, oldest
                         dropped first. Without it, the first failure exits.
                         A 4xx refusal other than 408 and 429 still exits.
    --header 'NAME: VALUE'
                         Add a header to the handshake (repeatable), such as
                         'Authorization: Bearer TOKEN'.
    --origin ORIGIN      Send this Origin header, for servers that check it.
    --subprotocol NAME   Offer this subprotocol (repeatable, in order of
                         preference).
    --max-message SIZE   Largest message accepted from the server, in bytes or
                         with a k or M suffix. [default: 1M]
    --ca FILE            For wss://: trust only the CA certificates in this
                         PEM file (a private CA on a LAN) instead of the
                         system's.
    --insecure           For wss://: do not verify the server's certificate
                         or name at all. For tests only: anyone on the path
                         can read and change the traffic. Logged as a
                         warning on every connection.
    --no-deflate         Do not offer permessage-deflate. By default it is
                         offered without context takeover, so the server's
                         messages (and ours of 128 bytes or more) may be
                         compressed at no memory cost between messages.
    --log-level LEVEL    off, error, warn, info, debug or trace. [default: info]
    -h, --help           Show this help.

    --ca and --insecure need a tinyws built with the `tls` feature (the
    release binaries are).

EXIT STATUS:
    0   the input ended and the server answered our Close
    1   another error (stdout closed, CMD could not start, ...)
    2   a bad command line
    3   could not connect (name, network, timeout, TLS or certificate
        verification, not a WebSocket server)
    4   refused by the server with an HTTP status, printed on stderr
    5   closed by the server, or the connection was lost

EXAMPLES:
    printf 'a\\nb\\n' | tinyws connect ws://localhost:8080/
        Sends two lines to an echo server and prints both echoes.
    ./read_sensor.sh | tinyws connect --reconnect 'ws://relay:8080/publish?token=SECRET'
        Pushes every reading to a relay (tinyws broadcast --publish) and
        rides out Wi-Fi drops and relay restarts.
    echo hello | tinyws connect --ca ca.pem wss://pi.local:9443/
        Over TLS, trusting a private CA (README: wss on a LAN).
";

/// Parses the arguments after `connect`.
pub(crate) fn parse<I>(args: I) -> Result<ParsedConnect, String>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    use lexopt::prelude::*;

    let mut parser = lexopt::Parser::from_args(args);
    let mut o = ConnectOptions::default();
    let mut url = None;
    let err = |e: lexopt::Error| e.to_string();
    while let Some(arg) = parser.next().map_err(err)? {
        match arg {
            Short('h') | Long("help") => return Ok(ParsedConnect::Help),
            Long("binary") => o.binary = true,
            Long("reconnect") => o.reconnect = true,
            Long("header") => {
                let line = text(parser.value())?;
                match line.split_once(':') {
                    Some((name, value)) if !name.trim().is_empty() => {
                        o.headers
                            .push((name.trim().to_owned(), value.trim().to_owned()));
                    }
                    _ => return Err(format!("--header {:?}: expected 'NAME: VALUE'", line)),
                }
            }
            Long("origin") => o.origin = Some(text(parser.value())?),
            Long("subprotocol") => o.subprotocols.push(text(parser.value())?),
            Long("max-message") => o.max_message = Some(size(&text(parser.value())?)?),
            Long("log-level") => o.log_level = Some(text(parser.value())?),
            Long("ca") => o.ca = Some(PathBuf::from(parser.value().map_err(err)?)),
            Long("insecure") => o.insecure = true,
            Long("no-deflate") => o.no_deflate = true,
            Value(v) if url.is_none() => {
                url = Some(
                    v.into_string()
                        .map_err(|v| format!("URL is not valid UTF-8: {:?}", v))?,
                );
            }
            Value(v) => {
                // CMD and everything after it, options included, belong to CMD.
                o.command.push(v);
                o.command.extend(parser.raw_args().map_err(err)?);
            }
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    o.url = url.ok_or("a URL is needed: tinyws connect ws://HOST:PORT/PATH")?;
    let flag = match (&o.ca, o.insecure) {
        (Some(_), true) => {
            return Err("--ca and --insecure contradict each other: \
                        --ca verifies against a CA, --insecure verifies nothing"
                .to_owned())
        }
        (Some(_), false) => Some("--ca"),
        (None, true) => Some("--insecure"),
        (None, false) => None,
    };
    let secure = o
        .url
        .get(..6)
        .map_or(false, |s| s.eq_ignore_ascii_case("wss://"));
    if let (Some(flag), false) = (flag, secure) {
        return Err(format!(
            "{} is for wss:// URLs; {} is not one",
            flag,
            shown(&o.url)
        ));
    }
    Ok(ParsedConnect::Run(o))
}

fn text(value: Result<OsString, lexopt::Error>) -> Result<String, String> {
    value
        .map_err(|e| e.to_string())?
        .into_string()
        .map_err(|v| format!("not valid UTF-8: {:?}", v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<ConnectOptions, String> {
        match parse(args.iter().copied())? {
            ParsedConnect::Run(o) => Ok(o),
            ParsedConnect::Help => Err("help".to_owned()),
        }
    }

    #[test]
    fn everything() {
        let o = run(&[
            "--binary",
            "--reconnect",
            "--header",
            "Authorization: Bearer a:b",
            "--origin",
            "http://pi.local",
            "--subprotocol",
            "v2",
            "--subprotocol",
            "v1",
            "--max-message",
            "64k",
            "ws://[::1]:9001/x?y=1",
            "--",
            "cat",
            "--help",
        ])
        .unwrap();
        assert!(o.binary && o.reconnect);
        assert_eq!(o.headers, [("Authorization".into(), "Bearer a:b".into())]);
        assert_eq!(o.origin.as_deref(), Some("http://pi.local"));
        assert_eq!(o.subprotocols, ["v2", "v1"]);
        assert_eq!(o.max_message, Some(65536));
        assert_eq!(o.url, "ws://[::1]:9001/x?y=1");
        assert_eq!(o.command, ["cat", "--help"]);
    }

    #[test]
    fn tls_options() {
        let o = run(&["--ca", "/etc/ca.pem", "wss://pi.local:9443/"]).unwrap();
        assert_eq!(o.ca.as_deref(), Some(std::path::Path::new("/etc/ca.pem")));
        assert!(!o.insecure);
        let o = run(&["--insecure", "WSS://pi.local/"]).unwrap();
        assert!(o.insecure && o.ca.is_none());
    }

    #[test]
    fn command_without_dashes() {
        let o = run(&["ws://h/", "cat"]).unwrap();
        assert_eq!(o.command, ["cat"]);
    }

    #[test]
    fn mistakes() {
        for (args, why) in [
            (&[][..], "a URL is needed"),
            (
                &["--header", "NoColon", "ws://h/"][..],
                "expected 'NAME: VALUE'",
            ),
            (
                &["--header", ": x", "ws://h/"][..],
                "expected 'NAME: VALUE'",
            ),
            (&["--max-message", "0", "ws://h/"][..], "above zero"),
            (&["--bogus", "ws://h/"][..], "bogus"),
            (&["--ca", "c.pem", "ws://h/"][..], "--ca is for wss:// URLs"),
            (
                &["--insecure", "ws://h/?token=t"][..],
                "--insecure is for wss:// URLs; ws://h/?… is not one",
            ),
            (
                &["--ca", "c.pem", "--insecure", "wss://h/"][..],
                "contradict",
            ),
        ] {
            let e = run(args).unwrap_err();
            assert!(e.contains(why), "{:?}: {}", args, e);
        }
        assert_eq!(run(&["-h"]).unwrap_err(), "help");
    }
}
