//! The server side of the opening handshake (RFC 6455 section 4.2): parse
//! the request with httparse into a fixed header array, validate it (Host,
//! Origin, subprotocol, extensions), consult the hook, and answer 101 or an
//! HTTP error with a one-line reason.

use std::fmt;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use base64::Engine as _;

use super::read::TLS_ON_PLAIN_PORT;
use super::{accept_key_bytes, read_head};
use crate::config::Config;
use crate::error::{Error, HandshakeError, Result};
use crate::proto::DeflateAgreement;
use crate::request::{trim, Action, Reply, Request, Upgrade, MAX_HEADERS};
use crate::stream::{linger, Io, Stream};
use crate::websocket::WebSocket;
use crate::writer::Writer;
use crate::Role;

/// The handshake hook, as the server stores it.
pub(crate) type Hook = dyn Fn(&Request) -> Action + Send + Sync;

/// Parses a complete request head from `buf`. `Ok(None)` means httparse
/// wants more bytes.
pub(crate) fn parse(
    buf: &[u8],
    peer: Option<SocketAddr>,
) -> Result<Option<(Box<Request>, usize)>, HandshakeError> {
    // On the heap. Stack depth: DESIGN.md, "Memory".
    let mut headers = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => Ok(Some((
            Box::new(Request::from_parsed(&buf[..n], &req, peer)),
            n,
        ))),
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
    /// The client's Sec-WebSocket-Key, checked. Its hash is taken as the 101
    /// is written, under less stack (DESIGN.md, "Memory").
    pub(crate) key: [u8; 24],
    pub(crate) subprotocol: Option<String>,
    /// permessage-deflate as agreed from [`Config::deflate`], with the
    /// `Sec-WebSocket-Extensions` answer.
    pub(crate) deflate: Option<(DeflateAgreement, String)>,
}

