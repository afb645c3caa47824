//! INTERNAL. DO NOT USE. Entry points for the fuzz targets in `fuzz/`,
//! compiled only with the `_fuzz` feature and not covered by semver.

use std::time::Duration;

use crate::config::Config;
use crate::error::{Error, HandshakeError, Result};
use crate::message::Message;
use crate::proto::frame::{self, OpCode};
use crate::proto::inbound::{Control, Event, Inbound, Limits};
use crate::proto::mask;
use crate::proto::utf8::Utf8Check;
use crate::proto::Role;

/// The opcodes a frame can carry, by index.
const OPCODES: [OpCode; 6] = OpCode::ALL;

/// A decoded header: (fin, opcode index into 0..6, mask, payload length, header length).
pub type DecodedHeader = (bool, usize, Option<[u8; 4]>, u64, usize);

/// Decodes a client frame header, as a server reads it.
///
/// # Errors
/// The protocol error the header breaks.
pub fn decode_frame_header(buf: &[u8]) -> Result<Option<DecodedHeader>> {
    Ok(
        frame::decode_header(buf, Role::Server, 0)?.map(|(h, used)| {
            let op = OPCODES.iter().position(|o| *o == h.opcode).unwrap_or(0);
            (h.fin, op, h.mask, h.len, used)
        }),
    )
}

/// Encodes a header; `opcode` is an index into 0..6 (taken modulo 6).
pub fn encode_frame_header(fin: bool, opcode: usize, len: u64, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = [0u8; frame::MAX_HEADER];
    let n = frame::encode_header(fin, 0, OPCODES[opcode % 6], len, mask, &mut out);
    out[..n].to_vec()
}

/// Whether an opcode index is a control frame's.
pub fn is_control(opcode: usize) -> bool {
    OPCODES[opcode % 6].is_control()
}

/// XORs `buf` with `mask`, `offset` bytes into the payload.
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4], offset: usize) {
    mask::apply_mask(buf, mask, offset)
}

/// Parses and validates a request head with the default config: `Ok(None)`
/// for "needs more bytes", `Ok(Some(head length))` for an acceptable
/// upgrade, or the refusal.
///
/// # Errors
/// The HTTP refusal the request would get.
pub fn check_request(buf: &[u8]) -> std::result::Result<Option<usize>, HandshakeError> {
    match crate::handshake::parse(buf, None)? {
        None => Ok(None),
        Some((req, n)) => {
            crate::handshake::validate(&req, &Config::default(), None).map(|_| Some(n))
        }
    }
}

/// Feeds text to the incremental UTF-8 check in the given pieces; returns
/// whether it accepted the whole text.
pub fn utf8_pieces(pieces: &[&[u8]]) -> bool {
    let mut check = Utf8Check::default();
    pieces.iter().all(|p| check.feed(p).is_ok()) && check.finish().is_ok()
}

