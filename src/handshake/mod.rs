//! The opening handshake (RFC 6455 section 4.2): read the request into a
//! fixed buffer under one deadline, parse it with httparse into a fixed
//! header array, validate it, and answer 101 or an HTTP error with a
//! one-line reason.
//!
//! The parsing, validation and response writing are pure functions over
//! bytes; only [`read_head`] and [`handshake_until`] touch the stream, and
//! only [`this_host_name`] reads a file (the shell calls it, once). The
//! handshake returns what was agreed; its callers build the connection.
//!
//! - [`server`]: parse, validate, answer (pure), and the server's blocking
//!   handshake.
//! - [`client`]: the request a client writes and its check of the 101.
//! - [`url`]: `ws://` and `wss://` URLs.
//! - [`read`]: the one loop that reads a head under one deadline, either role.

pub(crate) mod client;
mod read;
mod server;
pub(crate) mod url;

use base64::Engine as _;

pub(crate) use read::read_head;
pub use server::accept;
pub(crate) use server::*;

/// The largest request head accepted; a larger one gets 431. Browsers send
/// 400–1,500 bytes; this leaves room for cookies.
pub(crate) const MAX_HEAD: usize = 8 * 1024;

const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

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
