//! The opening request as the handshake hook and handlers see it, and the
//! answers a hook can give.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The most header lines accepted; more get 431.
pub(crate) const MAX_HEADERS: usize = 64;

/// Byte offsets into the request head.
type Span = (u16, u16);

/// The client's opening HTTP request: method, path, query, headers and the
/// peer's address.
///
/// The handshake hook gets it before the upgrade; a handler reads it from
/// [`WebSocket::request`](crate::WebSocket::request). It holds one copy of the
/// request head (a few hundred bytes for a browser).
#[derive(Clone)]
pub struct Request {
    head: Box<[u8]>,
    method: Span,
    /// The target in origin form (`/feed?x=1`), also for an absolute-form
    /// target (`http://pi.local/feed?x=1`).
    target: Span,
    /// The authority of an absolute-form target, else empty.
    authority: Span,
    /// The host the client asked for: see [`Request::host`].
    host: Span,
    /// The client's address as a trusted proxy forwarded it.
    forwarded_for: Option<IpAddr>,
    /// Whether `host` came from a trusted proxy's header.
    forwarded_host: bool,
    minor_version: u8,
    /// Where each header's name and value are, at most `MAX_HEADERS`. On the
    /// heap, sized to the headers actually sent (stack depth: DESIGN.md,
    /// "Memory").
    headers: Box<[(Span, Span)]>,
    peer: Option<SocketAddr>,
}

impl Request {
    /// Copies what httparse found out of the buffer it parsed.
    pub(crate) fn from_parsed(
        buf: &[u8],
        req: &httparse::Request<'_, '_>,
        peer: Option<SocketAddr>,
    ) -> Request {
        let base = buf.as_ptr() as usize;
        let span = |s: &[u8]| -> Span {
            let start = (s.as_ptr() as usize).saturating_sub(base);
            (start as u16, (start + s.len()) as u16)
        };
        let empty: &[u8] = &buf[..0];
        let raw_target = req.path.map_or(empty, str::as_bytes);
        let (authority, target) = split_absolute(raw_target);
        let headers = req
            .headers
            .iter()
            .take(MAX_HEADERS)
            .map(|h| {
                let value = if h.value.is_empty() {
                    span(empty)
                } else {
                    span(h.value)
                };
                (span(h.name.as_bytes()), value)
            })
            .collect();
        let mut request = Request {
            head: buf.into(),
            method: req.method.map_or((0, 0), |m| span(m.as_bytes())),
            target: span(target),
            authority: span(authority),
            host: (0, 0),
            forwarded_for: None,
            forwarded_host: false,
            minor_version: req.version.unwrap_or(0),
            headers,
            peer,
        };
        // RFC 9112 section 3.2.2: an absolute-form target's authority wins
        // over the Host header.
        request.host = if authority.is_empty() {
            let host = request.header_bytes("host").map(trim).unwrap_or(&[]);
            request.span_of(host)
        } else {
            request.authority
        };
        request
    }

    /// Where `s`, a slice of `self.head`, lies in it.
    fn span_of(&self, s: &[u8]) -> Span {
        let base = self.head.as_ptr() as usize;
        let start = (s.as_ptr() as usize).saturating_sub(base);
        if s.is_empty() || start + s.len() > self.head.len() {
            return (0, 0);
        }
        (start as u16, (start + s.len()) as u16)
    }