/// Drives the receive machine in one role with arbitrary input and time.
///
/// The first byte picks the role (low bit) and the piece size; the rest is
/// cut into pieces, and after each piece the machine is polled and, every
/// other piece, told that some seconds passed in silence. Keepalive is on.
/// Panics if the machine breaks an invariant: a message over its limit, a
/// control payload over 125 bytes, a second Close, an event after the end,
/// or a Ping before its interval of silence.
pub fn drive_inbound(data: &[u8]) {
    let (&first, rest) = match data.split_first() {
        Some(split) => split,
        None => return,
    };
    let role = if first & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    let piece = usize::from(first >> 1) + 1;
    let limits = Limits {
        max_message: 256,
        max_frame: 128,
        max_fragments: 8,
        ping_interval: Some(Duration::from_secs(30)),
        ping_timeout: Duration::from_secs(20),
        close_timeout: Duration::from_secs(5),
    };
    let mut m = Inbound::new(role, limits);
    let mut ended = false;
    for (i, chunk) in rest.chunks(piece).enumerate() {
        if ended {
            break;
        }
        // Bytes end any silence. Every other piece takes the shell's own
        // path (`buffer`, then `filled`, as many reads as it needs).
        if i % 2 == 0 {
            m.feed(chunk);
            ended = poll_all(&mut m);
        } else {
            let mut left = chunk;
            while !left.is_empty() && !ended {
                let read = match m.buffer() {
                    Some(space) => {
                        let n = space.len().min(left.len());
                        space[..n].copy_from_slice(&left[..n]);
                        Some(n)
                    }
                    None => None,
                };
                match read {
                    Some(n) => {
                        left = &left[n..];
                        ended = match m.filled(n) {
                            Ok(()) => poll_all(&mut m),
                            Err(e) => {
                                assert!(e.close_code().is_some());
                                true
                            }
                        };
                    }
                    // No buffer held (idle): the shell reads a little and feeds it.
                    None => {
                        m.feed(left);
                        left = &[];
                        ended = poll_all(&mut m);
                    }
                }
            }
        }
        if ended {
            break;
        }
        // Silence between pieces: a Ping only after the whole interval.
        if i % 2 == 1 {
            let waited = Duration::from_secs(u64::from(chunk[0] % 40));
            match m.on_silence(waited) {
                Ok(Some(Control::Ping)) => assert!(waited >= Duration::from_secs(30)),
                Ok(None) => {}
                Err(Error::Timeout(_)) => ended = true,
                Err(e) => panic!("silence gave {}", e),
            }
        }
        if chunk[0] == 0xC1 && !ended {
            // Our Close goes out; six seconds later it is overdue.
            m.close_sent();
            if m.close_wait(Duration::from_secs(6)).is_err() {
                ended = true;
            }
        }
    }
}

/// Polls the machine until it needs bytes, checking each event; true once
/// the connection has ended (a Close, or an error).
fn poll_all(m: &mut Inbound) -> bool {
    loop {
        match m.poll() {
            Ok(None) => return false,
            Ok(Some(event)) => match event {
                Event::Message(Message::Text(t)) => assert!(t.len() <= 256),
                Event::Message(Message::Binary(b)) => assert!(b.len() <= 256),
                Event::Message(Message::Pong(p)) | Event::Ping(p) => assert!(p.len() <= 125),
                Event::Message(other) => panic!("unexpected message {:?}", other),
                Event::Close { .. } => {
                    assert!(matches!(m.poll(), Err(Error::Closed)));
                    return true;
                }
            },
            Err(Error::Closed) => panic!("closed without an event or error"),
            Err(e) => {
                assert!(e.close_code().is_some() || matches!(e, Error::Timeout(_)));
                assert!(matches!(m.poll(), Err(Error::Closed)));
                return true;
            }
        }
    }
}

/// Parses a server's answer to an upgrade request with the RFC's sample key
/// that offered the subprotocol `chat`, and checks it as the client does:
/// `Ok(None)` for "needs more bytes", `Ok(Some(head length))` for a 101
/// that passes, [`Error::Refused`] for another status, [`Error::Protocol`]
/// for a bad 101.
///
/// # Errors
/// What the client would report for this answer.
pub fn check_response(buf: &[u8]) -> Result<Option<usize>> {
    use crate::handshake::client::{check, parse, Offer, Refusal};
    let offer = Offer {
        subprotocols: vec!["chat".to_owned()],
        ..Offer::default()
    };
    match parse(buf)? {
        None => Ok(None),
        Some((mut response, n)) if response.status() == 101 => {
            check(&mut response, b"dGhlIHNhbXBsZSBub25jZQ==", &offer)?;
            Ok(Some(n))
        }
        Some((response, n)) => Err(Error::Refused(Box::new(Refusal::new(
            &response,
            buf.get(n..).unwrap_or(&[]),
        )))),
    }
}

