//! The opening handshake (RFC 6455 section 4.2): read the request into a
//! fixed buffer under one deadline, parse it with httparse into a fixed
//! header array, validate it, and answer 101 or an HTTP error with a
//! one-line reason.
//!
//! The parsing, validation and response writing are pure functions over
//! bytes; only [`read_head`] and [`handshake`] touch the stream. The
//! handshake returns what was agreed; its callers build the connection.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Instant;

use base64::Engine as _;

use crate::config::Config;
use crate::error::{Error, HandshakeError, Result, Timeout};
use crate::request::{trim, Action, Reply, Request, Upgrade, MAX_HEADERS};
use crate::stream::{linger, Io, Stream};
use crate::websocket::WebSocket;
use crate::writer::Writer;
use crate::Role;

/// The largest request head accepted; a larger one gets 431. Browsers send
/// 400–1,500 bytes; this leaves room for cookies.
pub(crate) const MAX_HEAD: usize = 8 * 1024;

const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The handshake hook, as the server stores it.
pub(crate) type Hook = dyn Fn(&Request) -> Action + Send + Sync;

/// Computes Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: the
/// base64 of SHA-1(key + GUID) (RFC 6455 section 4.2.2).
///
/// ```
/// assert_eq!(
///     tinyws::accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/// );
/// ```
pub fn accept_key(key: &str) -> String {
    String::from_utf8_lossy(&accept_key_bytes(key.as_bytes())).into_owned()
}

fn accept_key_bytes(key: &[u8]) -> [u8; 28] {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(GUID);
    let mut out = [0u8; 28];
    // 20 bytes always encode to exactly 28 base64 characters.
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(sha.digest().bytes(), &mut out);
    out
}

/// Parses a complete request head from `buf`. `Ok(None)` means httparse
/// wants more bytes.
pub(crate) fn parse(
    buf: &[u8],
    peer: Option<SocketAddr>,
) -> Result<Option<(Request, usize)>, HandshakeError> {
    // On the heap. Stack depth: DESIGN.md, "Memory".
    let mut headers = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => {
            Ok(Some((Request::from_parsed(&buf[..n], &req, peer), n)))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HandshakeError::new(431, "too many headers")),
        Err(httparse::Error::Version) => Err(HandshakeError::new(
            400,
            "malformed request: bad http version",
        )),
        Err(httparse::Error::HeaderName) => Err(HandshakeError::new(
            400,
            "malformed request: bad header name",
        )),
        Err(httparse::Error::HeaderValue) => Err(HandshakeError::new(
            400,
            "malformed request: bad header value",
        )),
        Err(_) => Err(HandshakeError::new(400, "malformed request")),
    }
}

/// What validation found for an upgrade it accepts.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) accept: [u8; 28],
    pub(crate) subprotocol: Option<String>,
}

/// Checks an upgrade request against RFC 6455 section 4.2.1 and the Origin
/// and subprotocol policy. Each refusal carries its status and reason.
pub(crate) fn validate(req: &Request, config: &Config) -> Result<Accepted, HandshakeError> {
    let refuse = |status, reason| Err(HandshakeError::new(status, reason));
    if req.method() != "GET" {
        return refuse(405, "method not allowed: a websocket upgrade uses GET");
    }
    if req.minor_version() < 1 {
        return refuse(400, "http/1.1 or later required");
    }
    if !req.is_upgrade() {
        return refuse(
            426,
            "this is a websocket endpoint: send a websocket upgrade request",
        );
    }
    if req
        .header_bytes("host")
        .map_or(true, |h| trim(h).is_empty())
    {
        return refuse(400, "missing host header");
    }
    if !req.has_token("connection", "upgrade") {
        return refuse(400, "connection header must include upgrade");
    }
    match one_value(req, "sec-websocket-version") {
        Some(v) if v == b"13" => {}
        _ => return refuse(426, "unsupported websocket version: only 13 is supported"),
    }
    let key = match one_value(req, "sec-websocket-key") {
        Some(k) if is_valid_key(k) => k,
        Some(_) => return refuse(400, "sec-websocket-key must be the base64 of 16 bytes"),
        None => return refuse(400, "missing or repeated sec-websocket-key"),
    };
    if !origin_allowed(req, config) {
        return refuse(403, "origin not allowed");
    }
    let subprotocol = req
        .subprotocols()
        .find(|p| config.subprotocols.iter().any(|s| s == p))
        .map(str::to_owned);
    if subprotocol.is_none() && config.require_subprotocol {
        return refuse(400, "no supported subprotocol offered");
    }
    Ok(Accepted {
        accept: accept_key_bytes(key),
        subprotocol,
    })
}