    /// Believes the forwarding headers if the peer is one of `trusted`: the
    /// client's address from `X-Forwarded-For` (else `Forwarded`'s `for=`),
    /// the host from `X-Forwarded-Host` (else `Forwarded`'s `host=`). Walks
    /// the address list from the nearest hop outwards and stops at the first
    /// address that is not itself a trusted proxy: entries further left were
    /// written by whoever sent the request to that hop, possibly the client.
    pub(crate) fn resolve_proxy(&mut self, trusted: &[IpAddr]) {
        let peer = match self.peer {
            Some(p) => canonical(p.ip()),
            None => return,
        };
        let is_trusted = |ip: IpAddr| trusted.iter().any(|t| canonical(*t) == ip);
        if !is_trusted(peer) {
            return;
        }
        let xff: Vec<&[u8]> = self
            .header_values("x-forwarded-for")
            .flat_map(|v| v.split(|b| *b == b','))
            .map(trim)
            .collect();
        let forwarded: Vec<&[u8]> = self
            .header_values("forwarded")
            .flat_map(|v| v.split(|b| *b == b','))
            .collect();
        let hops: Vec<&[u8]> = if xff.is_empty() {
            forwarded.iter().filter_map(|e| param(e, "for")).collect()
        } else {
            xff
        };
        let mut client = None;
        for hop in hops.iter().rev() {
            match parse_node(hop) {
                Some(ip) => {
                    client = Some(ip);
                    if !is_trusted(ip) {
                        break;
                    }
                }
                // "unknown", an obfuscated name or garbage: no address.
                None => break,
            }
        }
        // The value the nearest proxy wrote is the last one.
        let host = match self.header_values("x-forwarded-host").last() {
            Some(v) => v.rsplit(|b| *b == b',').next().map(trim),
            None => forwarded.iter().rev().find_map(|e| param(e, "host")),
        };
        let host = host.map(|h| self.span_of(h));
        self.forwarded_for = client;
        if let Some(span) = host {
            self.host = span;
            self.forwarded_host = true;
        }
    }

    fn bytes(&self, (start, end): Span) -> &[u8] {
        self.head
            .get(usize::from(start)..usize::from(end))
            .unwrap_or(&[])
    }

    fn text(&self, span: Span) -> &str {
        std::str::from_utf8(self.bytes(span)).unwrap_or("")
    }

    /// The method, such as `GET`.
    pub fn method(&self) -> &str {
        self.text(self.method)
    }

    /// The request target with its query, `/feed?token=abc`, in origin form:
    /// for an absolute-form target (`GET http://pi.local/feed?token=abc`),
    /// the part after the authority.
    pub fn uri(&self) -> &str {
        self.text(self.target)
    }

    /// The path, without the query: `/feed`.
    pub fn path(&self) -> &str {
        let uri = self.uri();
        match uri.split('?').next() {
            Some("") | None => "/",
            Some(path) => path,
        }
    }

    /// The host (and port, if any) the client asked for: the authority of
    /// an absolute-form target, else the Host header; behind a trusted proxy
    /// ([`Config::trusted_proxies`](crate::Config::trusted_proxies)) the
    /// host it forwarded. Empty if there is none.
    pub fn host(&self) -> &str {
        self.text(self.host)
    }

    /// Whether [`host`](Self::host) came from a trusted proxy's header.
    pub(crate) fn host_is_forwarded(&self) -> bool {
        self.forwarded_host
    }

    /// The query string after `?`, if any: `token=abc`.
    pub fn query(&self) -> Option<&str> {
        self.uri().split_once('?').map(|(_, q)| q)
    }