/// Parses a `ws://` or `wss://` URL; on success returns the Host header and
/// how the URL is shown in logs.
///
/// # Errors
/// Why the URL was refused.
pub fn parse_url(url: &str) -> std::result::Result<(String, String), &'static str> {
    let url = crate::handshake::url::Url::parse(url).map_err(|e| e.0)?;
    Ok((url.host_header(), url.to_string()))
}

/// Inflates `pieces` as one compressed message, then `again` as the next
/// message on the same connection (context kept if `takeover`), each with a
/// limit of `limit` bytes. Returns each message's output, or `None` where
/// it failed; panics if an output passed `limit + 1` bytes.
#[cfg(feature = "deflate")]
pub fn inflate_pieces(
    pieces: &[&[u8]],
    again: &[u8],
    limit: usize,
    takeover: bool,
) -> [Option<Vec<u8>>; 2] {
    use crate::proto::deflate::Inflater;
    let mut inflater = Inflater::new(!takeover, &crate::deflate_pool::POOL);
    let mut first = Vec::new();
    let mut ok = true;
    for (n, piece) in pieces.iter().enumerate() {
        let last = n + 1 == pieces.len();
        let before = first.len();
        match inflater.inflate(piece, last, &mut first, limit) {
            Ok(added) => assert_eq!(added, first.len() - before),
            Err(_) => {
                ok = false;
                break;
            }
        }
    }
    assert!(first.len() <= limit + 1, "{} > {} + 1", first.len(), limit);
    if !ok {
        return [None, None];
    }
    let mut second = Vec::new();
    let second_ok = inflater.inflate(again, true, &mut second, limit).is_ok();
    assert!(second.len() <= limit + 1);
    [Some(first), if second_ok { Some(second) } else { None }]
}

/// Compresses `msg` as one stateless message (tail stripped).
#[cfg(feature = "deflate")]
pub fn deflate_message(msg: &[u8], level: u8) -> Vec<u8> {
    let mut out = Vec::new();
    assert!(crate::deflate_pool::compress(msg, level, &mut out));
    out
}

/// Compresses `msgs` in order on one connection's sending context, with
/// context takeover or without.
#[cfg(feature = "deflate")]
pub fn deflate_messages(msgs: &[&[u8]], takeover: bool) -> Vec<Vec<u8>> {
    let config = crate::proto::deflate::DeflateConfig {
        context_takeover: takeover,
        ..Default::default()
    };
    let mut kept = None;
    msgs.iter()
        .map(|m| {
            let mut out = Vec::new();
            if takeover {
                assert!(crate::deflate_pool::compress_kept(
                    &mut kept,
                    m,
                    config.level,
                    &mut out
                ));
            } else {
                assert!(crate::deflate_pool::compress(m, config.level, &mut out));
            }
            out
        })
        .collect()
}

/// The server's answer to these `Sec-WebSocket-Extensions` values, or
/// `None` if it declines.
#[cfg(feature = "deflate")]
pub fn deflate_server_accept(values: &[&[u8]], takeover: bool) -> Option<String> {
    let config = crate::proto::deflate::DeflateConfig {
        context_takeover: takeover,
        ..Default::default()
    };
    crate::proto::deflate::server_accept(values.iter().copied(), &config).map(|(_, answer)| answer)
}

/// The client's offer, and its verdict on these answer values: whether
/// deflate was agreed, or why the connection must fail.
#[cfg(feature = "deflate")]
pub fn deflate_client(
    values: &[&[u8]],
    takeover: bool,
) -> (String, std::result::Result<bool, String>) {
    let config = crate::proto::deflate::DeflateConfig {
        context_takeover: takeover,
        ..Default::default()
    };
    let verdict = crate::proto::deflate::client_check(values.iter().copied(), &config)
        .map(|a| a.is_some())
        .map_err(|e| e.to_string());
    (crate::proto::deflate::client_offer(&config), verdict)
}