/// The value of a header that must appear exactly once, trimmed.
fn one_value<'a>(req: &'a Request, name: &'a str) -> Option<&'a [u8]> {
    let mut values = req.header_values(name);
    match (values.next(), values.next()) {
        (Some(v), None) => Some(trim(v)),
        _ => None,
    }
}

fn is_valid_key(key: &[u8]) -> bool {
    let mut decoded = [0u8; 18];
    key.len() == 24
        && matches!(
            base64::engine::general_purpose::STANDARD.decode_slice(key, &mut decoded),
            Ok(16)
        )
}

/// The default Origin policy: no Origin (not a browser), the same origin as
/// the Host header, or one on the allowlist. See the README for why.
fn origin_allowed(req: &Request, config: &Config) -> bool {
    let origin = match req.header("origin") {
        None => return true,
        Some(o) => o.trim(),
    };
    if config.allow_any_origin {
        return true;
    }
    let unslashed = origin.trim_end_matches('/');
    if config
        .allowed_origins
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(unslashed))
    {
        return true;
    }
    let (scheme, authority) = match origin.split_once("://") {
        Some(parts) => parts,
        None => return false, // "null" and other opaque origins
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => 443,
        _ => 80,
    };
    let host = match req.header("host") {
        Some(h) => h.trim(),
        None => return false,
    };
    match (
        split_host_port(authority, default_port),
        split_host_port(host, default_port),
    ) {
        (Some((oh, op)), Some((hh, hp))) => oh.eq_ignore_ascii_case(hh) && op == hp,
        _ => false,
    }
}

/// Splits `host[:port]` or `[v6][:port]`.
fn split_host_port(s: &str, default_port: u16) -> Option<(&str, u16)> {
    let s = s.trim_end_matches('/');
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        (h, after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    Some((host, port))
}

/// Writes the 101 answer.
pub(crate) fn write_accept(out: &mut Vec<u8>, accepted: &Accepted, extra: &[(String, String)]) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    );
    out.extend_from_slice(b"Sec-WebSocket-Accept: ");
    out.extend_from_slice(&accepted.accept);
    out.extend_from_slice(b"\r\n");
    if let Some(p) = &accepted.subprotocol {
        write_header(out, "Sec-WebSocket-Protocol", p);
    }
    for (name, value) in extra {
        write_header(out, name, value);
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes a refusal: the status, the headers its status calls for, and the
/// reason as a one-line plain-text body.
pub(crate) fn write_refusal(out: &mut Vec<u8>, err: &HandshakeError) {
    let mut response = Reply::text(err.status, format!("{}\n", err.reason));
    response = match err.status {
        405 => response.header("Allow", "GET"),
        426 => response
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13"),
        503 => response.header("Retry-After", "5"),
        _ => response,
    };
    write_response(out, &response);
}

/// Writes a plain HTTP response, always with `Connection: close`. A file
/// body is not included: `answer` streams it after the head.
pub(crate) fn write_response(out: &mut Vec<u8>, response: &Reply) {
    write_response_head(out, response);
    out.extend_from_slice(response.body.bytes());
}

/// The status line and headers of a response, with its Content-Length.
fn write_response_head(out: &mut Vec<u8>, response: &Reply) {
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason_phrase(response.status)
    );
    for (name, value) in &response.headers {
        write_header(out, name, value);
    }
    // A 304 or 204 has no body, and a Content-Length of 0 would
    // misstate the 200's (RFC 9110 sections 8.6 and 15.4.5).
    if !matches!(response.status, 204 | 304) {
        let _ = write!(out, "Content-Length: {}\r\n", response.body.len());
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
}

fn write_header(out: &mut Vec<u8>, name: &str, value: &str) {
    let bad = |s: &str| s.bytes().any(|b| b == b'\r' || b == b'\n');
    if name.is_empty() || bad(name) || bad(value) {
        log::warn!("dropped a response header holding CR or LF: {:?}", name);
        return;
    }
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// An HTTP head (a request or a response) and whatever followed it in the
/// same reads.
pub(crate) struct Head<T> {
    pub(crate) head: T,
    /// Bytes after the head: a pipelined first frame, never lost.
    pub(crate) rest: Vec<u8>,
}

/// Reads until a complete HTTP head has arrived, all under one deadline
/// however the peer trickles it, for either role: `parse` turns the bytes so
/// far into a head and its length, or `None` for "more bytes". Only parses
/// when a blank line has arrived, so a slow peer costs linear, not
/// quadratic, work.
pub(crate) fn read_head<S: Stream + ?Sized, T>(
    stream: &mut S,
    deadline: Instant,
    parse: impl Fn(&[u8]) -> Result<Option<(T, usize)>, HandshakeError>,
) -> Result<Head<T>> {
    // A fixed buffer on the heap. Stack depth: DESIGN.md, "Memory".
    let mut buf = vec![0u8; MAX_HEAD];
    let mut filled = 0;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Timeout(Timeout::Handshake));
        }
        stream.set_read_timeout(Some(deadline - now))?;
        let n = match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err(Error::Disconnected),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::from_io(e, Timeout::Handshake)),
        };
        let scan_from = filled.saturating_sub(3);
        filled += n;
        let window = &buf[scan_from..filled];
        let blank_line =
            window.windows(2).any(|w| w == b"\n\n") || window.windows(3).any(|w| w == b"\n\r\n");
        if blank_line {
            if let Some((head, len)) = parse(&buf[..filled]).map_err(Error::Handshake)? {
                return Ok(Head {
                    head,
                    rest: buf[len..filled].to_vec(),
                });
            }
        }
        if filled == buf.len() {
            return Err(Error::Handshake(HandshakeError::new(
                431,
                "request header too large",
            )));
        }
    }
}

