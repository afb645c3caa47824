//! The client's side of the opening handshake (RFC 6455 sections 4.1 and
//! 4.2.2): write the upgrade request, then check the server's answer.
//!
//! Writing the request, parsing the answer (httparse, into a fixed header
//! array) and checking it are pure functions over bytes; only [`exchange`]
//! touches the stream, under one deadline, reading the answer with the same
//! loop as the server reads a request ([`read_head`]).

use std::fmt;
use std::io::Write as _;
use std::time::{Duration, Instant};

use base64::Engine as _;

use super::url::Url;
use super::{accept_key, read_head};
use crate::error::{Error, ProtocolError, Result, Timeout};
use crate::proto::mask::MaskKeys;
use crate::proto::DeflateAgreement;
use crate::stream::Stream;
use crate::Role;

/// The most header lines accepted in an answer.
const MAX_HEADERS: usize = 64;
/// How much of a refusal's body is kept as its reason.
pub(crate) const MAX_REASON: usize = 512;
/// The longest Retry-After taken at its word; longer ones are cut to this.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Headers that tinyws writes itself; a user header with one of these names
/// would contradict them, so it is refused.
const OWNED: &[&str] = &[
    "host",
    "upgrade",
    "connection",
    "origin",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "content-length",
    "transfer-encoding",
];

/// What the client asks for beyond the URL.
#[derive(Debug, Clone, Default)]
pub(crate) struct Offer {
    /// Sent as the Origin header, for servers that check it.
    pub(crate) origin: Option<String>,
    /// Offered in this order in Sec-WebSocket-Protocol.
    pub(crate) subprotocols: Vec<String>,
    /// Extra headers, such as `Authorization`.
    pub(crate) headers: Vec<(String, String)>,
    /// permessage-deflate, offered from [`Config::deflate`](crate::Config::deflate).
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))] // offered only with the feature
    pub(crate) deflate: Option<crate::config::Deflate>,
}

impl Offer {
    /// Checks every name and value once, before any connection is made.
    pub(crate) fn validate(&self) -> Result<()> {
        for (name, value) in &self.headers {
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return Err(Error::InvalidInput("header name must be an http token"));
            }
            if OWNED.iter().any(|o| o.eq_ignore_ascii_case(name)) {
                return Err(Error::InvalidInput(
                    "header is written by tinyws: Host, Upgrade, Connection, Origin, \
                     Sec-WebSocket-*, Content-Length and Transfer-Encoding cannot be set",
                ));
            }
            if !is_field_value(value) {
                return Err(Error::InvalidInput(
                    "header value holds a control character (CR, LF or NUL)",
                ));
            }
        }
        if let Some(origin) = &self.origin {
            if origin.is_empty() || !is_field_value(origin) {
                return Err(Error::InvalidInput(
                    "origin must be a non-empty header value",
                ));
            }
        }
        for p in &self.subprotocols {
            if p.is_empty() || !p.bytes().all(is_tchar) {
                return Err(Error::InvalidInput("subprotocol must be an http token"));
            }
        }
        Ok(())
    }
}

/// RFC 9110 section 5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_field_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b >= b' ' && b != 0x7f))
}

/// A fresh Sec-WebSocket-Key: the base64 of 16 unpredictable bytes.
pub(crate) fn new_key() -> [u8; 24] {
    let mut out = [0u8; 24];
    let keys = MaskKeys::new();
    let mut nonce = [0u8; 16];
    for chunk in nonce.chunks_exact_mut(4) {
        chunk.copy_from_slice(&keys.next_key());
    }
    // 16 bytes always encode to exactly 24 base64 characters.
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(nonce, &mut out);
    out
}

