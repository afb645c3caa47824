//! permessage-deflate (RFC 7692): the negotiation for both roles, and
//! message compression and bounded, incremental decompression.
//!
//! Out of scope: I/O, frames and the RSV1 rule (the inbound machine and the
//! outbound preparation own those), and deciding which messages to compress
//! beyond [`DeflateConfig::threshold`].
//!
//! The backend is `miniz_oxide` (DESIGN.md, "permessage-deflate backend"):
//! pure Rust, no C compiler, builds with Rust 1.63. Its compressor always
//! uses a 15-bit (32 KiB) window, so a server declines offers of
//! `server_max_window_bits` below 15 and a client never offers
//! `client_max_window_bits`; its decompressor reads any window size.
//!
//! Memory. Without context takeover (the default) no (de)compressor lives
//! in a connection between messages. The core keeps no states of its own
//! and takes no lock: the shell owns the pool (`deflate_pool.rs`), lends a
//! [`Compressor`] for each message it compresses, and hands each
//! [`Inflater`] the [`Decompressors`] it borrows from. A decompressor is
//! held from the first frame of a compressed message to its last. With
//! context takeover each connection owns, once it has used them, one
//! compressor and one decompressor: 294 + 42 KiB (DESIGN.md,
//! "permessage-deflate").

use std::fmt;

use miniz_oxide::deflate::core::CompressorOxide;
use miniz_oxide::deflate::stream::deflate;
use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::{DataFormat, MZFlush};

/// The extension's name in `Sec-WebSocket-Extensions`.
pub(crate) const NAME: &str = "permessage-deflate";

/// The window of every compressor here, in bits. `miniz_oxide`'s dictionary
/// is fixed at 32 KiB.
const WINDOW_BITS: u8 = 15;

/// The empty stored block a sync flush ends with; RFC 7692 section 7.2.1
/// strips it from each message and section 7.2.2 appends it again.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// How much inflated output one step produces at most: the most a message
/// can overshoot its limit by before the overshoot is noticed. In practice
/// the output never passes `limit + 1` (see [`Inflater::inflate`]).
pub(crate) const INFLATE_STEP: usize = 16 * 1024;

/// How a connection uses permessage-deflate: the public
/// [`Deflate`](crate::Deflate) settings.
pub(crate) use crate::config::Deflate as DeflateConfig;

impl DeflateConfig {
    /// Whether a message of `len` bytes should be compressed.
    pub(crate) fn compresses(&self, len: usize) -> bool {
        len >= self.threshold
    }
}

// ---------------------------------------------------------------------------
// The header grammar (RFC 6455 section 9.1, RFC 7230 section 7).

/// One extension of a `Sec-WebSocket-Extensions` list with its parameters
/// (quoted values unquoted).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Extension {
    pub(crate) name: String,
    pub(crate) params: Vec<(String, Option<String>)>,
}

/// Why a `Sec-WebSocket-Extensions` value or a deflate answer was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NegotiationError {
    /// The header does not follow the extension-list grammar.
    Syntax(&'static str),
    /// A client got an extension it did not offer.
    Unoffered(String),
    /// A client got `permessage-deflate` more than once.
    Repeated,
    /// A parameter is unknown, repeated, or has a bad value (RFC 7692
    /// section 7.1).
    Param(String),
    /// The server left out `server_no_context_takeover`, which was offered.
    MissingNoContextTakeover,
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NegotiationError::Syntax(why) => write!(f, "bad extension header: {why}"),
            NegotiationError::Unoffered(name) => write!(f, "unoffered extension: {name}"),
            NegotiationError::Repeated => write!(f, "permessage-deflate answered twice"),
            NegotiationError::Param(p) => write!(f, "bad permessage-deflate parameter: {p}"),
            NegotiationError::MissingNoContextTakeover => {
                f.write_str("answer lacks server_no_context_takeover")
            }
        }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A cursor over one header value.
struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Lexer<'a> {
    fn skip_ows(&mut self) {
        while self.i < self.s.len() && (self.s[self.i] == b' ' || self.s[self.i] == b'\t') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn token(&mut self) -> Option<&'a str> {
        let start = self.i;
        while self.i < self.s.len() && is_tchar(self.s[self.i]) {
            self.i += 1;
        }
        // tchar is ASCII, so this cannot fail.
        std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .filter(|t| !t.is_empty())
    }

    /// A quoted-string, the opening quote already seen, unescaped.
    fn quoted(&mut self) -> Result<String, NegotiationError> {
        let mut out = String::new();
        self.i += 1;
        loop {
            match self.peek() {
                None => return Err(NegotiationError::Syntax("unterminated quoted string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c) if c == b'\t' || (0x20..0x7f).contains(&c) => out.push(c as char),
                        _ => return Err(NegotiationError::Syntax("bad quoted pair")),
                    }
                    self.i += 1;
                }
                Some(c) if c == b'\t' || (0x20..0x7f).contains(&c) => {
                    out.push(c as char);
                    self.i += 1;
                }
                Some(_) => return Err(NegotiationError::Syntax("bad byte in quoted string")),
            }
        }
    }
}