/// What the server and the client agreed on in the opening handshake.
#[derive(Debug)]
pub(crate) struct Agreed {
    pub(crate) request: Request,
    pub(crate) subprotocol: Option<String>,
    /// Bytes after the request: a pipelined first frame, never lost.
    pub(crate) rest: Vec<u8>,
}

/// The outcome of [`handshake`].
pub(crate) enum Outcome {
    /// Upgraded: the 101 is sent and the caller builds the connection.
    Open(Agreed),
    /// The hook answered a plain HTTP request; the stream is done.
    Answered(Request, u16),
}

/// Runs the whole opening handshake on `stream`: read under the deadline,
/// validate, consult the hook, and answer. Every refusal is answered with
/// its HTTP status before the error is returned.
pub(crate) fn handshake<S: Stream + ?Sized>(
    stream: &mut S,
    config: &Config,
    hook: Option<&Hook>,
    peer: Option<SocketAddr>,
) -> Result<Outcome> {
    let deadline = Instant::now()
        .checked_add(config.handshake_timeout)
        .unwrap_or_else(Instant::now);
    stream.set_write_timeout(Some(config.write_timeout))?;
    let head = match read_head(stream, deadline, |buf| parse(buf, peer)) {
        Ok(head) => head,
        Err(Error::Handshake(refusal)) => return Err(refuse(stream, refusal)),
        Err(Error::Timeout(t)) => {
            let _ = refuse(stream, HandshakeError::new(408, "handshake timed out"));
            return Err(Error::Timeout(t));
        }
        Err(e) => return Err(e),
    };
    let request = head.head;
    if let (Some(hook), false) = (hook, request.is_upgrade()) {
        match ask(hook, &request) {
            Ok(Action::Respond(reply)) => return answer(stream, request, &reply),
            Ok(Action::Upgrade(_)) => {} // validation below answers 426
            Err(refusal) => return Err(refuse(stream, refusal)),
        }
    }
    let mut accepted = match validate(&request, config) {
        Ok(a) => a,
        Err(refusal) => return Err(refuse(stream, refusal)),
    };
    let mut extra = Vec::new();
    if let (Some(hook), true) = (hook, request.is_upgrade()) {
        match ask(hook, &request) {
            Ok(Action::Respond(reply)) => return answer(stream, request, &reply),
            Ok(Action::Upgrade(Upgrade {
                subprotocol,
                headers,
            })) => {
                if let Some(p) = subprotocol {
                    if !request.subprotocols().any(|offered| offered == p) {
                        let refusal = HandshakeError::new(
                            500,
                            "hook chose a subprotocol the client did not offer",
                        );
                        return Err(refuse(stream, refusal));
                    }
                    accepted.subprotocol = Some(p);
                }
                extra = headers;
            }
            Err(refusal) => return Err(refuse(stream, refusal)),
        }
    }
    send(stream, |out| write_accept(out, &accepted, &extra))?;
    Ok(Outcome::Open(Agreed {
        request,
        subprotocol: accepted.subprotocol,
        rest: head.rest,
    }))
}