/// Writes the upgrade request for `url` with `key`. `offer` must have
/// passed [`Offer::validate`].
pub(crate) fn write_request(out: &mut Vec<u8>, url: &Url, key: &[u8; 24], offer: &Offer) {
    let _ = write!(
        out,
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: ",
        url.resource,
        url.host_header()
    );
    out.extend_from_slice(key);
    out.extend_from_slice(b"\r\nSec-WebSocket-Version: 13\r\n");
    if let Some(origin) = &offer.origin {
        let _ = write!(out, "Origin: {}\r\n", origin);
    }
    if !offer.subprotocols.is_empty() {
        let _ = write!(
            out,
            "Sec-WebSocket-Protocol: {}\r\n",
            offer.subprotocols.join(", ")
        );
    }
    #[cfg(feature = "deflate")]
    if let Some(deflate) = &offer.deflate {
        let _ = write!(
            out,
            "Sec-WebSocket-Extensions: {}\r\n",
            crate::proto::deflate::client_offer(deflate)
        );
    }
    for (name, value) in &offer.headers {
        let _ = write!(out, "{}: {}\r\n", name, value);
    }
    out.extend_from_slice(b"\r\n");
}

/// The server's answer to the opening handshake, as the client sees it: the
/// status, the headers and the subprotocol it chose.
#[derive(Debug, Clone)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    subprotocol: Option<String>,
    deflate: Option<DeflateAgreement>,
}

impl Response {
    /// What permessage-deflate agreement the answer made, if any.
    pub(crate) fn deflate(&self) -> Option<DeflateAgreement> {
        self.deflate
    }

    /// The HTTP status: 101 for an upgraded connection.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first header with this name (matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every header in order, as `(name, value)`; values that were not
    /// UTF-8 have their bad bytes replaced.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The subprotocol the server chose among those offered, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// Every value of every header with this name, split at commas and
    /// trimmed, empty items left out.
    fn tokens<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }
}

/// Parses a complete answer head from `buf`. `Ok(None)` means httparse
/// wants more bytes.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Response, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => {
            let headers = parsed
                .headers
                .iter()
                .map(|h| {
                    let value = String::from_utf8_lossy(h.value).into_owned();
                    (h.name.to_owned(), value)
                })
                .collect();
            let response = Response {
                status: parsed.code.unwrap_or(0),
                headers,
                subprotocol: None,
                deflate: None,
            };
            Ok(Some((response, n)))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err(Error::Protocol(ProtocolError::MalformedResponse)),
    }
}

/// Checks a 101 against RFC 6455 section 4.1 (the client's duties 1 to 6)
/// and records the chosen subprotocol. A status other than 101 is not
/// checked here: see [`Refusal`].
pub(crate) fn check(response: &mut Response, key: &[u8; 24], offer: &Offer) -> Result<()> {
    let fail = |p| Err(Error::Protocol(p));
    if !response
        .tokens("upgrade")
        .any(|t| t.eq_ignore_ascii_case("websocket"))
    {
        return fail(ProtocolError::MissingUpgrade);
    }
    if !response
        .tokens("connection")
        .any(|t| t.eq_ignore_ascii_case("upgrade"))
    {
        return fail(ProtocolError::MissingConnectionUpgrade);
    }
    let expected = accept_key(std::str::from_utf8(key).unwrap_or(""));
    let mut accepts = response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-accept"));
    match (accepts.next(), accepts.next()) {
        (Some((_, v)), None) if v.trim() == expected => {}
        _ => return fail(ProtocolError::BadAccept),
    }
    // Only permessage-deflate is ever offered; an answer naming anything
    // else, or breaking RFC 7692 section 7.1, fails the connection (RFC
    // 7692 section 5.1).
    #[cfg(feature = "deflate")]
    if let Some(deflate) = &offer.deflate {
        let values = response
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-extensions"))
            .map(|(_, v)| v.as_bytes());
        response.deflate = crate::proto::deflate::client_check(values, deflate).map_err(|e| {
            log::debug!("permessage-deflate answer refused: {}", e);
            Error::Protocol(ProtocolError::UnofferedExtension)
        })?;
    }
    if response.deflate.is_none() && response.tokens("sec-websocket-extensions").next().is_some() {
        return fail(ProtocolError::UnofferedExtension);
    }
    let subprotocol = {
        let mut chosen = response.tokens("sec-websocket-protocol");
        match (chosen.next(), chosen.next()) {
            (None, _) => None,
            (Some(p), None) if offer.subprotocols.iter().any(|o| o == p) => Some(p.to_owned()),
            _ => return fail(ProtocolError::UnofferedSubprotocol),
        }
    };
    response.subprotocol = subprotocol;
    Ok(())
}