    /// The HTTP minor version: 1 for HTTP/1.1.
    pub(crate) fn minor_version(&self) -> u8 {
        self.minor_version
    }
    /// The path, with `?…` in place of a query: what logs show, since a
    /// query often carries a token.
    pub(crate) fn logged_target(&self) -> LoggedTarget<'_> {
        LoggedTarget(self)
    }

    /// The first header with this name (matched case-insensitively), if its
    /// value is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first header with this name (matched case-insensitively), as bytes.
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every value of every header with this name, in order.
    pub(crate) fn header_values<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Whether a comma-separated header (such as Connection) lists `token`,
    /// across all its lines, case-insensitively.
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.header_values(name)
            .flat_map(|v| v.split(|b| *b == b','))
            .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
    }

    /// All headers, in the order sent, as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.headers
            .iter()
            .map(move |(n, v)| (self.text(*n), self.bytes(*v)))
    }

    /// The address of the socket's other end, when the request came through
    /// a [`Server`](crate::Server): behind a reverse proxy, the proxy's. See
    /// [`client_addr`](Self::client_addr) for the client's.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The client's address. From a peer listed in
    /// [`Config::trusted_proxies`](crate::Config::trusted_proxies), the one it
    /// forwarded in `X-Forwarded-For` (or `Forwarded`); otherwise, and
    /// whenever the proxy forwarded none it could vouch for, the peer's.
    /// Forwarding headers from any other peer are ignored.
    pub fn client_addr(&self) -> Option<IpAddr> {
        self.forwarded_for.or_else(|| self.peer.map(|p| p.ip()))
    }

    /// Whether [`client_addr`](Self::client_addr) came from a trusted proxy.
    pub(crate) fn is_forwarded(&self) -> bool {
        self.forwarded_for.is_some()
    }

    /// Whether this asks for a WebSocket upgrade (its Upgrade header lists
    /// `websocket`). A plain page request does not.
    pub fn is_upgrade(&self) -> bool {
        self.has_token("upgrade", "websocket")
    }

    /// The subprotocols the client offers, in its order of preference.
    pub fn subprotocols(&self) -> impl Iterator<Item = &str> + '_ {
        self.header_values("sec-websocket-protocol")
            .flat_map(|v| v.split(|b| *b == b','))
            .filter_map(|t| std::str::from_utf8(trim(t)).ok())
            .filter(|t| !t.is_empty())
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method())
            .field("target", &self.logged_target().to_string())
            .field("headers", &self.headers.len())
            .field("peer", &self.peer)
            .field("forwarded_for", &self.forwarded_for)
            .finish()
    }
}

/// Splits an absolute-form target (`http://host:port/path?q`) into its
/// authority and the origin-form rest; any other target is all rest.
fn split_absolute(target: &[u8]) -> (&[u8], &[u8]) {
    let schemes: [&[u8]; 4] = [b"http://", b"https://", b"ws://", b"wss://"];
    let after = schemes.iter().find_map(|s| {
        let head = target.get(..s.len())?;
        if head.eq_ignore_ascii_case(s) {
            Some(&target[s.len()..])
        } else {
            None
        }
    });
    match after {
        Some(rest) => {
            let end = rest
                .iter()
                .position(|b| *b == b'/' || *b == b'?')
                .unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        }
        None => (&target[..0], target),
    }
}

/// The value of `name=` in one `Forwarded` element (RFC 7239), unquoted.
fn param<'a>(element: &'a [u8], name: &str) -> Option<&'a [u8]> {
    element.split(|b| *b == b';').find_map(|pair| {
        let pair = trim(pair);
        let eq = pair.iter().position(|b| *b == b'=')?;
        if !trim(&pair[..eq]).eq_ignore_ascii_case(name.as_bytes()) {
            return None;
        }
        let value = trim(&pair[eq + 1..]);
        Some(match value {
            [b'"', inner @ .., b'"'] => inner,
            _ => value,
        })
    })
}

/// An address in a forwarding header: `192.0.2.7`, `192.0.2.7:4711`,
/// `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn parse_node(node: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(trim(node)).ok()?;
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(canonical(addr.ip()));
    }
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<IpAddr>().ok().map(canonical)
}

/// An IPv4-mapped IPv6 address (a dual-stack listener's view of an IPv4
/// peer) as the IPv4 address it is.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Trims optional white space (RFC 9110 OWS) from both ends.
pub(crate) fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A plain HTTP answer from the handshake hook (a page, a redirect, or a
/// refusal): what the hook replies instead of upgrading.
///
/// ```
/// use tinyws::Reply;
/// let page = Reply::html("<h1>hello</h1>");
/// let refusal = Reply::text(401, "token required");
/// assert_eq!((page.status(), refusal.status()), (200, 401));
/// ```
#[derive(Debug, Clone)]
pub struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Body,
}

/// How much of a file body is read and written at a time.
const FILE_CHUNK: usize = 16 * 1024;