/// Parses one `Sec-WebSocket-Extensions` value into its extensions, in
/// order. Empty list elements are skipped, as RFC 7230 section 7 asks.
/// Names and parameter names are lowercased (they are tokens compared
/// case-insensitively).
pub(crate) fn parse_extensions(value: &[u8]) -> Result<Vec<Extension>, NegotiationError> {
    let mut lx = Lexer { s: value, i: 0 };
    let mut out = Vec::new();
    loop {
        lx.skip_ows();
        match lx.peek() {
            None => return Ok(out),
            Some(b',') => {
                lx.i += 1;
                continue;
            }
            Some(_) => {}
        }
        let name = lx
            .token()
            .ok_or(NegotiationError::Syntax("expected an extension name"))?;
        let mut ext = Extension {
            name: name.to_ascii_lowercase(),
            params: Vec::new(),
        };
        loop {
            lx.skip_ows();
            match lx.peek() {
                None | Some(b',') => break,
                Some(b';') => lx.i += 1,
                Some(_) => return Err(NegotiationError::Syntax("expected ';' or ','")),
            }
            lx.skip_ows();
            let key = lx
                .token()
                .ok_or(NegotiationError::Syntax("expected a parameter name"))?;
            lx.skip_ows();
            let value = if lx.peek() == Some(b'=') {
                lx.i += 1;
                lx.skip_ows();
                if lx.peek() == Some(b'"') {
                    Some(lx.quoted()?)
                } else {
                    let v = lx
                        .token()
                        .ok_or(NegotiationError::Syntax("expected a parameter value"))?;
                    Some(v.to_string())
                }
            } else {
                None
            };
            ext.params.push((key.to_ascii_lowercase(), value));
        }
        out.push(ext);
    }
}

/// The parameters of one `permessage-deflate` offer or answer, checked
/// against RFC 7692 section 7.1: no unknown or repeated parameter, window
/// bits written as 8 to 15, the takeover flags without a value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value ("the client can limit it").
    client_max_window_bits: Option<Option<u8>>,
}

fn window_bits(v: &str) -> Option<u8> {
    // RFC 7692 section 7.1.2.1: 1*DIGIT without leading zeros, 8 to 15.
    match v.parse::<u8>() {
        Ok(n) if (8..=15).contains(&n) && !v.starts_with('0') && v.len() <= 2 => Some(n),
        _ => None,
    }
}

impl Params {
    fn parse(ext: &Extension) -> Result<Params, NegotiationError> {
        let mut p = Params::default();
        let mut seen = [false; 4];
        for (key, value) in &ext.params {
            let bad = || NegotiationError::Param(key.clone());
            let (slot, ok) = match key.as_str() {
                "server_no_context_takeover" => {
                    p.server_no_context_takeover = true;
                    (0, value.is_none())
                }
                "client_no_context_takeover" => {
                    p.client_no_context_takeover = true;
                    (1, value.is_none())
                }
                "server_max_window_bits" => {
                    p.server_max_window_bits = value.as_deref().and_then(window_bits);
                    (2, p.server_max_window_bits.is_some())
                }
                "client_max_window_bits" => match value {
                    None => {
                        p.client_max_window_bits = Some(None);
                        (3, true)
                    }
                    Some(v) => {
                        let bits = window_bits(v);
                        p.client_max_window_bits = Some(bits);
                        (3, bits.is_some())
                    }
                },
                _ => return Err(bad()),
            };
            if !ok || seen[slot] {
                return Err(bad());
            }
            seen[slot] = true;
        }
        Ok(p)
    }
}

/// What both ends agreed on. Window bits are 15 when not limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Agreement {
    pub(crate) server_no_context_takeover: bool,
    pub(crate) client_no_context_takeover: bool,
    pub(crate) server_max_window_bits: u8,
    pub(crate) client_max_window_bits: u8,
}

impl Agreement {
    /// Whether the side that sends as `server` must reset its compressor
    /// after each message.
    pub(crate) fn send_reset(&self, server: bool) -> bool {
        if server {
            self.server_no_context_takeover
        } else {
            self.client_no_context_takeover
        }
    }

    /// Whether the side that receives as `server` resets its decompressor
    /// after each message: the peer resets its compressor.
    pub(crate) fn receive_reset(&self, server: bool) -> bool {
        self.send_reset(!server)
    }

    /// The server's `Sec-WebSocket-Extensions` answer.
    pub(crate) fn response(&self, echo_server_bits: bool) -> String {
        let mut s = String::from(NAME);
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if echo_server_bits {
            s.push_str("; server_max_window_bits=");
            s.push_str(&self.server_max_window_bits.to_string());
        }
        s
    }
}

/// Server role: picks the first `permessage-deflate` offer in the
/// `Sec-WebSocket-Extensions` values (in header order) that `config` can
/// honour, and returns what was agreed with the answer to send. `None`
/// declines: no offer, none acceptable, or a header that does not parse
/// (declining is always allowed, failing the handshake is not needed).
///
/// An offer is declined if it breaks RFC 7692 section 7.1 or asks for
/// `server_max_window_bits` below 15. The answer never holds a parameter
/// the offer rules out: `server_max_window_bits` only when offered,
/// `client_max_window_bits` never (the decompressor reads any window).
pub(crate) fn server_accept<'a, I>(values: I, config: &DeflateConfig) -> Option<(Agreement, String)>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    for value in values {
        let exts = match parse_extensions(value) {
            Ok(e) => e,
            Err(_) => continue,
        };
        for ext in exts.iter().filter(|e| e.name == NAME) {
            let offer = match Params::parse(ext) {
                Ok(p) => p,
                Err(_) => continue,
            };
            if offer
                .server_max_window_bits
                .map_or(false, |b| b < WINDOW_BITS)
            {
                continue;
            }
            let agreed = Agreement {
                // RFC 7692 section 7.1.1: the server may add either one.
                server_no_context_takeover: offer.server_no_context_takeover
                    || !config.context_takeover,
                client_no_context_takeover: offer.client_no_context_takeover
                    || !config.context_takeover,
                server_max_window_bits: WINDOW_BITS,
                client_max_window_bits: match offer.client_max_window_bits {
                    Some(Some(b)) => b,
                    _ => 15,
                },
            };
            let answer = agreed.response(offer.server_max_window_bits.is_some());
            return Some((agreed, answer));
        }
    }
    None
}

/// Client role: the `Sec-WebSocket-Extensions` offer. Never
/// `client_max_window_bits`: this compressor cannot shrink its window.
pub(crate) fn client_offer(config: &DeflateConfig) -> String {
    if config.context_takeover {
        NAME.to_string()
    } else {
        format!("{NAME}; server_no_context_takeover; client_no_context_takeover")
    }
}