/// A refused opening handshake, as the client received it: the status, the
/// start of the body, and how long the server asked us to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    status: u16,
    reason: String,
    retry_after: Option<Duration>,
}

impl Refusal {
    pub(crate) fn new(response: &Response, body: &[u8]) -> Refusal {
        let body = &body[..body.len().min(MAX_REASON)];
        let mut reason = String::from_utf8_lossy(body).trim().to_owned();
        // Each invalid byte became a 3-byte U+FFFD: cut again, on a char.
        if reason.len() > MAX_REASON {
            let mut end = MAX_REASON;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
        }
        Refusal {
            status: response.status,
            reason,
            retry_after: response.header("retry-after").and_then(parse_retry_after),
        }
    }

    /// The HTTP status, such as 403 or 503.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The body's first 512 bytes, trimmed: tinyws's own servers put a
    /// one-line reason there.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The Retry-After the server sent, in seconds form, capped at one
    /// hour. A date form is ignored.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "handshake refused by the server: {}", self.status)?;
        if !self.reason.is_empty() {
            let line = self.reason.lines().next().unwrap_or("");
            write!(f, " {}", line)?;
        }
        if let Some(after) = self.retry_after {
            write!(f, " (retry after {} s)", after.as_secs())?;
        }
        Ok(())
    }
}

/// Retry-After as delay-seconds (RFC 9110 section 10.2.3).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs = value.parse::<u64>().unwrap_or(u64::MAX);
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// Sends `request` and reads the answer under `deadline`. A 101 comes back
/// with any bytes that followed its head (the server's first frames); any
/// other status becomes [`Error::Refused`] once its body (up to
/// [`MAX_REASON`] bytes) has arrived or the server closed.
pub(crate) fn exchange<S: Stream>(
    stream: &mut S,
    request: &[u8],
    deadline: Instant,
) -> Result<(Response, Vec<u8>)> {
    let remaining = |deadline: Instant| {
        let now = Instant::now();
        if now >= deadline {
            Err(Error::Timeout(Timeout::Handshake))
        } else {
            Ok(deadline - now)
        }
    };
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    stream
        .write_all(request)
        .map_err(|e| Error::from_io(e, Timeout::Handshake))?;
    let head = read_head(stream, deadline, Role::Client, parse)?;
    if head.head.status == 101 {
        return Ok((head.head, head.rest));
    }
    let body = read_body(stream, &head.head, head.rest, deadline);
    Err(Error::Refused(Box::new(Refusal::new(&head.head, &body))))
}