/// A response body: bytes held in memory, or a file read as it is sent.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Bytes(Vec<u8>),
    /// The first `len` bytes of the file. Shared so that `Reply` stays
    /// `Clone`; the file is read from its start each time it is sent.
    File {
        file: Arc<File>,
        len: u64,
    },
}

impl Body {
    /// The Content-Length.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Body::Bytes(bytes) => bytes.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    /// The bytes to send with the head, if the body is held in memory.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Body::Bytes(bytes) => bytes,
            Body::File { .. } => &[],
        }
    }

    /// Sends a file body in chunks of [`FILE_CHUNK`], each written before
    /// the next is read, so memory stays at one chunk however large the file
    /// and however slowly the client reads (the stream's write timeout ends
    /// a client that stops). Bytes bodies were sent with the head.
    ///
    /// # Errors
    /// I/O errors; `UnexpectedEof` if the file has shrunk below its
    /// Content-Length, after which the connection must be closed.
    pub(crate) fn send_file<W: Write + ?Sized>(&self, out: &mut W) -> io::Result<()> {
        let (mut file, len) = match self {
            Body::Bytes(_) => return Ok(()),
            Body::File { file, len } => (&**file, *len),
        };
        file.seek(SeekFrom::Start(0))?;
        let mut chunk = vec![0u8; (FILE_CHUNK as u64).min(len) as usize];
        let mut left = len;
        while left > 0 {
            let want = (chunk.len() as u64).min(left) as usize;
            let n = match file.read(&mut chunk[..want]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shorter than its Content-Length",
                    ))
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            out.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        out.flush()
    }
}

impl Reply {
    /// An empty response with this status.
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
        }
    }

    /// 200 with `text/html; charset=utf-8`.
    pub fn html(body: impl Into<Vec<u8>>) -> Reply {
        Reply::new(200)
            .header("Content-Type", "text/html; charset=utf-8")
            .body(body)
    }

    /// This status with a `text/plain` body.
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply::new(status)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(body)
    }

    /// Adds a header. A name or value holding CR or LF is dropped with a
    /// warning when the response is written, so a header can never be
    /// injected; so are `Content-Length`, `Transfer-Encoding` and
    /// `Connection`, which the library writes.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Reply {
        let name = name.into();
        // Written by the library from the body; a second copy would make
        // the answer ambiguous (RFC 9112 section 6.3).
        if ["content-length", "transfer-encoding", "connection"]
            .iter()
            .any(|owned| name.eq_ignore_ascii_case(owned))
        {
            log::warn!(
                "handshake hook: header {} is set by tinyws; not added",
                name
            );
            return self;
        }
        self.headers.push((name, value.into()));
        self
    }

    /// Sets the body. Content-Length is added when written.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = Body::Bytes(body.into());
        self
    }

    /// Sets the body to the first `len` bytes of `file`, read from its start
    /// and sent in 16 KiB chunks as the client takes them: serving a file of
    /// any size holds one chunk in memory, not the file. Content-Length is
    /// `len` (take it from the file's metadata); a HEAD request gets the
    /// headers only and the file is not read. If the file turns out shorter
    /// than `len`, the connection is closed after what there was.
    ///
    /// ```no_run
    /// use tinyws::Reply;
    /// let file = std::fs::File::open("www/video.mp4")?;
    /// let len = file.metadata()?.len();
    /// let page = Reply::new(200).header("Content-Type", "video/mp4").file(file, len);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn file(mut self, file: File, len: u64) -> Reply {
        self.body = Body::File {
            file: Arc::new(file),
            len,
        };
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }
}

/// The handshake hook's "yes": upgrade, optionally with a subprotocol and
/// extra response headers.
#[derive(Debug, Clone, Default)]
pub struct Upgrade {
    pub(crate) subprotocol: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
}

impl Upgrade {
    /// Upgrade with no subprotocol chosen by the hook; the server still
    /// picks one from [`Config::subprotocols`](crate::Config::subprotocols).
    pub fn new() -> Upgrade {
        Upgrade::default()
    }