/// Client role: checks the server's `Sec-WebSocket-Extensions` values
/// against [`client_offer`]. `Ok(None)`: the server declined.
///
/// # Errors
/// A malformed header, an extension other than `permessage-deflate`, more
/// than one answer, a bad or unoffered parameter (`client_max_window_bits`,
/// which was not offered), or a missing `server_no_context_takeover` that
/// was offered. RFC 7692 section 5.1 says to fail the connection then.
pub(crate) fn client_check<'a, I>(
    values: I,
    config: &DeflateConfig,
) -> Result<Option<Agreement>, NegotiationError>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut agreed = None;
    for value in values {
        for ext in parse_extensions(value)? {
            if ext.name != NAME {
                return Err(NegotiationError::Unoffered(ext.name));
            }
            if agreed.is_some() {
                return Err(NegotiationError::Repeated);
            }
            let p = Params::parse(&ext)?;
            if p.client_max_window_bits.is_some() {
                return Err(NegotiationError::Param("client_max_window_bits".into()));
            }
            if !config.context_takeover && !p.server_no_context_takeover {
                return Err(NegotiationError::MissingNoContextTakeover);
            }
            agreed = Some(Agreement {
                server_no_context_takeover: p.server_no_context_takeover,
                client_no_context_takeover: p.client_no_context_takeover
                    || !config.context_takeover,
                server_max_window_bits: p.server_max_window_bits.unwrap_or(15),
                client_max_window_bits: WINDOW_BITS,
            });
        }
    }
    Ok(agreed)
}

// ---------------------------------------------------------------------------
// Compression.

/// A compressor: `miniz_oxide`'s state, 294 KiB on the heap. The core keeps
/// none: the shell owns them (a few shared ones for messages compressed
/// alone, one per connection with context takeover) and runs
/// [`Compressor::compress`]. That code path is deep (about 10 KiB of
/// stack), so the shell runs it off connection threads (DESIGN.md,
/// "permessage-deflate").
pub(crate) struct Compressor(Box<CompressorOxide>);

impl fmt::Debug for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Compressor")
    }
}

impl Compressor {
    /// A new compressor at `level` (1 to 9). `miniz_oxide` may build it by
    /// value (a 64 KiB buffer inline) before boxing it, more than a
    /// connection thread's stack holds: the shell calls this on a thread
    /// with a large stack.
    #[inline(never)]
    pub(crate) fn new(level: u8) -> Compressor {
        let mut c = Compressor(Box::new(CompressorOxide::new(0)));
        c.set_level(level);
        c
    }

    /// Sets the level (clamped to 1 to 9) for the next message.
    pub(crate) fn set_level(&mut self, level: u8) {
        self.0
            .set_format_and_level(DataFormat::Raw, level.clamp(1, 9));
    }

    /// Compresses one message and appends it, without the `00 00 ff ff`
    /// tail, to `out` (RFC 7692 section 7.2.1). With `keep` (context
    /// takeover) the message ends with a sync flush and the next one may
    /// refer back into it. Without, a full flush forgets the context in
    /// place: the compressor is clean for the next message of any
    /// connection, and the output inflates alone, so the `Hub` may send
    /// one such frame to many connections.
    pub(crate) fn compress(&mut self, msg: &[u8], keep: bool, out: &mut Vec<u8>) {
        let flush = if keep { MZFlush::Sync } else { MZFlush::Full };
        compress_with(&mut self.0, msg, out, flush);
    }
}

/// Runs `c` over `msg` and appends the output, without the `00 00 ff ff`
/// tail, to `out` (RFC 7692 section 7.2.1). `MZFlush::Sync` keeps the
/// context for the next message; `MZFlush::Full` also forgets it, in place,
/// so the compressor is clean again for any connection.
fn compress_with(c: &mut CompressorOxide, msg: &[u8], out: &mut Vec<u8>, flush: MZFlush) {
    let start = out.len();
    if msg.is_empty() {
        // One empty stored block, the form RFC 7692 section 7.2.3.6 shows;
        // it leaves any kept context as it was.
        out.push(0x00);
        return;
    }
    let mut done = 0;
    loop {
        // Deflate's worst case is the input plus 5 bytes per 16 KiB stored
        // block; one step nearly always suffices.
        let room = (msg.len() - done) + (msg.len() - done) / 8 + 64;
        let at = out.len();
        out.resize(at + room, 0);
        let r = deflate(c, &msg[done..], &mut out[at..], flush);
        out.truncate(at + r.bytes_written);
        done += r.bytes_consumed;
        // The output had room to spare, so the flush is complete.
        if done == msg.len() && r.bytes_written < room {
            break;
        }
        if r.status.is_err() && r.bytes_written == 0 && r.bytes_consumed == 0 {
            // Cannot happen with room to spare; never loop forever.
            break;
        }
    }
    if out[start..].ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
}

// ---------------------------------------------------------------------------
// Decompression.

/// Why a compressed message could not be inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// The inflated message passed the limit (close 1009).
    TooBig,
    /// The data is not valid deflate (close 1002).
    Corrupt,
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InflateError::TooBig => f.write_str("inflated message too large"),
            InflateError::Corrupt => f.write_str("invalid deflate data"),
        }
    }
}

/// Where a connection's [`Inflater`] borrows a decompressor for each
/// message compressed alone, and gives it back at the message's end: the
/// shell's bounded pool. The core keeps no shared state and takes no lock.
#[derive(Clone, Copy)]
pub(crate) struct Decompressors {
    /// A decompressor, new or used (the inflater re-initialises it).
    pub(crate) take: fn() -> Box<DecompressorOxide>,
    /// Takes one back after its message (keeps or drops it).
    pub(crate) give: fn(Box<DecompressorOxide>),
}

impl fmt::Debug for Decompressors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Decompressors")
    }
}

