//! The receive machine of RFC 6455: bytes in, events out.
//!
//! ```text
//!                 peer's Close: Event::Close (echo it), close transport
//!        ┌──────────────────────────────────────────────────┐
//!        │                                                  ▼
//!     ┌──────┐  our Close sent (by any thread)         ┌──────────┐
//!     │ Open │ ───────────────────────────────────────▶│ Closing  │
//!     └──────┘  (data still delivered; no keepalive)   └──────────┘
//!        │                                                  │ peer's Close, or
//!        │ protocol error: Err(..) (the shell sends         │ close deadline:
//!        │ 1002/1007/1009 and closes the transport)         │ close transport
//!        ▼                                                  ▼
//!     ┌─────────────────────────────────────────────────────────┐
//!     │ Done: every call returns Error::Closed                  │
//!     └─────────────────────────────────────────────────────────┘
//! ```
//!
//! The shell asks [`Inbound::buffer`] where to read, reports what arrived
//! with [`Inbound::filled`] (or [`Inbound::feed`]), and takes events from
//! [`Inbound::poll`] until it returns `None`. Time comes in two ways, so
//! the shell reads no clock in the steady state:
//!
//! - Keepalive counts silence. The shell blocks for at most
//!   [`Inbound::wait_for`] and reports a read that timed out with
//!   [`Inbound::on_silence`]; any byte resets the count.
//! - The close timeout runs from when our Close went out, which may have
//!   been on another thread: the shell reports it ([`Inbound::close_sent`])
//!   and, on each wake-up, how long ago it was ([`Inbound::close_wait`]).
//!
//! A partial frame lives here, never in the shell's locals, so a timeout in
//! the middle of a frame loses nothing.

use std::mem;
use std::time::Duration;

use super::close::{CloseCode, CloseFrame};
#[cfg(feature = "deflate")]
use super::deflate::InflateError;
use super::frame::{decode_header, Header, OpCode};
use super::mask::apply_mask;
use super::utf8::Utf8Check;
use super::{Inflater, Role};
use crate::error::{Error, ProtocolError, Result, Timeout};
use crate::message::Message;

/// The read buffer's size once a connection has received something. It holds
/// frame headers, control frames and small messages; larger payloads are read
/// straight into the message.
pub(crate) const INPUT_BUF: usize = 4096;
/// While reads keep filling the read buffer (pipelined traffic), it doubles
/// up to this, so that one read takes several frames (DESIGN.md, "Memory").
const MAX_INPUT: usize = 64 * 1024;
/// The largest single read straight into a message.
const DIRECT_CHUNK: usize = 256 * 1024;
/// RSV1: a permessage-deflate message's first frame (RFC 7692 section 6).
const RSV1: u8 = 0x40;

/// What the receive machine enforces; taken from [`Config`](crate::Config).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_message: usize,
    pub(crate) max_frame: usize,
    pub(crate) max_fragments: usize,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) ping_timeout: Duration,
    pub(crate) close_timeout: Duration,
}

/// What the machine asks of the shell.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// A Text, Binary or Pong message for the application.
    Message(Message),
    /// The peer's Ping: send a Pong with this payload (RFC 6455 section
    /// 5.5.2), then hand it over as [`Message::Ping`].
    Ping(Vec<u8>),
    /// The peer's Close. Send `echo` back if it is `Some` (section 5.5.1; it
    /// is `None` when our Close went out first), then close the transport as
    /// [`Inbound::role`] says (section 7.1.1), then hand the frame over as
    /// [`Message::Close`]. The machine is done.
    Close {
        frame: Option<CloseFrame>,
        echo: Option<Echo>,
    },
}

/// The Close to send back: the peer's code, or an empty Close for an empty
/// one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Echo {
    Code(CloseCode),
    Empty,
}

/// A control frame the machine wants sent on its own initiative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    /// A keepalive Ping with no payload.
    Ping,
}

#[derive(Debug, Clone, Copy)]
struct InFrame {
    opcode: OpCode,
    fin: bool,
    mask: Option<[u8; 4]>,
    len: u64,
    done: u64,
    /// The message's length when this frame began: a compressed frame's
    /// inflated bytes count against `max_frame` from here.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    out_start: usize,
}

impl InFrame {
    fn remaining(&self) -> u64 {
        self.len - self.done
    }
}

/// The data message being reassembled.
#[derive(Debug, Default)]
struct Assembly {
    /// Text or Binary while a message is unfinished.
    opcode: Option<OpCode>,
    /// Zeroed up to `buf.len()`, filled up to `len`.
    buf: Vec<u8>,
    len: usize,
    fragments: usize,
    utf8: Utf8Check,
    /// The message is permessage-deflate compressed: its payload is
    /// inflated into `buf` as it arrives, never read into it directly.
    compressed: bool,
}