/// Runs the hook; a panic in it is logged and answered with 500 rather than
/// killing the connection thread without a word.
fn ask(hook: &Hook, request: &Request) -> Result<Action, HandshakeError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(request))).map_err(|_| {
        log::error!(
            "handshake hook panicked on {} {}",
            request.method(),
            request.uri()
        );
        HandshakeError::new(500, "internal error")
    })
}

/// Sends the hook's plain HTTP answer and ends the connection.
fn answer<S: Stream + ?Sized>(
    stream: &mut S,
    request: Request,
    response: &Reply,
) -> Result<Outcome> {
    // HEAD gets the GET's headers and no body (RFC 9110 section 9.3.2);
    // 204 and 304 never have one.
    if request.method() == "HEAD" || matches!(response.status, 204 | 304) {
        send(stream, |out| write_response_head(out, response))?;
    } else {
        send(stream, |out| write_response(out, response))?;
        response.body.send_file(stream)?;
    }
    linger(stream);
    Ok(Outcome::Answered(request, response.status))
}

fn send<S: Stream + ?Sized>(stream: &mut S, build: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
    let mut out = Vec::with_capacity(256);
    build(&mut out);
    stream.write_all(&out)?;
    stream.flush()?;
    Ok(())
}

/// Answers a refusal, then closes the write side so the client reads the
/// whole answer before the connection ends.
fn refuse<S: Stream + ?Sized>(stream: &mut S, refusal: HandshakeError) -> Error {
    log::debug!("handshake refused: {} {}", refusal.status, refusal.reason);
    if send(stream, |out| write_refusal(out, &refusal)).is_ok() {
        linger(stream);
    }
    Error::Handshake(refusal)
}

