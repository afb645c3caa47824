//! INTERNAL. DO NOT USE. Entry points for the fuzz targets in `fuzz/`,
//! compiled only with the `_fuzz` feature and not covered by semver.

use crate::config::Config;
use crate::error::{HandshakeError, Result};
use crate::frame::{self, OpCode};
use crate::message::Utf8Check;

/// The opcodes a frame can carry, by index.
const OPCODES: [OpCode; 6] = OpCode::ALL;

/// A decoded header: (fin, opcode index into 0..6, mask, payload length, header length).
pub type DecodedHeader = (bool, usize, Option<[u8; 4]>, u64, usize);

/// Decodes a client frame header.
///
/// # Errors
/// The protocol error the header breaks.
pub fn decode_frame_header(buf: &[u8]) -> Result<Option<DecodedHeader>> {
    Ok(frame::decode_header(buf)?.map(|(h, used)| {
        let op = OPCODES.iter().position(|o| *o == h.opcode).unwrap_or(0);
        (h.fin, op, h.mask, h.len, used)
    }))
}

/// Encodes a header; `opcode` is an index into 0..6 (taken modulo 6).
pub fn encode_frame_header(fin: bool, opcode: usize, len: u64, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = [0u8; frame::MAX_HEADER];
    let n = frame::encode_header(fin, OPCODES[opcode % 6], len, mask, &mut out);
    out[..n].to_vec()
}

/// Whether an opcode index is a control frame's.
pub fn is_control(opcode: usize) -> bool {
    OPCODES[opcode % 6].is_control()
}

/// XORs `buf` with `mask`, `offset` bytes into the payload.
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4], offset: usize) {
    frame::apply_mask(buf, mask, offset)
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
        Some((req, n)) => crate::handshake::validate(&req, &Config::default()).map(|_| Some(n)),
    }
}

/// Feeds text to the incremental UTF-8 check in the given pieces; returns
/// whether it accepted the whole text.
pub fn utf8_pieces(pieces: &[&[u8]]) -> bool {
    let mut check = Utf8Check::default();
    pieces.iter().all(|p| check.feed(p).is_ok()) && check.finish().is_ok()
}