impl Assembly {
    /// The `n` bytes after the filled part, zeroing new memory only once.
    fn space(&mut self, n: usize) -> &mut [u8] {
        if self.buf.capacity() == 0 {
            // The first piece: one exact allocation, not a growth step.
            self.buf = Vec::with_capacity(n);
            self.buf.resize(n, 0);
        } else if self.buf.len() < self.len + n {
            self.buf.resize(self.len + n, 0);
        }
        &mut self.buf[self.len..self.len + n]
    }

    /// Unmasks and checks `n` bytes just placed after the filled part.
    fn commit(&mut self, n: usize, mask: Option<[u8; 4]>, offset: u64) -> Result<()> {
        let piece = &mut self.buf[self.len..self.len + n];
        if let Some(mask) = mask {
            apply_mask(piece, mask, (offset % 4) as usize);
        }
        if self.opcode == Some(OpCode::Text) {
            self.utf8.feed(piece)?;
        }
        self.len += n;
        Ok(())
    }

    fn take(&mut self) -> Result<Message> {
        let opcode = self.opcode.take();
        self.compressed = false;
        let mut data = mem::take(&mut self.buf);
        data.truncate(self.len);
        self.len = 0;
        self.fragments = 0;
        if opcode == Some(OpCode::Text) {
            self.utf8.finish()?;
            // Already checked piece by piece; this second pass over valid
            // UTF-8 keeps the crate free of `unsafe`.
            String::from_utf8(data)
                .map(Message::Text)
                .map_err(|_| Error::InvalidUtf8)
        } else {
            Ok(Message::Binary(data))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keepalive {
    Off,
    Idle,
    AwaitingPong,
}

/// The receive side of one connection, in either role.
#[derive(Debug)]
pub(crate) struct Inbound {
    role: Role,
    limits: Limits,
    /// RSV bits a negotiated extension may set; none today.
    rsv_allowed: u8,
    /// Received bytes not yet used: `input[start..end]`.
    input: Vec<u8>,
    start: usize,
    end: usize,
    /// The frame whose payload is arriving.
    frame: Option<InFrame>,
    /// Set when the shell was handed message space to read into.
    direct: bool,
    /// Set by a keepalive tick, cleared by the next data frame: while only
    /// control frames (our Ping's Pong) arrive, no read buffer is kept.
    idle: bool,
    /// permessage-deflate's receiving half, when it was agreed.
    #[cfg(feature = "deflate")]
    inflater: Option<Inflater>,
    message: Assembly,
    keepalive: Keepalive,
    /// How long nothing has arrived, as the shell reported it.
    silence: Duration,
    /// When our Close went out, whoever sent it.
    closing: bool,
    done: bool,
}

impl Inbound {
    pub(crate) fn new(role: Role, limits: Limits) -> Inbound {
        Inbound {
            role,
            limits,
            rsv_allowed: 0,
            input: Vec::new(),
            start: 0,
            end: 0,
            frame: None,
            direct: false,
            idle: false,
            #[cfg(feature = "deflate")]
            inflater: None,
            message: Assembly::default(),
            keepalive: if limits.ping_interval.is_some() {
                Keepalive::Idle
            } else {
                Keepalive::Off
            },
            silence: Duration::from_secs(0),
            closing: false,
            done: false,
        }
    }

    pub(crate) fn role(&self) -> Role {
        self.role
    }

    pub(crate) fn close_timeout(&self) -> Duration {
        self.limits.close_timeout
    }

    /// permessage-deflate was agreed (or not: `None`), and `inflater`, from
    /// the shell, inflates: RSV1 may then mark a data message's first frame.
    pub(crate) fn set_deflate(&mut self, inflater: Option<Inflater>) {
        #[cfg(feature = "deflate")]
        if inflater.is_some() {
            self.rsv_allowed = RSV1;
            self.inflater = inflater;
        }
        #[cfg(not(feature = "deflate"))]
        if let Some(i) = inflater {
            match i {}
        }
    }

    #[cfg(test)]
    fn is_done(&self) -> bool {
        self.done
    }

    /// Where the shell should read next. `None` while idle with nothing
    /// buffered: no read buffer is held then, and the shell reads into a
    /// small buffer of its own and hands the bytes to [`feed`](Self::feed).
    /// Otherwise the slice to read into, then [`filled`](Self::filled):
    /// for a large payload with nothing buffered, that is the message
    /// itself, so its bytes are copied once.
    #[inline]
    pub(crate) fn buffer(&mut self) -> Option<&mut [u8]> {
        self.direct = false;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if let Some(f) = self.frame {
                if !f.opcode.is_control()
                    && !self.message.compressed
                    && f.remaining() >= self.input.len().max(INPUT_BUF) as u64
                {
                    // Grow with the bytes that actually arrive, never with
                    // what the header claims: a bare header costs no memory.
                    let grown = self.message.len.max(INPUT_BUF) as u64;
                    let want = f.remaining().min(DIRECT_CHUNK as u64).min(grown) as usize;
                    self.direct = true;
                    return Some(self.message.space(want));
                }
            }
            if self.idle && self.frame.is_none() {
                // Idle, and what came was control frames: hold no buffer.
                self.input = Vec::new();
            }
            if self.input.is_empty() {
                return None;
            }
        } else if self.end == self.input.len() {
            self.input.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.input.len() {
            // Only a buffer holding less than one header gets here full.
            self.input.resize(self.input.len() + INPUT_BUF, 0);
        }
        Some(&mut self.input[self.end..])
    }

    /// `n` bytes were read into the slice [`buffer`](Self::buffer) returned.
    ///
    /// # Errors
    /// Invalid UTF-8 in a text payload read straight into the message.
    #[inline]
    pub(crate) fn filled(&mut self, n: usize) -> Result<()> {
        if n > 0 {
            self.heard();
        }
        if mem::replace(&mut self.direct, false) {
            if let Some(mut f) = self.frame {
                self.message.commit(n, f.mask, f.done)?;
                f.done += n as u64;
                self.frame = Some(f);
            }
            return Ok(());
        }
        let space = self.input.len() - self.end;
        self.end += n;
        if n == space && self.input.len() < MAX_INPUT {
            // More is probably waiting: take it in fewer reads next time.
            let len = self.input.len() * 2;
            self.input.resize(len, 0);
        }
        Ok(())
    }

    /// Takes `bytes` that arrived outside [`buffer`](Self::buffer).
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.heard();
        self.direct = false;
        if self.idle && self.input.is_empty() {
            // Most likely a Pong: keep exactly what came.
            self.input = bytes.to_vec();
            self.start = 0;
            self.end = bytes.len();
            return;
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        let need = self.end + bytes.len();
        if self.input.len() < need {
            self.input.resize(need.max(INPUT_BUF), 0);
        }
        self.input[self.end..need].copy_from_slice(bytes);
        self.end = need;
    }

    fn heard(&mut self) {
        self.silence = Duration::from_secs(0);
        if self.keepalive == Keepalive::AwaitingPong {
            self.keepalive = Keepalive::Idle;
        }
    }

    /// Works through the buffered bytes. Returns the next event, or `None`
    /// when more bytes are needed.
    ///
    /// # Errors
    /// The peer's violation, with the close code the shell must send
    /// ([`Error::close_code`]); [`Error::Closed`] once done.
    pub(crate) fn poll(&mut self) -> Result<Option<Event>> {
        if self.done {
            return Err(Error::Closed);
        }
        let result = self.process();
        if result.is_err() {
            self.finish();
        }
        result
    }

    fn process(&mut self) -> Result<Option<Event>> {
        if self.start == self.end && self.frame.is_none() {
            return Ok(None);
        }
        loop {
            let mut frame = match self.frame {
                Some(frame) => frame,
                None => match decode_header(
                    &self.input[self.start..self.end],
                    self.role,
                    self.rsv_allowed,
                )? {
                    None => return Ok(None),
                    Some((header, used)) => {
                        self.start += used;
                        self.begin_frame(header)?
                    }
                },
            };
            let buffered = self.end - self.start;
            if frame.opcode.is_control() {
                // Used whole, where it lies in the read buffer: at most 125
                // bytes (decode_header refused more; RFC 6455 section 5.5),
                // which always fit, so no buffer of its own is kept for it.
                let len = frame.len as usize;
                if buffered < len {
                    self.frame = Some(frame);
                    return Ok(None);
                }
                let at = self.start;
                self.start += len;
                self.frame = None;
                if let Some(mask) = frame.mask {
                    apply_mask(&mut self.input[at..at + len], mask, 0);
                }
                return self.end_control(frame.opcode, at, len).map(Some);
            }
            let take = frame.remaining().min(buffered as u64) as usize;
            if take > 0 {
                let src = &self.input[self.start..self.start + take];
                if self.message.compressed {
                    self.inflate(frame, take, false)?;
                } else {
                    self.message.space(take).copy_from_slice(src);
                    self.message.commit(take, frame.mask, frame.done)?;
                }
                self.start += take;
                frame.done += take as u64;
            }
            if frame.remaining() > 0 {
                self.frame = Some(frame);
                return Ok(None);
            }
            self.frame = None;
            if let Some(event) = self.end_frame(frame)? {
                return Ok(Some(event));
            }
        }
    }

    /// Checks a new frame against the fragmentation rules and the limits,
    /// before any buffer for it exists.
    fn begin_frame(&mut self, header: Header) -> Result<InFrame> {
        log::trace!(
            "frame in: {:?} fin={} len={}",
            header.opcode,
            header.fin,
            header.len
        );
        let msg = &mut self.message;
        let rsv1 = header.rsv & RSV1 != 0;
        match header.opcode {
            OpCode::Continuation if msg.opcode.is_none() => {
                return Err(Error::Protocol(ProtocolError::UnexpectedContinuation))
            }
            OpCode::Text | OpCode::Binary if msg.opcode.is_some() => {
                return Err(Error::Protocol(ProtocolError::ExpectedContinuation))
            }
            OpCode::Text | OpCode::Binary => {
                msg.opcode = Some(header.opcode);
                // decode_header let RSV1 through only if deflate was agreed.
                msg.compressed = rsv1;
            }
            // RFC 7692 section 6.1: RSV1 on a message's first frame only,
            // never on a continuation or a control frame.
            _ if rsv1 => return Err(Error::Protocol(ProtocolError::ReservedBits)),
            _ => {}
        }
        if !header.opcode.is_control() {
            self.idle = false;
            msg.fragments += 1;
            if msg.fragments > self.limits.max_fragments {
                return Err(Error::TooManyFragments {
                    max: self.limits.max_fragments,
                });
            }
            // A compressed frame's inflated bytes are counted as they come
            // out; on the wire it may exceed the limit by deflate's worst
            // case for incompressible data (5 bytes per 16 KiB block).
            let slack = |max: usize| {
                if msg.compressed {
                    max as u64 + max as u64 / 1024 + 64
                } else {
                    max as u64
                }
            };
            if header.len > slack(self.limits.max_frame) {
                return Err(Error::TooLarge {
                    size: header.len,
                    max: self.limits.max_frame,
                });
            }
            let total = msg.len as u64 + header.len;
            if !msg.compressed && total > self.limits.max_message as u64 {
                return Err(Error::TooLarge {
                    size: total,
                    max: self.limits.max_message,
                });
            }
        }
        Ok(InFrame {
            opcode: header.opcode,
            fin: header.fin,
            mask: header.mask,
            len: header.len,
            done: 0,
            out_start: msg.len,
        })
    }

    /// A whole control frame, unmasked at `input[at..at + len]`.
    fn end_control(&mut self, opcode: OpCode, at: usize, len: usize) -> Result<Event> {
        let payload = &self.input[at..at + len];
        match opcode {
            OpCode::Ping => Ok(Event::Ping(payload.to_vec())),
            OpCode::Pong => Ok(Event::Message(Message::Pong(payload.to_vec()))),
            // Close, the only other control opcode.
            _ => {
                let frame = CloseFrame::parse(payload)?;
                let echo = if self.closing {
                    None
                } else {
                    Some(match &frame {
                        Some(f) => Echo::Code(f.code),
                        None => Echo::Empty,
                    })
                };
                self.finish();
                Ok(Event::Close { frame, echo })
            }
        }
    }

    /// The end of a data frame: the message's, if it was the last.
    fn end_frame(&mut self, frame: InFrame) -> Result<Option<Event>> {
        match frame.opcode {
            _ if frame.fin => {
                if self.message.compressed {
                    // The end of the message: the inflater appends the
                    // stripped 00 00 ff ff tail (RFC 7692 section 7.2.2).
                    self.inflate(frame, 0, true)?;
                }
                self.message.take().map(|m| Some(Event::Message(m)))
            }
            _ => Ok(None),
        }
    }

    /// Inflates the next `take` buffered bytes of a compressed frame into
    /// the message; `last` ends the message. The output counts against
    /// `max_message` and, from the frame's start, `max_frame`, as it grows;
    /// text is checked as it comes out.
    #[cfg(feature = "deflate")]
    fn inflate(&mut self, frame: InFrame, take: usize, last: bool) -> Result<()> {
        let piece = &mut self.input[self.start..self.start + take];
        if let Some(mask) = frame.mask {
            apply_mask(piece, mask, (frame.done % 4) as usize);
        }
        let inflater = match self.inflater.as_mut() {
            Some(i) => i,
            // RSV1 gets past decode_header only with an inflater.
            None => return Err(Error::Protocol(ProtocolError::ReservedBits)),
        };
        let msg = &mut self.message;
        msg.buf.truncate(msg.len);
        let before = msg.len;
        let frame_limit = frame.out_start.saturating_add(self.limits.max_frame);
        let limit = self.limits.max_message.min(frame_limit);
        let result = inflater.inflate(piece, last, &mut msg.buf, limit);
        msg.len = msg.buf.len();
        match result {
            Ok(_) => {}
            Err(InflateError::TooBig) if frame_limit < self.limits.max_message => {
                return Err(Error::TooLarge {
                    size: (msg.len - frame.out_start) as u64,
                    max: self.limits.max_frame,
                })
            }
            Err(InflateError::TooBig) => {
                return Err(Error::TooLarge {
                    size: msg.len as u64,
                    max: self.limits.max_message,
                })
            }
            Err(InflateError::Corrupt) => {
                return Err(Error::Protocol(ProtocolError::InvalidCompressedData))
            }
        }
        if msg.opcode == Some(OpCode::Text) {
            msg.utf8.feed(&msg.buf[before..msg.len])?;
        }
        Ok(())
    }

    #[cfg(not(feature = "deflate"))]
    fn inflate(&mut self, _frame: InFrame, _take: usize, _last: bool) -> Result<()> {
        // Without the feature RSV1 never gets past decode_header.
        Err(Error::Protocol(ProtocolError::ReservedBits))
    }

    /// How long the shell may block for bytes before it must report the
    /// silence with [`on_silence`](Self::on_silence): the ping interval while
    /// idle, what is left of the ping timeout while a Ping is unanswered;
    /// `None` (block for ever) with keepalive off or once closing, when
    /// [`close_wait`](Self::close_wait) rules instead.
    #[inline]
    pub(crate) fn wait_for(&self) -> Option<Duration> {
        if self.closing {
            return None;
        }
        let period = match self.keepalive {
            Keepalive::Off => return None,
            Keepalive::Idle => self.limits.ping_interval?,
            Keepalive::AwaitingPong => self.limits.ping_timeout,
        };
        Some(period.checked_sub(self.silence).unwrap_or_default())
    }

    /// Nothing arrived for `waited`. Returns a keepalive Ping to send when
    /// the ping interval has passed in silence; an idle connection also
    /// gives back its read buffer here.
    ///
    /// # Errors
    /// [`Timeout::Ping`] when the ping timeout passed with nothing heard
    /// after our Ping.
    pub(crate) fn on_silence(&mut self, waited: Duration) -> Result<Option<Control>> {
        if self.done {
            return Err(Error::Closed);
        }
        self.silence = self.silence.saturating_add(waited);
        let due = match self.wait_for() {
            Some(left) => left == Duration::from_secs(0),
            None => false,
        };
        if !due {
            return Ok(None);
        }
        match self.keepalive {
            Keepalive::Idle => {
                if self.start == self.end && self.frame.is_none() {
                    // Idle: hold no read buffer.
                    self.input = Vec::new();
                    self.start = 0;
                    self.end = 0;
                    self.idle = true;
                }
                self.keepalive = Keepalive::AwaitingPong;
                self.silence = Duration::from_secs(0);
                Ok(Some(Control::Ping))
            }
            Keepalive::AwaitingPong => {
                self.finish();
                Err(Error::Timeout(Timeout::Ping))
            }
            Keepalive::Off => Ok(None),
        }
    }

    /// Our Close went out (from this thread or any other). Keepalive stops;
    /// the peer has the close timeout to answer, and its Close is not
    /// echoed.
    #[inline]
    pub(crate) fn close_sent(&mut self) {
        self.closing = true;
    }

    /// How long the shell may still wait for the peer's Close, our own
    /// having gone out `since` ago; `None` while ours has not gone out.
    ///
    /// # Errors
    /// [`Timeout::Close`] once the close timeout has passed; the machine is
    /// then done.
    pub(crate) fn close_wait(&mut self, since: Duration) -> Result<Option<Duration>> {
        if !self.closing {
            return Ok(None);
        }
        match self.limits.close_timeout.checked_sub(since) {
            Some(left) if left > Duration::from_secs(0) => Ok(Some(left)),
            _ => {
                self.finish();
                Err(Error::Timeout(Timeout::Close))
            }
        }
    }

    /// Ends the machine and lets go of its buffers.
    pub(crate) fn finish(&mut self) {
        self.done = true;
        self.frame = None;
        self.direct = false;
        self.input = Vec::new();
        self.start = 0;
        self.end = 0;
        self.message = Assembly::default();
        #[cfg(feature = "deflate")]
        if let Some(inflater) = &mut self.inflater {
            // A message cut off mid-way gives its decompressor back.
            inflater.abandon();
        }
    }

    /// Bytes buffered but not yet used, and whether a frame is unfinished.
    #[cfg(test)]
    fn pending(&self) -> (usize, bool) {
        (self.end - self.start, self.frame.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::outbound::prepare;

    fn limits() -> Limits {
        Limits {
            max_message: 1 << 20,
            max_frame: 1 << 20,
            max_fragments: 1000,
            ping_interval: Some(Duration::from_secs(30)),
            ping_timeout: Duration::from_secs(20),
            close_timeout: Duration::from_secs(5),
        }
    }

    /// A frame as the peer of `role` sends it: masked towards a server.
    fn frame(role: Role, fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let mask = match role {
            Role::Server => Some([9, 8, 7, 6]),
            Role::Client => None,
        };
        let f = prepare(opcode, 0, payload, mask).unwrap();
        let mut bytes = f.head().to_vec();
        if !fin {
            bytes[0] &= 0x7f;
        }
        bytes.extend_from_slice(f.payload());
        bytes
    }

    /// Every event the buffered bytes give, up to and including a Close.
    fn events(m: &mut Inbound) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some(e) = m.poll().unwrap() {
            let close = matches!(e, Event::Close { .. });
            out.push(e);
            if close {
                break;
            }
        }
        out
    }

    fn text(s: &str) -> Event {
        Event::Message(Message::Text(s.to_owned()))
    }

    /// Fragments with a Ping and a Pong between them, fed in pieces of every
    /// size, give the Ping, the Pong and the whole message, in both roles.
    #[test]
    fn fragments_with_interleaved_control_frames() {
        for role in [Role::Server, Role::Client] {
            let mut wire = frame(role, false, OpCode::Text, b"Hel");
            wire.extend(frame(role, true, OpCode::Ping, b"p"));
            wire.extend(frame(role, false, OpCode::Continuation, "lo, ".as_bytes()));
            wire.extend(frame(role, true, OpCode::Pong, b"q"));
            wire.extend(frame(role, true, OpCode::Continuation, "wörld".as_bytes()));
            for piece in 1..=wire.len() {
                let mut m = Inbound::new(role, limits());
                let mut got = Vec::new();
                for chunk in wire.chunks(piece) {
                    m.feed(chunk);
                    got.extend(events(&mut m));
                }
                assert_eq!(
                    got,
                    vec![
                        Event::Ping(b"p".to_vec()),
                        Event::Message(Message::Pong(b"q".to_vec())),
                        text("Hello, wörld"),
                    ],
                    "{:?} in pieces of {}",
                    role,
                    piece
                );
            }
        }
    }

    /// Each role refuses the other's masking.
    #[test]
    fn each_role_refuses_the_wrong_masking() {
        let mut server = Inbound::new(Role::Server, limits());
        server.feed(&frame(Role::Client, true, OpCode::Text, b"x"));
        assert!(matches!(
            server.poll(),
            Err(Error::Protocol(ProtocolError::UnmaskedFrame))
        ));
        assert!(matches!(server.poll(), Err(Error::Closed)));
        let mut client = Inbound::new(Role::Client, limits());
        client.feed(&frame(Role::Server, true, OpCode::Text, b"x"));
        let err = client.poll().unwrap_err();
        assert!(matches!(err, Error::Protocol(ProtocolError::MaskedFrame)));
        assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR));
    }

    /// The peer's Close is echoed with its code, an empty one with an empty
    /// one, and not at all when our Close went first; then the machine is
    /// done.
    #[test]
    fn close_handshake_in_both_roles() {
        for role in [Role::Server, Role::Client] {
            let mut m = Inbound::new(role, limits());
            m.feed(&frame(role, true, OpCode::Close, b"\x03\xe9bye"));
            let frame1 = Some(CloseFrame {
                code: CloseCode::GOING_AWAY,
                reason: "bye".into(),
            });
            assert_eq!(
                m.poll().unwrap(),
                Some(Event::Close {
                    frame: frame1,
                    echo: Some(Echo::Code(CloseCode::GOING_AWAY))
                })
            );
            assert!(m.is_done());
            assert!(matches!(m.poll(), Err(Error::Closed)));

            let mut m = Inbound::new(role, limits());
            m.feed(&frame(role, true, OpCode::Close, b""));
            assert_eq!(
                m.poll().unwrap(),
                Some(Event::Close {
                    frame: None,
                    echo: Some(Echo::Empty)
                })
            );

            // Ours first: data still arrives, the peer's Close is not echoed.
            let mut m = Inbound::new(role, limits());
            m.close_sent();
            m.feed(&frame(role, true, OpCode::Binary, b"late"));
            m.feed(&frame(role, true, OpCode::Close, b"\x03\xe8"));
            let got = events(&mut m);
            assert_eq!(got.len(), 2);
            assert_eq!(got[0], Event::Message(Message::Binary(b"late".to_vec())));
            assert!(matches!(got[1], Event::Close { echo: None, .. }));
        }
    }

    /// Keepalive with a clock that only the test moves: a Ping after the
    /// interval of silence, none while bytes arrive, a timeout when the Pong
    /// never comes, and the read buffer released while idle.
    #[test]
    fn keepalive_and_ping_timeout_without_sleeping() {
        let s = Duration::from_secs;
        let mut m = Inbound::new(Role::Server, limits());
        assert_eq!(m.wait_for(), Some(s(30)));
        // Twenty seconds of silence in two reads, then a byte: no Ping.
        assert_eq!(m.on_silence(s(10)).unwrap(), None);
        assert_eq!(m.wait_for(), Some(s(20)));
        assert_eq!(m.on_silence(s(10)).unwrap(), None);
        m.feed(&frame(Role::Server, true, OpCode::Text, b"hi"));
        assert_eq!(events(&mut m), vec![text("hi")]);
        assert_eq!(m.wait_for(), Some(s(30)));
        // Thirty seconds of silence: a Ping, and the buffer goes.
        assert_eq!(m.on_silence(s(30)).unwrap(), Some(Control::Ping));
        assert!(m.input.is_empty());
        assert_eq!(m.wait_for(), Some(s(20)));
        // The Pong resets it, and leaves no read buffer behind.
        m.feed(&frame(Role::Server, true, OpCode::Pong, b""));
        assert_eq!(
            events(&mut m),
            vec![Event::Message(Message::Pong(Vec::new()))]
        );
        assert_eq!(m.wait_for(), Some(s(30)));
        assert!(m.buffer().is_none());
        assert_eq!(m.input.capacity(), 0);
        // A Ping, then twenty seconds with nothing: the ping timeout.
        assert_eq!(m.on_silence(s(30)).unwrap(), Some(Control::Ping));
        assert_eq!(m.on_silence(s(19)).unwrap(), None);
        assert!(matches!(
            m.on_silence(s(1)),
            Err(Error::Timeout(Timeout::Ping))
        ));
        assert!(m.is_done());

        // Keepalive off: no deadline at all.
        let mut off = limits();
        off.ping_interval = None;
        let mut m = Inbound::new(Role::Client, off);
        assert_eq!(m.wait_for(), None);
        assert_eq!(m.on_silence(s(3600)).unwrap(), None);
    }

    /// A timeout in the middle of a frame loses nothing: the frame completes
    /// with the bytes that come after.
    #[test]
    fn silence_mid_frame_keeps_the_frame() {
        let wire = frame(Role::Server, true, OpCode::Binary, &[7; 300]);
        let mut m = Inbound::new(Role::Server, limits());
        m.feed(&wire[..100]);
        assert_eq!(m.poll().unwrap(), None);
        assert_eq!(
            m.on_silence(Duration::from_secs(30)).unwrap(),
            Some(Control::Ping)
        );
        assert_eq!(m.pending(), (0, true));
        m.feed(&wire[100..]);
        assert_eq!(
            events(&mut m),
            vec![Event::Message(Message::Binary(vec![7; 300]))]
        );
    }

    /// The close deadline runs from when our Close went out, and keepalive
    /// stops meanwhile.
    #[test]
    fn close_timeout_without_sleeping() {
        let ms = Duration::from_millis;
        let mut m = Inbound::new(Role::Client, limits());
        assert_eq!(m.close_wait(ms(60_000)).unwrap(), None);
        assert_eq!(m.wait_for(), Some(Duration::from_secs(30)));
        m.close_sent();
        assert_eq!(m.wait_for(), None);
        assert_eq!(m.close_wait(ms(0)).unwrap(), Some(ms(5000)));
        assert_eq!(m.close_wait(ms(4999)).unwrap(), Some(ms(1)));
        // Reported again, the same Close changes nothing.
        m.close_sent();
        assert!(matches!(
            m.close_wait(ms(5000)),
            Err(Error::Timeout(Timeout::Close))
        ));
        assert!(m.is_done());
    }

    /// Limits are checked against the header, before any payload is kept;
    /// direct reads grow the message only as bytes arrive.
    #[test]
    fn limits_before_allocation() {
        let mut small = limits();
        small.max_message = 1000;
        small.max_frame = 600;
        let mut m = Inbound::new(Role::Server, small);
        let wire = frame(Role::Server, true, OpCode::Binary, &[0; 601]);
        m.feed(&wire[..8]);
        assert!(matches!(
            m.poll(),
            Err(Error::TooLarge {
                size: 601,
                max: 600
            })
        ));

        // A header claiming 1 MiB, then ten bytes read straight into the
        // message: the buffer is sized by what came, not what was claimed.
        let mut m = Inbound::new(Role::Server, limits());
        let mut bytes = vec![0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4];
        m.feed(&bytes);
        assert_eq!(m.poll().unwrap(), None);
        let buf = m.buffer().unwrap();
        assert!(buf.len() <= INPUT_BUF, "{}", buf.len());
        buf[..10].copy_from_slice(&[0; 10]);
        m.filled(10).unwrap();
        assert_eq!(m.message.len, 10);
        assert!(m.message.buf.len() <= INPUT_BUF);
        bytes.clear();
    }

    /// Invalid UTF-8 fails as soon as it arrives, mid-frame, with 1007.
    #[test]
    fn utf8_fails_mid_frame() {
        let wire = frame(Role::Client, true, OpCode::Text, b"ok\xffmore text here");
        let mut m = Inbound::new(Role::Client, limits());
        m.feed(&wire[..5]);
        let err = m.poll().unwrap_err();
        assert_eq!(err.close_code(), Some(CloseCode::INVALID_DATA));
    }

    /// The shell's own path (buffer/filled, or feed of a small first read
    /// when no buffer is held), with reads of every size, a keepalive tick
    /// between reads, control frames of every length interleaved with
    /// fragments, small and large: every event in order, nothing lost.
    #[test]
    fn shell_read_path_with_ticks_and_every_control_length() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for role in [Role::Server, Role::Client] {
            for round in 0..300 {
                let mut wire = Vec::new();
                let mut want = Vec::new();
                for i in 0..6 {
                    let plen = [0, 1, 3, 125, 200, 5000, 70000][rnd(7)];
                    let data: Vec<u8> = (0..plen).map(|j| (j * 7 + i) as u8).collect();
                    let cut = if plen > 0 { rnd(plen) } else { 0 };
                    wire.extend(frame(role, false, OpCode::Binary, &data[..cut]));
                    let clen = rnd(126);
                    let ping: Vec<u8> = (0..clen).map(|j| (j * 3 + round) as u8).collect();
                    wire.extend(frame(role, true, OpCode::Ping, &ping));
                    want.push(Event::Ping(ping.clone()));
                    wire.extend(frame(role, true, OpCode::Pong, &ping[..clen / 2]));
                    want.push(Event::Message(Message::Pong(ping[..clen / 2].to_vec())));
                    wire.extend(frame(role, true, OpCode::Continuation, &data[cut..]));
                    want.push(Event::Message(Message::Binary(data)));
                    let pong: Vec<u8> = (0..rnd(126)).map(|j| j as u8).collect();
                    wire.extend(frame(role, true, OpCode::Pong, &pong));
                    want.push(Event::Message(Message::Pong(pong)));
                }
                let mut m = Inbound::new(role, limits());
                let mut got = Vec::new();
                let mut at = 0;
                while at < wire.len() {
                    let most = [1, 2, 3, 7, 64, 128, 5000][rnd(7)];
                    match m.buffer() {
                        Some(buf) => {
                            let n = buf.len().min(most).min(wire.len() - at);
                            buf[..n].copy_from_slice(&wire[at..at + n]);
                            at += n;
                            m.filled(n).unwrap();
                        }
                        None => {
                            let n = 128.min(most).min(wire.len() - at);
                            m.feed(&wire[at..at + n]);
                            at += n;
                        }
                    }
                    got.extend(events(&mut m));
                    if rnd(3) == 0 {
                        let _ = m.on_silence(Duration::from_secs(30)).unwrap();
                    }
                }
                assert_eq!(got.len(), want.len(), "{:?} round {}", role, round);
                assert!(got == want, "{:?} round {}", role, round);
            }
        }
    }
}