/// Checks an upgrade request against RFC 6455 section 4.2.1 and the Origin
/// and subprotocol policy. Each refusal carries its status and reason.
///
/// `this_host` is the device's host name, read by the shell
/// ([`this_host_name`]): validation reads no file.
pub(crate) fn validate(
    req: &Request,
    config: &Config,
    this_host: Option<&str>,
) -> Result<Accepted, HandshakeError> {
    let refuse = |status, reason| Err(HandshakeError::new(status, reason));
    // HEAD gets what GET would get, without the body.
    let method = req.method();
    if method != "GET" && (method != "HEAD" || req.is_upgrade()) {
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
    check_host(req, config, this_host)?;
    // A body would otherwise be read as the first WebSocket frames: the
    // request smuggling shape of RFC 9112 section 6.3.
    if req.header_values("transfer-encoding").next().is_some() {
        return refuse(
            400,
            "an upgrade request must not have a body (transfer-encoding)",
        );
    }
    if req.header_values("content-length").any(|v| trim(v) != b"0") {
        return refuse(
            400,
            "an upgrade request must not have a body (content-length)",
        );
    }
    if !req.has_token("connection", "upgrade") {
        return refuse(400, "connection header must include upgrade");
    }
    match one_value(req, "sec-websocket-version") {
        Some(v) if v == b"13" => {}
        _ => return refuse(426, "unsupported websocket version: only 13 is supported"),
    }
    let key = match one_value(req, "sec-websocket-key") {
        Some(k) if is_valid_key(k) => {
            let mut key = [0u8; 24];
            key.copy_from_slice(k);
            key
        }
        Some(_) => return refuse(400, "sec-websocket-key must be the base64 of 16 bytes"),
        None => return refuse(400, "missing or repeated sec-websocket-key"),
    };
    origin_allowed(req, config)?;
    let subprotocol = req
        .subprotocols()
        .find(|p| config.subprotocols.iter().any(|s| s == p))
        .map(str::to_owned);
    if subprotocol.is_none() && config.require_subprotocol {
        return refuse(400, "no supported subprotocol offered");
    }
    #[cfg(feature = "deflate")]
    let deflate = config.deflate.as_ref().and_then(|d| {
        crate::proto::deflate::server_accept(req.header_values("sec-websocket-extensions"), d)
    });
    #[cfg(not(feature = "deflate"))]
    let deflate = None;
    Ok(Accepted {
        key,
        subprotocol,
        deflate,
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
/// the host the client asked for, or one on the allowlist. An Origin that is
/// repeated or not ASCII is refused, never taken for absent. See the README
/// for why.
fn origin_allowed(req: &Request, config: &Config) -> Result<(), HandshakeError> {
    let mut values = req.header_values("origin");
    let origin = match (values.next(), values.next()) {
        (None, _) => return Ok(()),
        (Some(_), Some(_)) => return Err(HandshakeError::new(400, "repeated origin header")),
        (Some(o), None) => match std::str::from_utf8(trim(o)) {
            Ok(o) if o.is_ascii() => o,
            _ => return Err(HandshakeError::new(400, "origin header is not ascii")),
        },
    };
    if config.allow_any_origin {
        return Ok(());
    }
    let unslashed = origin.trim_end_matches('/');
    if config
        .allowed_origins
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(unslashed))
    {
        return Ok(());
    }
    let (scheme, authority) = match origin.split_once("://") {
        Some(parts) => parts,
        // "null" and other opaque origins
        None => return Err(ORIGIN_OPAQUE),
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => 443,
        _ => 80,
    };
    match (
        split_host_port(authority, default_port),
        split_host_port(req.host(), default_port),
    ) {
        (Some((oh, op)), Some((hh, hp))) if oh.eq_ignore_ascii_case(hh) && op == hp => Ok(()),
        _ if req.host_is_forwarded() => Err(ORIGIN_NOT_FORWARDED_HOST),
        _ => Err(ORIGIN_NOT_HOST),
    }
}

const ORIGIN_OPAQUE: HandshakeError = HandshakeError::new(
    403,
    "origin not allowed: an opaque origin, not in allowed_origins",
);
const ORIGIN_NOT_HOST: HandshakeError = HandshakeError::new(
    403,
    "origin not allowed: not the host's origin (same host and port), not in allowed_origins",
);
const ORIGIN_NOT_FORWARDED_HOST: HandshakeError = HandshakeError::new(
    403,
    "origin not allowed: not the forwarded host's origin, not in allowed_origins",
);

/// RFC 9112 section 3.2: exactly one Host header, with a valid value,
/// answered with 400 otherwise; then the name must be this device's or an
/// allowed one, against DNS rebinding (see the README), answered with 421.
pub(crate) fn check_host(
    req: &Request,
    config: &Config,
    this_host: Option<&str>,
) -> Result<(), HandshakeError> {
    let refuse = |status, reason| Err(HandshakeError::new(status, reason));
    let mut hosts = req.header_values("host");
    match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => return refuse(400, "repeated host header"),
        (None, _) if req.minor_version() >= 1 => return refuse(400, "missing host header"),
        (None, _) => return Ok(()), // HTTP/1.0: nothing to check
        (Some(h), None) if trim(h).is_empty() => return refuse(400, "missing host header"),
        (Some(h), None) => {
            if !std::str::from_utf8(trim(h)).map_or(false, is_valid_host) {
                return refuse(400, "invalid host header");
            }
        }
    }
    let host = req.host();
    if !is_valid_host(host) {
        return refuse(400, "invalid host in the request target or forwarded host");
    }
    if host_allowed(host, config, this_host) {
        Ok(())
    } else {
        refuse(
            421,
            "host not allowed: not this device's name; add it to allowed_hosts (tinyws --host NAME)",
        )
    }
}

/// Whether `host` is a syntactically valid `host[:port]` (RFC 3986
/// section 3.2.2): a bracketed IPv6 address or a name of unreserved,
/// sub-delims and percent characters, and at most a 16-bit port.
pub(crate) fn is_valid_host(host: &str) -> bool {
    if host.contains('/') {
        return false;
    }
    let (name, port) = match split_host_port(host, 0) {
        Some(parts) => parts,
        None => return false,
    };
    let _ = port;
    if host.starts_with('[') {
        return name.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b))
}

/// This device's names, and those the configuration adds.
fn host_allowed(host: &str, config: &Config, this_host: Option<&str>) -> bool {
    let name = match split_host_port(host, 0) {
        Some((name, _)) => name.trim_end_matches('.'),
        None => return false,
    };
    if host.starts_with('[') || name.parse::<std::net::Ipv4Addr>().is_ok() {
        return true; // an IP literal: no DNS name to rebind
    }
    // Never resolved through public DNS: `localhost` by the resolver and
    // browsers (RFC 6761), `.local` by multicast DNS on the link (RFC 6762).
    let ends_with = |suffix: &str| {
        name.len() >= suffix.len()
            && name.as_bytes()[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    };
    if name.eq_ignore_ascii_case("localhost") || ends_with(".localhost") || ends_with(".local") {
        return true;
    }
    let listed = config.allowed_hosts.iter().any(|a| {
        a == "*"
            || split_host_port(a, 0).map_or(false, |(n, _)| {
                n.trim_end_matches('.').eq_ignore_ascii_case(name)
            })
    });
    listed || this_host.map_or(false, |h| h.eq_ignore_ascii_case(name))
}

/// The machine's host name, read once per process: by the shell, at
/// [`Server`](crate::Server) start-up or at the first [`accept`], and passed
/// to validation.
pub(crate) fn this_host_name() -> Option<String> {
    static NAME: std::sync::Mutex<Option<Option<String>>> = std::sync::Mutex::new(None);
    let mut name = NAME.lock().unwrap_or_else(|p| p.into_inner());
    name.get_or_insert_with(|| {
        ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .find_map(|path| {
                let text = std::fs::read_to_string(path).ok()?;
                let text = text.trim();
                if text.is_empty() {
                    None
                } else {
                    Some(text.to_ascii_lowercase())
                }
            })
    })
    .clone()
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
    out.extend_from_slice(&accept_key_bytes(&accepted.key));
    out.extend_from_slice(b"\r\n");
    if let Some(p) = &accepted.subprotocol {
        write_header(out, "Sec-WebSocket-Protocol", p);
    }
    if let Some((_, answer)) = &accepted.deflate {
        write_header(out, "Sec-WebSocket-Extensions", answer);
    }
    for (name, value) in extra {
        write_header(out, name, value);
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes a refusal: the status, the headers its status calls for, and the
/// reason as a one-line plain-text body.
pub(crate) fn write_refusal(out: &mut Vec<u8>, err: &HandshakeError) {
    write_refusal_to(out, err, false);
}

/// [`write_refusal`], without the body when answering HEAD.
fn write_refusal_to(out: &mut Vec<u8>, err: &HandshakeError, head_only: bool) {
    let mut response = Reply::text(err.status, format!("{}\n", err.reason));
    response = match err.status {
        405 => response.header("Allow", "GET"),
        426 => response
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13"),
        503 => response.header("Retry-After", "5"),
        _ => response,
    };
    write_response(out, &response, head_only);
}

/// Writes a plain HTTP response, always with `Connection: close`. An answer
/// to HEAD has the headers GET would get, Content-Length included, and no
/// body (RFC 9110 section 9.3.2); 204 and 304 never have one. A file body
/// is not included: `answer` streams it after the head.
pub(crate) fn write_response(out: &mut Vec<u8>, response: &Reply, head_only: bool) {
    write_response_head(out, response);
    if !head_only && !matches!(response.status, 204 | 304) {
        out.extend_from_slice(response.body.bytes());
    }
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
        421 => "Misdirected Request",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// What the server and the client agreed on in the opening handshake.
#[derive(Debug)]
pub(crate) struct Agreed {
    pub(crate) request: Box<Request>,
    pub(crate) subprotocol: Option<String>,
    pub(crate) deflate: Option<DeflateAgreement>,
    /// Bytes after the request: a pipelined first frame, never lost.
    pub(crate) rest: Vec<u8>,
}

/// The outcome of [`handshake_until`].
pub(crate) enum Outcome {
    /// Upgraded: the 101 is sent and the caller builds the connection.
    Open(Agreed),
    /// The hook answered a plain HTTP request; the stream is done.
    Answered(Box<Request>, u16),
}

/// Runs the whole opening handshake on `stream` under `deadline` (the
/// server's includes its TLS handshake): read, validate, consult the hook,
/// and answer. Every refusal is answered with its HTTP status before the
/// error is returned. `accepted` runs once the request is decided, just
/// before the 101 or the hook's answer is written. `this_host` is the
/// device's host name ([`this_host_name`]).
pub(crate) fn handshake_until<S: Stream + ?Sized>(
    stream: &mut S,
    config: &Config,
    hook: Option<&Hook>,
    peer: Option<SocketAddr>,
    accepted: &dyn Fn(),
    deadline: Instant,
    this_host: Option<&str>,
) -> Result<Outcome> {
    stream.set_write_timeout(Some(config.write_timeout))?;
    let head = match read_head(stream, deadline, Role::Server, |buf| {
        parse(buf, peer).map_err(Error::Handshake)
    }) {
        Ok(head) => head,
        Err(Error::Handshake(refusal)) if refusal == TLS_ON_PLAIN_PORT => {
            log::info!("{} {}", display_peer(peer), refusal.reason);
            linger(stream);
            return Err(Error::Handshake(refusal));
        }
        Err(Error::Handshake(refusal)) => return Err(refuse(stream, None, peer, refusal)),
        Err(Error::Timeout(t)) => {
            let refusal = HandshakeError::new(408, "handshake timed out");
            let _ = refuse(stream, None, peer, refusal);
            return Err(Error::Timeout(t));
        }
        Err(e) => return Err(e),
    };
    let mut request = head.head;
    request.resolve_proxy(&config.trusted_proxies);
    let request = request;
    let fail = |stream: &mut S, refusal| Err(refuse(stream, Some(&request), peer, refusal));
    // No page for a name that is not this device's either (upgrades are
    // checked in `validate`).
    if !request.is_upgrade() {
        if let Err(refusal) = check_host(&request, config, this_host) {
            return fail(stream, refusal);
        }
    }
    if let (Some(hook), false) = (hook, request.is_upgrade()) {
        match ask(hook, &request) {
            Ok(Action::Respond(reply)) => {
                // A page (a file, perhaps a large one) is no longer a
                // handshake: it leaves the budget before it is sent.
                accepted();
                return answer(stream, request, &reply);
            }
            Ok(Action::Upgrade(_)) => {} // validation below answers 426
            Err(refusal) => return fail(stream, refusal),
        }
    }
    let mut answer_101 = match validate(&request, config, this_host) {
        Ok(a) => a,
        Err(refusal) => return fail(stream, refusal),
    };
    let mut extra = Vec::new();
    if let (Some(hook), true) = (hook, request.is_upgrade()) {
        match ask(hook, &request) {
            Ok(Action::Respond(reply)) => {
                // A page (a file, perhaps a large one) is no longer a
                // handshake: it leaves the budget before it is sent.
                accepted();
                return answer(stream, request, &reply);
            }
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
                        return fail(stream, refusal);
                    }
                    answer_101.subprotocol = Some(p);
                }
                extra = headers;
            }
            Err(refusal) => return fail(stream, refusal),
        }
    }
    if answer_101.subprotocol.is_none() && request.subprotocols().next().is_some() {
        log_no_subprotocol(&request);
    }
    accepted();
    let mut rest = head.rest;
    send_after(stream, &mut rest, |out| {
        write_accept(out, &answer_101, &extra)
    })?;
    if let Some((_, extension)) = &answer_101.deflate {
        log_deflate(&request, extension);
    }
    Ok(Outcome::Open(Agreed {
        request,
        subprotocol: answer_101.subprotocol,
        deflate: answer_101.deflate.map(|(agreement, _)| agreement),
        rest,
    }))
}

/// What was agreed, so that an operator (and the browser test) can see
/// that a client's offer was taken.
#[inline(never)]
fn log_deflate(request: &Request, extension: &str) {
    log::debug!("{} agreed to {}", who(request), extension);
}

/// A browser fails a connection whose answer names none of the
/// subprotocols it offered, so the user needs to know why.
#[inline(never)]
fn log_no_subprotocol(request: &Request) {
    let offered: Vec<&str> = request.subprotocols().collect();
    log::info!(
        "{} offered subprotocols {:?} and none was chosen: a browser will close the connection; \
         list them in Config::subprotocols (tinyws --subprotocol) or choose one in the hook",
        who(request),
        offered
    );
}

/// The client for log lines: its address, and the proxy's when forwarded.
pub(crate) fn who(request: &Request) -> Who {
    Who {
        forwarded: request.is_forwarded(),
        client: request.client_addr(),
        peer: request.peer_addr(),
    }
}

/// Who a connection is from, for log lines: the client's address, and the
/// proxy's when it came through a trusted one. `Copy` and formatted only
/// when a line is written, so a connection keeps it at no heap cost.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Who {
    forwarded: bool,
    client: Option<IpAddr>,
    peer: Option<SocketAddr>,
}

impl Who {
    pub(crate) fn peer(peer: SocketAddr) -> Who {
        Who {
            forwarded: false,
            client: None,
            peer: Some(peer),
        }
    }
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.forwarded, self.client, self.peer) {
            (true, Some(client), Some(proxy)) => write!(f, "{} via {}", client, proxy),
            (_, _, Some(peer)) => write!(f, "{}", peer),
            _ => f.write_str("-"),
        }
    }
}