/// Accepts a WebSocket connection on a stream you already have: reads and
/// checks the opening handshake, answers it, and returns the open
/// connection.
///
/// The whole handshake must arrive within
/// [`Config::handshake_timeout`](crate::Config::handshake_timeout) (on
/// streams that support timeouts). Any bytes the client sent after its
/// request are kept for the first [`WebSocket::read`].
///
/// ```no_run
/// use std::net::TcpListener;
/// let listener = TcpListener::bind("127.0.0.1:9001")?;
/// for stream in listener.incoming() {
///     let mut ws = tinyws::accept(stream?, &tinyws::Config::default())?;
///     while let Ok(msg) = ws.read() {
///         if msg.is_data() {
///             ws.send(msg)?;
///         }
///     }
/// }
/// # Ok::<(), tinyws::Error>(())
/// ```
///
/// # Errors
/// [`Error::Handshake`] after answering a bad request with its HTTP status
/// (400, 403, 405, 426 or 431); [`Error::Timeout`] when the deadline passed
/// (answered with 408); [`Error::Config`] for a bad `config`; I/O errors.
pub fn accept<S: Stream>(stream: S, config: &Config) -> Result<WebSocket<S>> {
    config.validate()?;
    let mut stream = Io::new(stream);
    match handshake(&mut stream, config, None, None)? {
        Outcome::Open(agreed) => Ok(*WebSocket::boxed(
            stream,
            config,
            Writer::new(Role::Server),
            Some(agreed.request),
            agreed.subprotocol,
            &agreed.rest,
        )),
        // Without a hook every non-upgrade request is refused, never answered.
        Outcome::Answered(..) => Err(Error::Handshake(HandshakeError::new(426, "not an upgrade"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "GET /chat?x=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    fn req(text: &str) -> Request {
        parse(text.as_bytes(), None).unwrap().unwrap().0
    }

    fn check(text: &str, config: &Config) -> Result<Accepted, HandshakeError> {
        validate(&req(text), config)
    }

    #[test]
    fn rfc_example_is_accepted() {
        let a = check(GOOD, &Config::default()).unwrap();
        assert_eq!(&a.accept, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let mut out = Vec::new();
        write_accept(&mut out, &a, &[]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        );
        let r = req(GOOD);
        assert_eq!(
            (r.method(), r.path(), r.query()),
            ("GET", "/chat", Some("x=1"))
        );
    }

    macro_rules! refusals {
        ($($name:ident: ($from:expr, $to:expr) => $status:expr,)*) => {$(
            #[test]
            fn $name() {
                let text = GOOD.replacen($from, $to, 1);
                let err = check(&text, &Config::default()).map(|_| ()).unwrap_err();
                assert_eq!(err.status, $status, "{}", err.reason);
            }
        )*};
    }

    refusals! {
        post: ("GET ", "POST ") => 405,
        http_1_0: ("HTTP/1.1", "HTTP/1.0") => 400,
        no_upgrade: ("Upgrade: websocket\r\n", "") => 426,
        upgrade_other: ("Upgrade: websocket", "Upgrade: h2c") => 426,
        no_host: ("Host: server.example.com\r\n", "") => 400,
        no_connection_token: ("Connection: Upgrade", "Connection: keep-alive") => 400,
        no_version: ("Sec-WebSocket-Version: 13\r\n", "") => 426,
        wrong_version: ("Version: 13", "Version: 8") => 426,
        no_key: ("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "") => 400,
        short_key: ("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZQ==") => 400,
        not_base64_key: ("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25j!Q==") => 400,
        seventeen_byte_key: ("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZSE=") => 400,
        cross_origin: ("Host:", "Origin: http://evil.example\r\nHost:") => 403,
        null_origin: ("Host:", "Origin: null\r\nHost:") => 403,
        other_port: ("Host:", "Origin: http://server.example.com:8080\r\nHost:") => 403,
    }

    #[test]
    fn tokens_and_names_are_case_insensitive() {
        let text = "GET / HTTP/1.1\r\nhOST: a\r\nupgrade: WebSocket\r\nconnection: keep-alive, UPGRADE\r\n\
            sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nSEC-WEBSOCKET-VERSION: 13\r\n\r\n";
        assert!(check(text, &Config::default()).is_ok());
    }

    #[test]
    fn origin_policy() {
        let with_origin = |origin: &str, host: &str| {
            GOOD.replace(
                "Host: server.example.com",
                &format!("Host: {}\r\nOrigin: {}", host, origin),
            )
        };
        let default = Config::default();
        for (origin, host) in [
            ("http://server.example.com", "server.example.com"),
            ("http://SERVER.example.com:80", "server.example.com"),
            ("http://127.0.0.1:9001", "127.0.0.1:9001"),
            ("https://pi.local", "pi.local:443"),
            ("http://[::1]:9001", "[::1]:9001"),
        ] {
            assert!(
                check(&with_origin(origin, host), &default).is_ok(),
                "{} vs {}",
                origin,
                host
            );
        }
        let text = with_origin("http://dash.example", "pi.local:9001");
        assert_eq!(check(&text, &default).unwrap_err().status, 403);
        let listed = Config::default().allowed_origins(vec!["http://DASH.example/".into()]);
        assert!(check(&text, &listed).is_ok());
        assert!(check(&text, &Config::default().allow_any_origin(true)).is_ok());
    }

    #[test]
    fn subprotocol_selection() {
        let text = GOOD.replace("Host:", "Sec-WebSocket-Protocol: v2.chat, v1.chat\r\nHost:");
        let config = Config::default().subprotocols(vec!["v1.chat".into(), "v2.chat".into()]);
        // The client's order of preference wins.
        assert_eq!(
            check(&text, &config).unwrap().subprotocol.as_deref(),
            Some("v2.chat")
        );
        let none = Config::default().subprotocols(vec!["mqtt".into()]);
        assert_eq!(check(&text, &none).unwrap().subprotocol, None);
        let required = none.require_subprotocol(true);
        assert_eq!(check(&text, &required).unwrap_err().status, 400);
    }

    #[test]
    fn header_limits() {
        let many: String = (0..MAX_HEADERS)
            .map(|i| format!("X-{}: y\r\n", i))
            .collect();
        let text = GOOD.replace("Host:", &format!("{}Host:", many));
        assert_eq!(parse(text.as_bytes(), None).unwrap_err().status, 431);
        assert!(parse(b"GET / HTTP/1.1\r\nHost: a\r\n", None)
            .unwrap()
            .is_none());
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nBad Name: a\r\n\r\n", None)
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn refusal_answers() {
        let mut out = Vec::new();
        write_refusal(
            &mut out,
            &HandshakeError::new(426, "unsupported websocket version: only 13 is supported"),
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{}",
            text
        );
        assert!(text.contains("Sec-WebSocket-Version: 13\r\n"));
        assert!(text.ends_with("\r\n\r\nunsupported websocket version: only 13 is supported\n"));
        let mut out = Vec::new();
        write_refusal(&mut out, &HandshakeError::new(405, "method not allowed"));
        assert!(String::from_utf8(out).unwrap().contains("Allow: GET\r\n"));
        let mut out = Vec::new();
        write_response(
            &mut out,
            &Reply::new(200).header("X-Evil", "a\r\nSet-Cookie: x"),
        );
        assert!(!String::from_utf8(out).unwrap().contains("Set-Cookie"));
    }
}
