//! The one blocking loop that reads an HTTP head, a request (server) or a
//! response (client), under one deadline.

use std::time::Instant;

use super::MAX_HEAD;
use crate::error::{Error, HandshakeError, ProtocolError, Result, Timeout};
use crate::stream::Stream;
use crate::Role;

/// An HTTP head (a request or a response) and whatever followed it in the
/// same reads.
pub(crate) struct Head<T> {
    pub(crate) head: T,
    /// Bytes after the head: a pipelined first frame, never lost. They stay
    /// in the buffer the head was read into, whose room the 101 reuses.
    pub(crate) rest: Vec<u8>,
}

/// Reads until a complete HTTP head has arrived, all under one deadline
/// however the peer trickles it, for either role: `parse` turns the bytes so
/// far into a head and its length, or `None` for "more bytes". A server
/// parses only when a blank line has arrived, so a client trickling its
/// request costs linear, not quadratic, work. `role` is the reader's: a server refuses a TLS
/// ClientHello and answers a head over [`MAX_HEAD`] with 431; a client
/// calls such a response malformed.
pub(crate) fn read_head<S: Stream + ?Sized, T>(
    stream: &mut S,
    deadline: Instant,
    role: Role,
    parse: impl Fn(&[u8]) -> Result<Option<(T, usize)>>,
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
        // A TLS record header: content type 22 (handshake), version 3.x.
        // No HTTP request starts with byte 0x16.
        if role == Role::Server && buf[0] == 0x16 && (filled < 2 || buf[1] == 0x03) {
            if filled < 2 {
                continue;
            }
            return Err(Error::Handshake(TLS_ON_PLAIN_PORT));
        }
        let window = &buf[scan_from..filled];
        let blank_line =
            window.windows(2).any(|w| w == b"\n\n") || window.windows(3).any(|w| w == b"\n\r\n");
        // A client parses every read: an answer head is small, and a peer
        // that is not an HTTP server (a banner, then silence) is refused at
        // once instead of at the deadline.
        if blank_line || role == Role::Client {
            if let Some((head, len)) = parse(&buf[..filled])? {
                buf.copy_within(len..filled, 0);
                buf.truncate(filled - len);
                return Ok(Head { head, rest: buf });
            }
        }
        if filled == buf.len() {
            return Err(match role {
                Role::Server => {
                    Error::Handshake(HandshakeError::new(431, "request header too large"))
                }
                Role::Client => Error::Protocol(ProtocolError::MalformedResponse),
            });
        }
    }
}

/// A TLS ClientHello on the plain port: closed with no answer, since a
/// plaintext HTTP response would only confuse the TLS client.
pub(super) const TLS_ON_PLAIN_PORT: HandshakeError = HandshakeError::new(
    400,
    "TLS handshake on a plain port: use ws:// or enable TLS",
);