fn display_peer(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "-".to_owned(), |p| p.to_string())
}

/// Runs the hook; a panic in it is logged and answered with 500 rather than
/// killing the connection thread without a word.
fn ask(hook: &Hook, request: &Request) -> Result<Action, HandshakeError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(request))).map_err(|_| {
        log::error!(
            "handshake hook panicked on {} {}",
            request.method(),
            request.logged_target()
        );
        HandshakeError::new(500, "internal error")
    })
}

/// Sends the hook's plain HTTP answer and ends the connection.
fn answer<S: Stream + ?Sized>(
    stream: &mut S,
    request: Box<Request>,
    response: &Reply,
) -> Result<Outcome> {
    // HEAD gets the GET's headers and no body (RFC 9110 section 9.3.2);
    // 204 and 304 never have one.
    let head_only = request.method() == "HEAD" || matches!(response.status, 204 | 304);
    send(stream, |out| write_response(out, response, head_only))?;
    if !head_only {
        response.body.send_file(stream)?;
    }
    linger(stream);
    Ok(Outcome::Answered(request, response.status))
}

fn send<S: Stream + ?Sized>(stream: &mut S, build: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
    send_after(stream, &mut Vec::with_capacity(256), build)
}

/// Writes what `build` appends to `buf`, then takes it off again. The 101
/// is built in the head buffer's room, after the bytes kept there: a small
/// buffer of its own would be freed into the connection thread's allocator
/// cache and held there for the connection's life (DESIGN.md, "Memory").
fn send_after<S: Stream + ?Sized>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    build: impl FnOnce(&mut Vec<u8>),
) -> Result<()> {
    let keep = buf.len();
    build(buf);
    let written = stream.write_all(&buf[keep..]).and_then(|()| stream.flush());
    buf.truncate(keep);
    written?;
    Ok(())
}