    /// Chooses this subprotocol, which must be one the client offered.
    #[must_use]
    pub fn subprotocol(mut self, name: impl Into<String>) -> Upgrade {
        self.subprotocol = Some(name.into());
        self
    }

    /// Adds a header to the 101 response. The headers the library owns
    /// (`Upgrade`, `Connection` and every `Sec-WebSocket-*`) are refused
    /// with a warning in the log: added behind the library's back, an
    /// `Sec-WebSocket-Extensions` would make a browser expect compressed
    /// frames the server does not send. Choose a subprotocol with
    /// [`subprotocol`](Self::subprotocol).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Upgrade {
        let name = name.into();
        if is_reserved(&name) {
            log::warn!(
                "handshake hook: header {} is set by tinyws; not added",
                name
            );
            return self;
        }
        self.headers.push((name, value.into()));
        self
    }
}

/// Whether the library alone may send this header in a 101.
fn is_reserved(name: &str) -> bool {
    const PREFIX: &str = "sec-websocket-";
    name.eq_ignore_ascii_case("upgrade")
        || name.eq_ignore_ascii_case("connection")
        || name
            .get(..PREFIX.len())
            .map_or(false, |p| p.eq_ignore_ascii_case(PREFIX))
}

/// What the handshake hook decides for a request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Action {
    /// Go ahead with the WebSocket upgrade.
    Upgrade(Upgrade),
    /// Answer with this plain HTTP response and close: a page for a plain
    /// GET, or a refusal such as 401 or 403 for an upgrade.
    Respond(Reply),
}

impl From<Upgrade> for Action {
    fn from(u: Upgrade) -> Action {
        Action::Upgrade(u)
    }
}

impl From<Reply> for Action {
    fn from(r: Reply) -> Action {
        Action::Respond(r)
    }
}

/// A request's target as logs show it: see [`Request::logged_target`].
pub(crate) struct LoggedTarget<'a>(&'a Request);

impl fmt::Display for LoggedTarget<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.path())?;
        if self.0.query().is_some() {
            f.write_str("?…")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_refuses_the_headers_the_library_owns() {
        let up = Upgrade::new()
            .header("Sec-WebSocket-Extensions", "permessage-deflate")
            .header("sec-websocket-protocol", "chat")
            .header("Upgrade", "h2c")
            .header("CONNECTION", "close")
            .header("X-Served-By", "pi")
            .header("Sec-Fetch", "ok");
        let names: Vec<&str> = up.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["X-Served-By", "Sec-Fetch"]);
    }

    #[test]
    fn reply_refuses_the_headers_the_library_writes() {
        let reply = Reply::new(200)
            .header("Content-Length", "5")
            .header("transfer-encoding", "chunked")
            .header("Connection", "keep-alive")
            .header("Cache-Control", "no-store");
        let names: Vec<&str> = reply.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Cache-Control"]);
    }

    #[test]
    fn file_bodies_are_sent_whole_from_the_start_each_time() {
        let path = std::env::temp_dir().join(format!("tinyws-body-{}", std::process::id()));
        let data: Vec<u8> = (0..FILE_CHUNK * 3 + 7).map(|i| i as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let open = || File::open(&path).unwrap();
        let response = Reply::new(200).file(open(), data.len() as u64);
        assert_eq!(response.body.len(), data.len() as u64);
        assert!(response.body.bytes().is_empty());
        for _ in 0..2 {
            let mut out = Vec::new();
            response.body.send_file(&mut out).unwrap();
            assert!(out == data);
        }
        // A file that shrank below its Content-Length is an error, not a
        // short body passed off as whole.
        let long = Reply::new(200).file(open(), data.len() as u64 + 1);
        let mut out = Vec::new();
        let err = long.body.send_file(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        // Bytes bodies go with the head; send_file adds nothing.
        let mut out = Vec::new();
        Reply::text(200, "hi").body.send_file(&mut out).unwrap();
        assert!(out.is_empty());
        let _ = std::fs::remove_file(&path);
    }
}