/// A new decompressor (10 KiB), built in a frame of its own so that the
/// caller's frame reserves no room for it.
#[inline(never)]
pub(crate) fn new_decompressor() -> Box<DecompressorOxide> {
    Box::new(DecompressorOxide::new())
}

/// A state owned by a connection between messages, created on first use.
struct Kept<T>(Option<Box<T>>);

impl<T> fmt::Debug for Kept<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Kept(state)"
        } else {
            "Kept(none yet)"
        })
    }
}

/// Where a connection's inflate state lives.
#[derive(Debug)]
enum Window {
    /// Each message alone: a pooled decompressor while a message arrives,
    /// whose window is the message itself (the output buffer), so no
    /// back-reference can reach before the message's start.
    Pooled(Kept<DecompressorOxide>),
    /// Context takeover: the connection's own decompressor and 32 KiB
    /// window, kept between messages.
    Kept(Kept<KeptInflate>),
}

/// A context-takeover decompressor: the core decompressor over a wrapping
/// 32 KiB window on the heap, with the output not yet delivered.
struct KeptInflate {
    d: Box<DecompressorOxide>,
    window: Vec<u8>,
    /// Where the decompressor writes next.
    pos: usize,
    /// Output in `window[start..start + avail]` not yet delivered.
    start: usize,
    avail: usize,
}

impl KeptInflate {
    fn new() -> KeptInflate {
        KeptInflate {
            // Built afresh: the window starts zeroed, and holds only this
            // connection's data.
            d: new_decompressor(),
            window: vec![0; 1 << WINDOW_BITS],
            pos: 0,
            start: 0,
            avail: 0,
        }
    }
}

/// The receiving half of one connection's deflate context.
#[derive(Debug)]
pub(crate) struct Inflater {
    state: Window,
    /// Where a message inflated alone gets its decompressor (one pointer:
    /// every connection holds this).
    pool: &'static Decompressors,
    /// The stream ended with a final block: only the tail may follow.
    ended: bool,
}

impl Inflater {
    /// `reset`: the peer resets its compressor after each message
    /// ([`Agreement::receive_reset`]); each message then borrows a
    /// decompressor from `pool`.
    pub(crate) fn new(reset: bool, pool: &'static Decompressors) -> Inflater {
        Inflater {
            pool,
            state: if reset {
                Window::Pooled(Kept(None))
            } else {
                Window::Kept(Kept(None))
            },
            ended: false,
        }
    }

    /// Whether a decompressor is held now (between messages only with
    /// context takeover).
    #[cfg(test)]
    pub(crate) fn holds_state(&self) -> bool {
        match &self.state {
            Window::Pooled(k) => k.0.is_some(),
            Window::Kept(k) => k.0.is_some(),
        }
    }