/// Reads a refusal's body, up to its Content-Length and at most
/// [`MAX_REASON`] bytes, until the server closes or the deadline passes:
/// whatever arrived is the reason, and nothing here is an error.
fn read_body<S: Stream>(
    stream: &mut S,
    response: &Response,
    mut body: Vec<u8>,
    deadline: Instant,
) -> Vec<u8> {
    let wanted = response
        .header("content-length")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(MAX_REASON)
        .min(MAX_REASON);
    let mut chunk = [0u8; 256];
    while body.len() < wanted {
        let now = Instant::now();
        if now >= deadline || stream.set_read_timeout(Some(deadline - now)).is_err() {
            break;
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    body.truncate(wanted);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8; 24] = b"dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn offer(subprotocols: &[&str]) -> Offer {
        Offer {
            subprotocols: subprotocols.iter().map(|s| s.to_string()).collect(),
            ..Offer::default()
        }
    }

    fn request(url: &str, offer: &Offer) -> String {
        let mut out = Vec::new();
        write_request(&mut out, &Url::parse(url).unwrap(), KEY, offer);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn request_for_a_plain_url() {
        assert_eq!(
            request("ws://example.com/chat?room=1", &Offer::default()),
            "GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
    }

    #[test]
    fn request_with_everything() {
        let offer = Offer {
            origin: Some("http://pi.local".into()),
            subprotocols: vec!["v2.feed".into(), "v1.feed".into()],
            headers: vec![("Authorization".into(), "Bearer abc".into())],
            deflate: None,
        };
        let text = request("ws://[::1]:9001/", &offer);
        assert!(text.starts_with("GET / HTTP/1.1\r\nHost: [::1]:9001\r\n"));
        assert!(text.contains("\r\nOrigin: http://pi.local\r\n"));
        assert!(text.contains("\r\nSec-WebSocket-Protocol: v2.feed, v1.feed\r\n"));
        assert!(text.ends_with("\r\nAuthorization: Bearer abc\r\n\r\n"));
    }

    #[test]
    fn keys_are_fresh_base64_of_16_bytes() {
        let (a, b) = (new_key(), new_key());
        assert_ne!(a, b);
        let decoded = base64::engine::general_purpose::STANDARD.decode(a).unwrap();
        assert_eq!(decoded.len(), 16);
    }

    macro_rules! offers {
        ($($name:ident: $offer:expr => $ok:expr;)*) => {
            $(
                #[test]
                fn $name() {
                    let offer: Offer = $offer;
                    match (offer.validate(), $ok) {
                        (Ok(()), true) => {}
                        (Err(Error::InvalidInput(_)), false) => {}
                        (got, _) => panic!("{:?}", got),
                    }
                }
            )*
        };
    }

    fn header(name: &str, value: &str) -> Offer {
        Offer {
            headers: vec![(name.into(), value.into())],
            ..Offer::default()
        }
    }

    offers! {
        plain_header: header("Authorization", "Bearer x") => true;
        owned_host: header("Host", "evil") => false;
        owned_case: header("sec-websocket-KEY", "x") => false;
        owned_origin: header("Origin", "x") => false;
        owned_length: header("Content-Length", "0") => false;
        empty_name: header("", "x") => false;
        name_with_space: header("X Y", "x") => false;
        name_with_colon: header("X:Y", "x") => false;
        value_with_crlf: header("X-A", "a\r\nHost: evil") => false;
        value_with_nul: header("X-A", "a\0") => false;
        value_with_tab: header("X-A", "a\tb") => true;
        good_subprotocols: offer(&["chat", "v1.feed"]) => true;
        subprotocol_with_comma: offer(&["a,b"]) => false;
        empty_subprotocol: offer(&[""]) => false;
        origin_with_lf: Offer { origin: Some("a\nb".into()), ..Offer::default() } => false;
    }

    fn answer(head: &str) -> Response {
        let (response, len) = parse(head.as_bytes()).unwrap().unwrap();
        assert_eq!(len, head.len());
        response
    }

    fn good(extra: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n{}\r\n",
            ACCEPT, extra
        )
    }

    macro_rules! answers {
        ($($name:ident: $head:expr, $offered:expr => $result:pat,)*) => {
            $(
                #[test]
                fn $name() {
                    let mut response = answer(&$head);
                    let result = check(&mut response, KEY, &offer($offered))
                        .map(|()| response.subprotocol().map(str::to_owned));
                    assert!(matches!(result, $result), "{:?}", result);
                }
            )*
        };
    }

    answers! {
        accepted: good(""), &[] => Ok(None),
        any_case: format!("HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: UPGRADE\r\n\
            sec-websocket-accept: {}\r\n\r\n", ACCEPT), &[] => Ok(None),
        connection_list: good("").replace("Connection: Upgrade", "Connection: keep-alive, Upgrade"), &[] => Ok(None),
        chosen_subprotocol: good("Sec-WebSocket-Protocol: v1.feed\r\n"), &["v2.feed", "v1.feed"] => Ok(Some(_)),
        no_subprotocol_chosen: good(""), &["chat"] => Ok(None),
        unoffered_subprotocol: good("Sec-WebSocket-Protocol: other\r\n"), &["chat"]
            => Err(Error::Protocol(ProtocolError::UnofferedSubprotocol)),
        subprotocol_when_none_offered: good("Sec-WebSocket-Protocol: chat\r\n"), &[]
            => Err(Error::Protocol(ProtocolError::UnofferedSubprotocol)),
        two_subprotocols: good("Sec-WebSocket-Protocol: a, b\r\n"), &["a", "b"]
            => Err(Error::Protocol(ProtocolError::UnofferedSubprotocol)),
        unoffered_extension: good("Sec-WebSocket-Extensions: permessage-deflate\r\n"), &[]
            => Err(Error::Protocol(ProtocolError::UnofferedExtension)),
        bad_accept: good("").replace(ACCEPT, "AAAAAAAAAAAAAAAAAAAAAAAAAAA="), &[]
            => Err(Error::Protocol(ProtocolError::BadAccept)),
        missing_accept: good("").replace(&format!("Sec-WebSocket-Accept: {}\r\n", ACCEPT), ""), &[]
            => Err(Error::Protocol(ProtocolError::BadAccept)),
        repeated_accept: good(&format!("Sec-WebSocket-Accept: {}\r\n", ACCEPT)), &[]
            => Err(Error::Protocol(ProtocolError::BadAccept)),
        missing_upgrade: good("").replace("Upgrade: websocket\r\n", ""), &[]
            => Err(Error::Protocol(ProtocolError::MissingUpgrade)),
        wrong_upgrade: good("").replace("Upgrade: websocket", "Upgrade: h2c"), &[]
            => Err(Error::Protocol(ProtocolError::MissingUpgrade)),
        missing_connection: good("").replace("Connection: Upgrade\r\n", ""), &[]
            => Err(Error::Protocol(ProtocolError::MissingConnectionUpgrade)),
    }

    #[test]
    fn malformed_and_partial_answers() {
        assert!(matches!(parse(b"HTTP/1.1 101 Swi"), Ok(None)));
        assert!(matches!(
            parse(b"SMTP ready\r\n\r\n"),
            Err(Error::Protocol(ProtocolError::MalformedResponse))
        ));
        let mut many = String::from("HTTP/1.1 101 OK\r\n");
        for i in 0..=MAX_HEADERS {
            many.push_str(&format!("X-{}: y\r\n", i));
        }
        many.push_str("\r\n");
        assert!(matches!(
            parse(many.as_bytes()),
            Err(Error::Protocol(ProtocolError::MalformedResponse))
        ));
    }

    macro_rules! refusals {
        ($($name:ident: $head:expr, $body:expr => ($status:expr, $reason:expr, $after:expr);)*) => {
            $(
                #[test]
                fn $name() {
                    let refusal = Refusal::new(&answer($head), $body);
                    assert_eq!(refusal.status(), $status);
                    assert_eq!(refusal.reason(), $reason);
                    assert_eq!(refusal.retry_after(), $after.map(Duration::from_secs));
                }
            )*
        };
    }

    refusals! {
        forbidden: "HTTP/1.1 403 Forbidden\r\nContent-Length: 19\r\n\r\n", b"origin not allowed\n"
            => (403, "origin not allowed", None);
        busy: "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\n", b"too many connections\n"
            => (503, "too many connections", Some(5));
        date_form_ignored: "HTTP/1.1 503 Busy\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n", b""
            => (503, "", None);
        huge_retry_after_capped: "HTTP/1.1 429 Slow\r\nRetry-After: 99999999999999999999999\r\n\r\n", b""
            => (429, "", Some(3600));
        long_body_cut: "HTTP/1.1 404 Not Found\r\n\r\n", &[b'x'; 2000]
            => (404, &"x".repeat(MAX_REASON)[..], None);
        binary_body: "HTTP/1.1 400 Bad\r\n\r\n", &[0xff, b'a']
            => (400, "\u{fffd}a", None);
        invalid_utf8_stays_bounded: "HTTP/1.1 400 Bad\r\n\r\n", &[0xff; 600]
            => (400, &"\u{fffd}".repeat(MAX_REASON / 3)[..], None);
    }

    #[test]
    fn refusal_display() {
        let refusal = Refusal::new(
            &answer("HTTP/1.1 503 Busy\r\nRetry-After: 5\r\n\r\n"),
            b"too many connections\nmore",
        );
        assert_eq!(
            Error::Refused(Box::new(refusal)).to_string(),
            "handshake refused by the server: 503 too many connections (retry after 5 s)"
        );
    }
}