/// Answers a refusal, then closes the write side so the client reads the
/// whole answer before the connection ends. Logs it at info with what was
/// compared, so that a refusal behind a proxy can be understood.
fn refuse<S: Stream + ?Sized>(
    stream: &mut S,
    request: Option<&Request>,
    peer: Option<SocketAddr>,
    refusal: HandshakeError,
) -> Error {
    let head_only = request.map_or(false, |r| r.method() == "HEAD");
    log_refusal(request, peer, &refusal);
    if send(stream, |out| write_refusal_to(out, &refusal, head_only)).is_ok() {
        linger(stream);
    }
    Error::Handshake(refusal)
}

#[inline(never)]
fn log_refusal(request: Option<&Request>, peer: Option<SocketAddr>, refusal: &HandshakeError) {
    let request = match request {
        Some(r) => r,
        None => {
            log::info!(
                "{} handshake refused: {} {}",
                display_peer(peer),
                refusal.status,
                refusal.reason
            );
            return;
        }
    };
    let origin = request
        .header_bytes("origin")
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    log::info!(
        "{} {} {} refused: {} {} (origin={:?} host={:?}{})",
        who(request),
        request.method(),
        request.logged_target(),
        refusal.status,
        refusal.reason,
        origin,
        request.host(),
        if request.host_is_forwarded() {
            ", forwarded by a trusted proxy"
        } else {
            ""
        }
    );
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
    let deadline = Instant::now()
        .checked_add(config.handshake_timeout)
        .unwrap_or_else(Instant::now);
    let this_host = this_host_name();
    match handshake_until(
        &mut stream,
        config,
        None,
        None,
        &|| {},
        deadline,
        this_host.as_deref(),
    )? {
        Outcome::Open(agreed) => Ok(*WebSocket::boxed(
            stream,
            config,
            {
                let writer = Writer::new(Role::Server);
                writer.set_deflate(agreed.deflate, config);
                writer
            },
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
        *parse(text.as_bytes(), None).unwrap().unwrap().0
    }

    /// Validates with every host allowed: the Host rules have tests of
    /// their own.
    fn check(text: &str, config: &Config) -> Result<Accepted, HandshakeError> {
        let mut config = config.clone();
        if config.allowed_hosts.is_empty() {
            config.allowed_hosts = vec!["*".into()];
        }
        validate(&req(text), &config, None)
    }

    #[test]
    fn rfc_example_is_accepted() {
        let a = check(GOOD, &Config::default()).unwrap();
        assert_eq!(&accept_key_bytes(&a.key), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
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
        head_upgrade: ("GET ", "HEAD ") => 405,
        two_hosts: ("Host:", "Host: b.example\r\nHost:") => 400,
        host_with_path: ("Host: server.example.com", "Host: server.example.com/x") => 400,
        host_with_userinfo: ("Host: server.example.com", "Host: me@server.example.com") => 400,
        host_with_space: ("Host: server.example.com", "Host: server example.com") => 400,
        host_bad_port: ("Host: server.example.com", "Host: server.example.com:99999") => 400,
        host_bad_v6: ("Host: server.example.com", "Host: [not-v6]:80") => 400,
        content_length: ("Host:", "Content-Length: 6\r\nHost:") => 400,
        transfer_encoding: ("Host:", "Transfer-Encoding: chunked\r\nHost:") => 400,
        two_origins: ("Host:", "Origin: http://server.example.com\r\nOrigin: http://server.example.com\r\nHost:") => 400,
        non_ascii_origin: ("Host:", "Origin: http://s\u{e9}rver.example.com\r\nHost:") => 400,
    }

    #[test]
    fn zero_content_length_is_no_body() {
        let text = GOOD.replace("Host:", "Content-Length: 0\r\nHost:");
        assert!(check(&text, &Config::default()).is_ok());
    }

    #[test]
    fn absolute_form_target() {
        let text = GOOD.replace("GET /chat?x=1 ", "GET http://Pi.local:8080/chat?x=1 ");
        let r = req(&text);
        assert_eq!(
            (r.path(), r.query(), r.uri()),
            ("/chat", Some("x=1"), "/chat?x=1")
        );
        // RFC 9112 section 3.2.2: the target's authority, not Host.
        assert_eq!(r.host(), "Pi.local:8080");
        let bare = req(&GOOD.replace("GET /chat?x=1 ", "GET https://pi.local "));
        assert_eq!((bare.path(), bare.host()), ("/", "pi.local"));
    }

    #[test]
    fn host_names_of_this_device_and_configured_ones() {
        let with_host = |host: &str| GOOD.replace("server.example.com", host);
        let default = Config::default();
        for host in [
            "127.0.0.1:9001",
            "192.168.1.20",
            "[::1]:8080",
            "localhost:8080",
            "LOCALHOST.",
            "app.localhost",
            "raspberrypi.local:8080",
            "Pi-2.LOCAL",
        ] {
            assert!(
                validate(&req(&with_host(host)), &default, None).is_ok(),
                "{}",
                host
            );
        }
        for host in [
            "attacker.example:8080",
            "pi.example.com",
            "local",
            "x.local.evil",
        ] {
            let err = validate(&req(&with_host(host)), &default, None).unwrap_err();
            assert_eq!(err.status, 421, "{}", host);
            assert!(err.reason.contains("allowed_hosts"), "{}", err.reason);
        }
        let listed = Config::default().allowed_hosts(vec!["Pi.Example.com".into()]);
        assert!(validate(&req(&with_host("pi.example.com:443")), &listed, None).is_ok());
        assert!(validate(&req(&with_host("other.example")), &listed, None).is_err());
        let any = Config::default().allowed_hosts(vec!["*".into()]);
        assert!(validate(&req(&with_host("other.example")), &any, None).is_ok());
        // The device's own name, as the shell passes it in.
        for host in ["mypi", "MyPi.:8080"] {
            assert!(
                validate(&req(&with_host(host)), &default, Some("mypi")).is_ok(),
                "{}",
                host
            );
            let err = validate(&req(&with_host(host)), &default, Some("otherpi")).unwrap_err();
            assert_eq!(err.status, 421, "{}", host);
        }
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
            false,
        );
        assert!(!String::from_utf8(out).unwrap().contains("Set-Cookie"));
    }
}