    /// Inflates the next piece of a compressed message's payload and
    /// appends the output to `out`, which holds this message's output so
    /// far and nothing else; `last` marks the message's final piece (pieces
    /// may be whole frames or any part of them). Returns the number of
    /// bytes appended, so that the caller can check new text as it arrives.
    ///
    /// # Errors
    /// [`InflateError::TooBig`] as soon as `out` passes `limit` bytes:
    /// output is produced in steps that never go past `limit + 1`, so a
    /// bomb costs at most the limit plus one byte of work and memory.
    /// [`InflateError::Corrupt`] for invalid data. After an error the
    /// message is abandoned and the connection must be failed.
    pub(crate) fn inflate(
        &mut self,
        piece: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<usize, InflateError> {
        let before = out.len();
        let mut result = self.feed(piece, out, limit);
        if result.is_ok() && last {
            result = self.feed(&TAIL, out, limit);
        }
        if result.is_err() {
            self.release();
        } else if last {
            self.end_message();
        }
        result.map(|()| out.len() - before)
    }

    fn feed(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        loop {
            if self.ended && self.pending() == 0 {
                // Only the appended tail (or nothing) may follow a final block.
                return if input.is_empty() || input == TAIL {
                    Ok(())
                } else {
                    Err(InflateError::Corrupt)
                };
            }
            // The spare capacity, at least 1 KiB: small messages zero and
            // allocate little, large ones grow the buffer by doubling.
            let step = (out.capacity() - out.len()).clamp(1024, INFLATE_STEP);
            let room = limit.saturating_add(1).saturating_sub(out.len()).min(step);
            if room == 0 {
                return Err(InflateError::TooBig);
            }
            let at = out.len();
            out.resize(at + room, 0);
            let (used, written, more) = match &mut self.state {
                Window::Pooled(Kept(slot)) => {
                    let take = self.pool.take;
                    let d = slot.get_or_insert_with(|| {
                        let mut d = take();
                        d.init();
                        d
                    });
                    let flags = inflate_flags::TINFL_FLAG_HAS_MORE_INPUT
                        | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
                    let (status, used, written) = decompress(d, input, out, at, flags);
                    let more = match status {
                        TINFLStatus::Done => {
                            self.ended = true;
                            false
                        }
                        TINFLStatus::NeedsMoreInput => false,
                        TINFLStatus::HasMoreOutput => true,
                        _ => {
                            out.truncate(at);
                            return Err(InflateError::Corrupt);
                        }
                    };
                    (used, written, more)
                }
                Window::Kept(Kept(slot)) => {
                    let k = slot.get_or_insert_with(|| Box::new(KeptInflate::new()));
                    let mut used = 0;
                    let mut more = false;
                    if k.avail == 0 && !self.ended {
                        let flags = inflate_flags::TINFL_FLAG_HAS_MORE_INPUT;
                        let (status, u, w) =
                            decompress(&mut k.d, input, &mut k.window, k.pos, flags);
                        match status {
                            TINFLStatus::Done => self.ended = true,
                            TINFLStatus::NeedsMoreInput => {}
                            TINFLStatus::HasMoreOutput => more = true,
                            _ => {
                                out.truncate(at);
                                return Err(InflateError::Corrupt);
                            }
                        }
                        used = u;
                        k.start = k.pos;
                        k.avail = w;
                        k.pos = (k.pos + w) & (k.window.len() - 1);
                    }
                    // Deliver no more than the room, so the limit holds to
                    // the byte; the rest waits in the window.
                    let n = k.avail.min(room);
                    out[at..at + n].copy_from_slice(&k.window[k.start..k.start + n]);
                    k.start += n;
                    k.avail -= n;
                    (used, n, more || k.avail > 0)
                }
            };
            out.truncate(at + written);
            input = &input[used..];
            if out.len() > limit {
                return Err(InflateError::TooBig);
            }
            if !self.ended && !more && input.is_empty() {
                return Ok(());
            }
            if used == 0 && written == 0 && !self.ended && !more {
                // Nothing moved although input is left: never spin.
                return Err(InflateError::Corrupt);
            }
        }
    }

    /// Output inflated but not yet delivered.
    fn pending(&self) -> usize {
        match &self.state {
            Window::Kept(Kept(Some(k))) => k.avail,
            _ => 0,
        }
    }

    /// The message is complete: a pooled state goes back; a kept one stays,
    /// restarted if a final block ended its stream (RFC 7692 section
    /// 7.2.3.4 allows BFINAL=1; the next message then starts a new one).
    fn end_message(&mut self) {
        match &mut self.state {
            Window::Pooled(_) => self.release(),
            // A new stream; the window's history is this connection's own.
            Window::Kept(Kept(Some(k))) if self.ended => k.d.init(),
            Window::Kept(_) => {}
        }
        self.ended = false;
    }

    /// Drops the message in progress and gives the state back to the pool:
    /// the connection is over.
    pub(crate) fn abandon(&mut self) {
        self.release();
    }

    /// Gives a pooled state back; drops a kept one, whose window holds
    /// this connection's data.
    fn release(&mut self) {
        self.ended = false;
        match &mut self.state {
            Window::Pooled(Kept(slot)) => {
                if let Some(d) = slot.take() {
                    (self.pool.give)(d);
                }
            }
            Window::Kept(k) => k.0 = None,
        }
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic generator for test messages.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    /// Sensor-like JSON of `len` bytes.
    fn json(len: usize, seed: u64) -> Vec<u8> {
        let mut rng = Lcg(seed);
        let mut s = Vec::new();
        while s.len() < len {
            let r = format!(
                "{{\"seq\":{},\"t\":{}.{},\"h\":{}}},",
                rng.next() % 100_000,
                15 + rng.next() % 10,
                rng.next() % 10,
                35 + rng.next() % 30
            );
            s.extend_from_slice(r.as_bytes());
        }
        s.truncate(len);
        s
    }

    /// Random bytes: incompressible.
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut rng = Lcg(seed);
        (0..len).map(|_| rng.next() as u8).collect()
    }

    thread_local! {
        static SPARE: std::cell::RefCell<Vec<Box<DecompressorOxide>>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }

    fn take_spare() -> Box<DecompressorOxide> {
        SPARE
            .with(|s| s.borrow_mut().pop())
            .unwrap_or_else(new_decompressor)
    }

    fn give_spare(d: Box<DecompressorOxide>) {
        SPARE.with(|s| s.borrow_mut().push(d));
    }

    /// A pool as the shell's: decompressors are used again, for any
    /// message of any inflater (on this test's thread).
    static REUSE: Decompressors = Decompressors {
        take: take_spare,
        give: give_spare,
    };

    fn inflater(reset: bool) -> Inflater {
        Inflater::new(reset, &REUSE)
    }

    /// One message compressed alone with a new compressor.
    fn compress_stateless(msg: &[u8], level: u8, out: &mut Vec<u8>) -> bool {
        Compressor::new(level).compress(msg, false, out);
        true
    }

    fn cfg() -> DeflateConfig {
        DeflateConfig::default()
    }

    fn takeover() -> DeflateConfig {
        DeflateConfig {
            context_takeover: true,
            ..DeflateConfig::default()
        }
    }

    fn accept(values: &[&str], config: &DeflateConfig) -> Option<String> {
        server_accept(values.iter().map(|v| v.as_bytes()), config).map(|(_, a)| a)
    }

    #[test]
    fn grammar() {
        let e = parse_extensions(b" foo , ,permessage-deflate ;a=1; B = \"x\\\"y\" ;c").unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].name, "foo");
        assert_eq!(e[1].name, "permessage-deflate");
        assert_eq!(
            e[1].params,
            vec![
                ("a".into(), Some("1".into())),
                ("b".into(), Some("x\"y".into())),
                ("c".into(), None)
            ]
        );
        assert_eq!(parse_extensions(b"").unwrap(), vec![]);
        assert_eq!(parse_extensions(b" , ").unwrap(), vec![]);
        for bad in [
            &b"permessage-deflate; "[..],
            b"permessage-deflate; a=",
            b"permessage-deflate; a=\"1",
            b"permessage-deflate a",
            b"; a",
            b"permessage-deflate; a=1 2",
            b"permessage-deflate; a=\"\x01\"",
            b"p\xc3\xa9",
        ] {
            assert!(
                parse_extensions(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// (offer values, configuration, expected answer or None for declined)
    macro_rules! server_cases {
        ($($name:ident: $values:expr, $config:expr => $answer:expr;)*) => {
            $(
                #[test]
                fn $name() {
                    assert_eq!(accept(&$values, &$config).as_deref(), $answer);
                }
            )*
        };
    }

    const STATELESS: Option<&str> =
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover");

    server_cases! {
        plain_offer: ["permessage-deflate"], cfg() => STATELESS;
        autobahn_default: ["permessage-deflate; client_no_context_takeover; client_max_window_bits"], cfg() => STATELESS;
        client_bits_value: ["permessage-deflate; client_max_window_bits=10"], cfg() => STATELESS;
        server_bits_15_echoed: ["permessage-deflate; server_max_window_bits=15"], cfg() => Some(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15");
        server_bits_quoted: ["permessage-deflate; server_max_window_bits=\"15\""], cfg() => Some(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15");
        server_bits_9_declined: ["permessage-deflate; server_max_window_bits=9"], cfg() => None;
        server_bits_8_declined: ["permessage-deflate; server_max_window_bits=8"], cfg() => None;
        first_acceptable_of_three: [
            "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=9, \
             permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover, \
             permessage-deflate; client_no_context_takeover; client_max_window_bits"], cfg() => STATELESS;
        offers_across_headers: ["x-webkit-deflate-frame", "permessage-deflate; server_max_window_bits=12", "permessage-deflate"], cfg() => STATELESS;
        unknown_param_declined: ["permessage-deflate; foo"], cfg() => None;
        unknown_then_good: ["permessage-deflate; foo, permessage-deflate"], cfg() => STATELESS;
        duplicate_declined: ["permessage-deflate; server_no_context_takeover; server_no_context_takeover"], cfg() => None;
        duplicate_bits_declined: ["permessage-deflate; client_max_window_bits; client_max_window_bits=9"], cfg() => None;
        valued_flag_declined: ["permessage-deflate; client_no_context_takeover=1"], cfg() => None;
        missing_value_declined: ["permessage-deflate; server_max_window_bits"], cfg() => None;
        leading_zero_declined: ["permessage-deflate; client_max_window_bits=09"], cfg() => None;
        out_of_range_declined: ["permessage-deflate; client_max_window_bits=16"], cfg() => None;
        malformed_header_declined: ["permessage-deflate; a=\"open"], cfg() => None;
        malformed_then_good_header: ["permessage-deflate;;", "permessage-deflate"], cfg() => STATELESS;
        other_extension_only: ["x-foo; bar=1"], cfg() => None;
        no_header: [], cfg() => None;
        case_insensitive: ["PerMessage-Deflate; Server_No_Context_Takeover"], cfg() => STATELESS;
        takeover_plain: ["permessage-deflate"], takeover() => Some("permessage-deflate");
        takeover_honours_requests: ["permessage-deflate; server_no_context_takeover; client_no_context_takeover"], takeover() => STATELESS;
        takeover_server_reset_only: ["permessage-deflate; server_no_context_takeover"], takeover() => Some(
            "permessage-deflate; server_no_context_takeover");
    }

    #[test]
    fn answers_parse_and_honour_offers() {
        // The answer never holds a parameter the offer rules out: it is
        // itself a valid offer-shaped element, it has no
        // client_max_window_bits, and server_max_window_bits only when
        // offered.
        for offer in [
            "permessage-deflate",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_max_window_bits=15; client_max_window_bits=8",
        ] {
            for config in [cfg(), takeover()] {
                let (agreed, answer) = server_accept([offer.as_bytes()], &config).unwrap();
                let ext = parse_extensions(answer.as_bytes()).unwrap();
                let p = Params::parse(&ext[0]).unwrap();
                assert_eq!(p.client_max_window_bits, None, "{answer}");
                assert_eq!(
                    p.server_max_window_bits.is_some(),
                    offer.contains("server_max_window_bits"),
                    "{answer}"
                );
                assert_eq!(agreed.server_max_window_bits, WINDOW_BITS);
                // And a client of this crate accepts it.
                let client = client_check([answer.as_bytes()], &config).unwrap().unwrap();
                assert_eq!(
                    client.server_no_context_takeover,
                    agreed.server_no_context_takeover
                );
            }
        }
    }

    #[test]
    fn client_offer_never_asks_for_client_window_bits() {
        for config in [cfg(), takeover()] {
            let offer = client_offer(&config);
            assert!(!offer.contains("client_max_window_bits"), "{offer}");
            // Our own server accepts our client's offer.
            assert!(accept(&[offer.as_str()], &config).is_some());
        }
        assert_eq!(
            client_offer(&cfg()),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
    }

    #[test]
    fn client_checks_the_answer() {
        let ok = |v: &str, c: &DeflateConfig| client_check([v.as_bytes()], c);
        assert_eq!(ok("", &cfg()), Ok(None));
        assert_eq!(client_check(Vec::<&[u8]>::new(), &cfg()), Ok(None));
        let a = ok(
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
            &cfg(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(a.server_max_window_bits, 10);
        assert!(
            a.send_reset(false),
            "stateless client resets its compressor"
        );
        assert!(a.receive_reset(false));
        for (bad, config) in [
            ("permessage-deflate; client_max_window_bits=10", takeover()),
            ("permessage-deflate; client_max_window_bits", takeover()),
            ("permessage-deflate", cfg()),
            ("permessage-deflate; server_no_context_takeover; foo", cfg()),
            ("permessage-deflate; server_max_window_bits=7", takeover()),
            ("x-foo", cfg()),
            ("permessage-deflate; server_no_context_takeover, permessage-deflate; server_no_context_takeover", cfg()),
            ("permessage-deflate; server_no_context_takeover; \"", cfg()),
        ] {
            assert!(ok(bad, &config).is_err(), "{bad}");
        }
        // With context takeover, a plain answer keeps context both ways.
        let a = ok("permessage-deflate", &takeover()).unwrap().unwrap();
        assert!(!a.send_reset(false) && !a.receive_reset(false));
        // Repeated across two header lines.
        assert_eq!(
            client_check(
                [
                    &b"permessage-deflate; server_no_context_takeover"[..],
                    b"permessage-deflate; server_no_context_takeover"
                ],
                &cfg()
            ),
            Err(NegotiationError::Repeated)
        );
    }

    /// Inflates one stateless message as a peer with a window of exactly
    /// 2^15 bytes and a fresh state would: the wrapping 32 KiB dictionary of
    /// the inflate core, nothing from earlier messages.
    fn inflate_fresh(wire: &[u8]) -> Vec<u8> {
        let mut input = wire.to_vec();
        input.extend_from_slice(&TAIL);
        let mut d = DecompressorOxide::new();
        let mut window = vec![0u8; 1 << WINDOW_BITS];
        let mut pos = 0;
        let mut out = Vec::new();
        let mut inp = &input[..];
        loop {
            let (status, used, written) = decompress(
                &mut d,
                inp,
                &mut window,
                pos,
                inflate_flags::TINFL_FLAG_HAS_MORE_INPUT,
            );
            out.extend_from_slice(&window[pos..pos + written]);
            pos = (pos + written) & (window.len() - 1);
            inp = &inp[used..];
            assert!((status as i32) >= 0, "{status:?}");
            if inp.is_empty() && written == 0 {
                return out;
            }
        }
    }

    #[test]
    fn stateless_messages_inflate_alone_with_a_15_bit_window() {
        // Larger than the window, so back-references would reach into an
        // earlier message if the context were kept.
        let msgs = [
            json(100_000, 1),
            json(40_000, 1),
            json(100, 1),
            Vec::new(),
            noise(70_000, 2),
        ];
        // One compressor for all: a full flush forgets each message.
        let mut d = Compressor::new(cfg().level);
        for m in &msgs {
            let mut wire = Vec::new();
            d.compress(m, false, &mut wire);
            assert!(!wire.ends_with(&TAIL));
            assert_eq!(&inflate_fresh(&wire), m);
        }
        // The same message compresses the same way every time: shareable.
        let (mut a, mut b) = (Vec::new(), Vec::new());
        d.compress(&msgs[1], false, &mut a);
        assert!(compress_stateless(&msgs[1], cfg().level, &mut b));
        assert_eq!(a, b);
        assert!(a.len() < msgs[1].len() / 3, "{}", a.len());
    }

    #[test]
    fn empty_message_is_one_zero_byte() {
        let mut wire = Vec::new();
        assert!(compress_stateless(b"", 3, &mut wire));
        assert_eq!(wire, [0x00]);
        let mut out = Vec::new();
        inflater(true).inflate(&wire, true, &mut out, 10).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn takeover_round_trip_uses_the_context() {
        let mut d = Compressor::new(takeover().level);
        let mut i = inflater(false);
        let m = json(2000, 5);
        let mut sizes = Vec::new();
        for _ in 0..3 {
            let mut wire = Vec::new();
            d.compress(&m, true, &mut wire);
            sizes.push(wire.len());
            let mut out = Vec::new();
            i.inflate(&wire, true, &mut out, 1 << 20).unwrap();
            assert_eq!(out, m);
            assert!(i.holds_state());
        }
        // The repeat is a back-reference into the previous message.
        assert!(sizes[1] < sizes[0] / 4, "{sizes:?}");
        // An empty message in between leaves the context as it was.
        for msg in [&[][..], &m[..]] {
            let mut wire = Vec::new();
            d.compress(msg, true, &mut wire);
            let mut out = Vec::new();
            i.inflate(&wire, true, &mut out, 1 << 20).unwrap();
            assert_eq!(out, msg);
        }
    }

    /// Decodes hex written by the test below.
    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn inflates_a_9_bit_window_stream_with_context_takeover() {
        // Two messages from C zlib (Python's `zlib.compressobj(6, DEFLATED,
        // -9, 1)`, sync flush, tail stripped): a client that was granted
        // client_max_window_bits=9, keeping its context. The second message
        // refers back into the first.
        let json: Vec<u8> = (0..60)
            .flat_map(|i| {
                format!(
                    "{{\"seq\":{},\"t\":2{}.{},\"h\":4{}}},",
                    i,
                    i % 10,
                    i % 7,
                    i % 5
                )
                .into_bytes()
            })
            .collect();
        let first = unhex(concat!(
            "5cce410ac3300c44d1bb781d844792ed24f729745bda5de8dd5b186499ec3ebccdbfcafbf12a67ddcaa79c5a",
            "e51fcf727afd6e170514082898a21415a5e814a39818c5a638c5c5293ea5519ab4fb41a774e9f7834119719d",
            "073b658feb3c3828475ce7012aa9c6762e0024c4773e40491ae3390123599ce7059ce4b1be6c34528bf765a3",
            "937acc2f1b83f463728e8d0088411808b66483fd86fe1bfb407383e24df691b746898abc355ad4e4a7114bb4",
            "c84f23b668939f468428c84f235294e4a7114774c85be38a2e796b7ca28fbc359ee891b746898abc355ad4e4",
            "a7914bb4c84f23b768939f468628c84f235394e4a7914774c85be38a2e796b7ca28fbc359ee891b746898abc",
            "355ad4e4a7719668fd4ccec90d03311003c19456d25047fe89d900d118beeb53e4bb51c334c877a3a66992ef",
            "462dd322df8d2a53918f864c221f8d6ddae4a3714c877c34aee9928fc6333df2ddd067fac87743c334c87743",
            "d334c97743cbb4c87743652af2d19049e4a3b14d9b7c348ee9908fc6355df2d178a647fedff801",
        ));
        let second = unhex(concat!(
            "5cceb90d44310cc4d08e3e24f9eebfb10db883311c33e0fba7a084565624257532a228a5910d8dd2f431a153",
            "fad75fc1a08c6fbc824999df7c058bb2a4b66053b6d4161cca91da820c52886d422629e5b6218b54821b918d",
            "d424b7223ba98b7e310669c87e3126690a7f311669097f3136690b7f310ee9086f4605298437a39294c29b51",
            "452ae1cdf83139e7460084400c0453827d0ec83fb13354532bbb9d8e1425f96944898abc355ad4e4adf1893e",
            "f2d638a243de1a5774c95be3891ef969e4122df2d3c82ddae4a791210af2d3c81425f96964898abc355ad4e4",
            "adf1893ef2d638a243de1a5774c95be3891ef969d4122df2d3a82ddae4a751210af2d3a81425f96954898abc",
            "355ad4e4adf13339e7360003310cc056ba4f7ef65f2c0104c1aad93048a1bc359294ca5ba348a5bc359ad4ca",
            "4f038bb4949f0636692b3f0d1cd2517e1ab8a4abfc34f0484f796b8004e5ad11a450de1a494ae5ad51a452de",
            "1a4d6ae5ffc607",
        ));
        assert!(second.len() < first.len());
        let mut i = inflater(false);
        for wire in [first, second] {
            let mut out = Vec::new();
            i.inflate(&wire, true, &mut out, json.len()).unwrap();
            assert_eq!(out, json);
        }
    }

    #[test]
    fn no_reference_before_the_message_start() {
        // A message compressed with context refers back into the one before;
        // inflated alone (and with a pooled decompressor that inflated
        // something else before) that is an error, never stale bytes.
        let m = json(2000, 5);
        let mut d = Compressor::new(takeover().level);
        let (mut first, mut second) = (Vec::new(), Vec::new());
        d.compress(&m, true, &mut first);
        d.compress(&m, true, &mut second);
        let mut i = inflater(true);
        let mut out = Vec::new();
        i.inflate(&first, true, &mut out, 1 << 20).unwrap();
        let mut out = Vec::new();
        assert_eq!(
            i.inflate(&second, true, &mut out, 1 << 20),
            Err(InflateError::Corrupt)
        );
    }

    #[test]
    fn inflate_piece_by_piece_at_every_split() {
        let m = json(3000, 9);
        let mut wire = Vec::new();
        assert!(compress_stateless(&m, 6, &mut wire));
        let mut i = inflater(true);
        for split in 0..=wire.len() {
            let mut out = Vec::new();
            let mut got = i.inflate(&wire[..split], false, &mut out, m.len()).unwrap();
            got += i.inflate(&wire[split..], true, &mut out, m.len()).unwrap();
            assert_eq!(got, m.len());
            assert_eq!(out, m, "split at {split}");
            assert!(!i.holds_state(), "stateless inflater kept its state");
        }
        // One byte at a time.
        let mut out = Vec::new();
        for (n, b) in wire.iter().enumerate() {
            i.inflate(
                std::slice::from_ref(b),
                n + 1 == wire.len(),
                &mut out,
                m.len(),
            )
            .unwrap();
        }
        assert_eq!(out, m);
    }

    #[test]
    fn bomb_stops_at_the_limit() {
        // 64 MiB of zeros deflate to about 64 KiB.
        let zeros = vec![0u8; 64 << 20];
        let mut wire = Vec::new();
        assert!(compress_stateless(&zeros, 9, &mut wire));
        drop(zeros);
        assert!(wire.len() < 128 * 1024, "{}", wire.len());
        // Both a pooled (message as window) and a kept (wrapping window)
        // decompressor.
        for (limit, reset) in [0, 1, 1000, INFLATE_STEP, 1 << 20]
            .iter()
            .flat_map(|l| [(*l, true), (*l, false)])
        {
            let mut i = inflater(reset);
            let mut out = Vec::new();
            // Fed in frames of 1 KiB, as a fragmented message would be.
            let mut err = None;
            for (n, piece) in wire.chunks(1024).enumerate() {
                if let Err(e) = i.inflate(piece, (n + 1) * 1024 >= wire.len(), &mut out, limit) {
                    err = Some(e);
                    break;
                }
            }
            assert_eq!(err, Some(InflateError::TooBig), "limit {limit}");
            // At most the limit plus one byte was inflated.
            assert_eq!(out.len(), limit + 1, "limit {limit}");
            assert!(!i.holds_state());
        }
        // No overflow at the largest limit.
        let mut out = Vec::new();
        inflater(true)
            .inflate(&wire[..100], false, &mut out, usize::MAX)
            .unwrap();
        // Exactly at the limit is fine.
        let m = json(5000, 3);
        let mut wire = Vec::new();
        assert!(compress_stateless(&m, 3, &mut wire));
        let mut out = Vec::new();
        inflater(true)
            .inflate(&wire, true, &mut out, m.len())
            .unwrap();
        assert_eq!(out, m);
        let mut out = Vec::new();
        assert_eq!(
            inflater(true).inflate(&wire, true, &mut out, m.len() - 1),
            Err(InflateError::TooBig)
        );
    }

    #[test]
    fn corrupt_data_is_an_error() {
        for bad in [
            &[0xffu8; 16][..],
            &[0x07],
            &[0x02, 0xff, 0xff, 0xff],
            &[0x01, 0x05, 0x00, 0x00, 0x00],
        ] {
            let mut out = Vec::new();
            assert_eq!(
                inflater(true).inflate(bad, true, &mut out, 1 << 20),
                Err(InflateError::Corrupt),
                "{bad:02x?}"
            );
        }
    }

    #[test]
    fn final_block_then_new_stream() {
        // A sender may end a message with BFINAL=1 (RFC 7692 section
        // 7.2.3.4); the next message then starts a fresh stream.
        let final_block = miniz_oxide::deflate::compress_to_vec(b"hello hello hello", 6);
        let mut i = inflater(false);
        for _ in 0..2 {
            let mut out = Vec::new();
            i.inflate(&final_block, true, &mut out, 100).unwrap();
            assert_eq!(out, b"hello hello hello");
        }
        // But nothing other than the tail may follow the final block.
        let mut trailing = final_block.clone();
        trailing.push(0x00);
        let mut out = Vec::new();
        assert_eq!(
            inflater(true).inflate(&trailing, true, &mut out, 100),
            Err(InflateError::Corrupt)
        );
    }

    #[test]
    fn defaults() {
        assert_eq!(
            cfg(),
            DeflateConfig {
                context_takeover: false,
                level: 1,
                threshold: 128
            }
        );
    }

    #[test]
    fn threshold() {
        let c = cfg();
        assert!(!c.compresses(c.threshold - 1));
        assert!(c.compresses(c.threshold));
    }
}
