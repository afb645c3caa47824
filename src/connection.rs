//! One WebSocket connection over a blocking stream: frame reassembly,
//! fail-fast UTF-8, automatic Pongs, keepalive and the close handshake.
//!
//! ```text
//!                 read() → peer's Close: reply, close TCP
//!        ┌──────────────────────────────────────────────────┐
//!        │                                                  ▼
//!     ┌──────┐  close() / Sender::close / shutdown     ┌──────────┐
//!     │ Open │ ───────────────────────────────────────▶│ Closing  │
//!     └──────┘  (our Close sent; data still delivered) └──────────┘
//!        │                                                  │ peer's Close, or
//!        │ protocol error: send 1002/1007/1009,             │ close_timeout:
//!        │ close TCP                                        │ close TCP
//!        ▼                                                  ▼
//!     ┌─────────────────────────────────────────────────────────┐
//!     │ Closed: read/send return Error::Closed                  │
//!     └─────────────────────────────────────────────────────────┘
//! ```
//!
//! Keepalive needs no extra thread: the socket's read timeout is the ping
//! interval while idle and the ping timeout while a Ping is unanswered, so a
//! timed-out read is the tick. Partial frames live in `self`, never in local
//! variables, so a timeout in the middle of a frame loses nothing.

use std::io::{self, Read, Write};
use std::mem;
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::{is_timeout, Error, ProtocolError, Result, Timeout};
use crate::frame::{apply_mask, decode_header, Header, OpCode};
use crate::message::{CloseCode, CloseFrame, Message, Utf8Check, MAX_REASON};
use crate::request::Request;
use crate::sender::{send_message, Ending, Sender, Shared};
use crate::stream::{linger, Io, Stream};

/// The read buffer's size once a connection has received something. It holds
/// frame headers, control frames and small messages; larger payloads are read
/// straight into the message.
const INPUT_BUF: usize = 4096;
/// While reads keep filling the read buffer (pipelined traffic), it doubles
/// up to this, so that one read takes several frames: at 16 KiB x 4 in
/// flight this cut server CPU per message by 13% (scripts/bench.sh). It is
/// released with the rest of the buffer on the next idle tick.
const MAX_INPUT: usize = 64 * 1024;
/// Read the first bytes after an idle spell into the stack, so a connection
/// that never speaks never allocates a read buffer. Small, because every
/// idle connection's stack stays resident as deep as this read went: a
/// keepalive Pong or a small message fits, a larger one takes a second read.
const FIRST_READ: usize = 128;
/// The largest single read straight into a message.
const DIRECT_CHUNK: usize = 256 * 1024;

/// One open WebSocket connection, server side.
///
/// Made by [`accept`](crate::accept) or handed to a [`Server`](crate::Server)
/// handler. [`read`](Self::read) blocks for the next message, answering
/// Pings, sending keepalive Pings and enforcing every limit on the way. To
/// send from other threads meanwhile, take a [`Sender`].
///
/// Dropping an open connection sends Close (1000, or 1011 while a panic
/// unwinds) and closes TCP.
///
/// The stream is kept in an `Arc`, ready to be shared with Senders, so a
/// `WebSocket<S>` can move to another thread when `S` is `Send + Sync`, as
/// `TcpStream` is. For a stream that is only `Send`, wrap it in a type
/// holding a `Mutex<S>`: the connection's own reads and writes reach it
/// through `Mutex::get_mut`, without locking.
pub struct WebSocket<S: Stream> {
    stream: Io<S>,
    shared: Arc<Shared>,
    limits: Limits,
    request: Option<Request>,
    subprotocol: Option<String>,
    /// Received bytes not yet used: `input[start..end]`.
    input: Vec<u8>,
    start: usize,
    end: usize,
    /// The frame whose payload is arriving.
    frame: Option<InFrame>,
    message: Assembly,
    /// A control frame's payload: at most 125 bytes (RFC 6455 section 5.5).
    control: heapless::Vec<u8, 125>,
    keepalive: Keepalive,
    /// The read timeout the socket has now; `None` until first set.
    read_timeout: Option<Option<Duration>>,
    closed: bool,
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    max_message: usize,
    max_frame: usize,
    max_fragments: usize,
    ping_interval: Option<Duration>,
    ping_timeout: Duration,
    close_timeout: Duration,
}

#[derive(Debug, Clone, Copy)]
struct InFrame {
    opcode: OpCode,
    fin: bool,
    mask: [u8; 4],
    len: u64,
    done: u64,
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
}

impl Assembly {
    /// The `n` bytes after the filled part, zeroing new memory only once.
    fn space(&mut self, n: usize) -> &mut [u8] {
        if self.buf.len() < self.len + n {
            self.buf.resize(self.len + n, 0);
        }
        &mut self.buf[self.len..self.len + n]
    }

    /// Unmasks and checks `n` bytes just placed after the filled part.
    fn commit(&mut self, n: usize, mask: [u8; 4], offset: u64) -> Result<()> {
        let piece = &mut self.buf[self.len..self.len + n];
        apply_mask(piece, mask, (offset % 4) as usize);
        if self.opcode == Some(OpCode::Text) {
            self.utf8.feed(piece)?;
        }
        self.len += n;
        Ok(())
    }

    fn take(&mut self) -> Result<Message> {
        let opcode = self.opcode.take();
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

impl<S: Stream> WebSocket<S> {
    /// Builds the connection straight into its box, in a frame of its own,
    /// so that the handshake's frame, under which the accept key is computed
    /// (the deepest point of a connection's stack), holds no copy of it.
    #[inline(never)]
    pub(crate) fn from_handshake(
        stream: Io<S>,
        config: &Config,
        shared: Arc<Shared>,
        request: Request,
        subprotocol: Option<String>,
        rest: Vec<u8>,
    ) -> Box<WebSocket<S>> {
        let mut ws = WebSocket::new(stream, config, shared);
        ws.request = Some(request);
        ws.subprotocol = subprotocol;
        if !rest.is_empty() {
            ws.end = rest.len();
            ws.input = rest;
            ws.input.resize(INPUT_BUF.max(ws.end), 0);
        }
        Box::new(ws)
    }

    fn new(stream: Io<S>, config: &Config, shared: Arc<Shared>) -> WebSocket<S> {
        WebSocket {
            stream,
            shared,
            limits: Limits {
                max_message: config.max_message_size,
                max_frame: config.max_frame_size,
                max_fragments: config.max_fragments,
                ping_interval: config.ping_interval,
                ping_timeout: config.ping_timeout,
                close_timeout: config.close_timeout,
            },
            request: None,
            subprotocol: None,
            input: Vec::new(),
            start: 0,
            end: 0,
            frame: None,
            message: Assembly::default(),
            control: heapless::Vec::new(),
            keepalive: if config.ping_interval.is_some() {
                Keepalive::Idle
            } else {
                Keepalive::Off
            },
            read_timeout: None,
            closed: false,
        }
    }

    /// Wraps a stream whose opening handshake is already done (by your own
    /// code, or not needed in a test).
    ///
    /// # Errors
    /// [`Error::Config`] for a bad `config`; I/O errors from setting the
    /// write timeout.
    pub fn from_raw(stream: S, config: &Config) -> Result<WebSocket<S>> {
        config.validate()?;
        stream.set_write_timeout(Some(config.write_timeout))?;
        Ok(WebSocket::new(Io::new(stream), config, Shared::new()))
    }

    /// Blocks until the next message arrives.
    ///
    /// Pings are answered before they are returned. A [`Message::Close`] is
    /// returned once, after the reply has been sent and TCP closed. When the
    /// peer breaks the protocol, the matching close code (1002, 1007 or
    /// 1009) is sent and the error returned.
    ///
    /// # Errors
    /// [`Error::Protocol`], [`Error::InvalidUtf8`], [`Error::TooLarge`] and
    /// [`Error::TooManyFragments`] for a peer's violation;
    /// [`Error::Timeout`] when the peer stopped answering pings or did not
    /// answer our Close; [`Error::Disconnected`] when TCP closed without a
    /// Close; [`Error::Closed`] on use after close.
    pub fn read(&mut self) -> Result<Message> {
        if self.closed {
            return Err(Error::Closed);
        }
        let result = self.next_message();
        if let Err(e) = &result {
            self.fail(e);
        }
        result
    }

    /// Sends a message: a `&str` or `String` as text, a `Vec<u8>` or `&[u8]`
    /// as binary, or any [`Message`]. Sending [`Message::Close`] starts the
    /// close handshake; the peer's reply arrives through [`read`](Self::read).
    ///
    /// # Errors
    /// [`Error::Closed`] once a Close has been sent or the connection ended;
    /// [`Error::Timeout`] when the write stalled past the write timeout (the
    /// connection is then closed); [`Error::Config`] for a control payload
    /// over 125 bytes.
    pub fn send(&mut self, message: impl Into<Message>) -> Result<()> {
        if self.closed {
            return Err(Error::Closed);
        }
        let result = send_message(&self.shared, Some(&mut self.stream), message.into());
        if let Err(e @ (Error::Io(_) | Error::Timeout(_) | Error::Disconnected)) = &result {
            self.fail(e);
        }
        result
    }

    /// Sends a Ping with up to 125 bytes of payload.
    ///
    /// # Errors
    /// As for [`send`](Self::send).
    pub fn ping(&mut self, payload: &[u8]) -> Result<()> {
        self.send(Message::Ping(payload.to_vec()))
    }

    /// Closes the connection: sends Close with `code` and `reason` (at most
    /// 123 bytes), waits up to
    /// [`Config::close_timeout`](crate::Config::close_timeout) for the peer's
    /// Close while discarding its data, then closes TCP. Calling it again is
    /// a no-op.
    ///
    /// # Errors
    /// [`Error::Config`] for a reason over 123 bytes or a code that may not
    /// be sent (1005, 1006, 1015, or outside the ranges of
    /// [`CloseCode::is_allowed`]), leaving the connection open; [`Error::Timeout`]
    /// when the peer did not answer in time (TCP is closed all the same);
    /// I/O errors.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        if reason.len() > MAX_REASON {
            return Err(Error::Config("close reason longer than 123 bytes"));
        }
        match self.shared.send_close(Some(&mut self.stream), code, reason) {
            // A Sender got there first; wait for the reply all the same.
            Ok(()) | Err(Error::Closed) => {}
            // A bad argument: nothing was sent, the connection is untouched.
            Err(e @ Error::Config(_)) => return Err(e),
            Err(e) => {
                self.fail(&e);
                return Err(e);
            }
        }
        loop {
            match self.read() {
                Ok(Message::Close(_)) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// A handle that sends on this connection from any thread.
    ///
    /// The first call shares the stream with [`Stream::share`] (no second
    /// file descriptor); from then on every write of this connection goes
    /// through one lock.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a stream type that cannot be shared.
    pub fn sender(&mut self) -> Result<Sender> {
        if !self.closed && !self.shared.is_split() {
            let stream = self.stream.share().ok_or(Error::Unsupported(
                "this stream type cannot be shared between threads",
            ))?;
            self.shared.split(stream);
        }
        Ok(Sender {
            shared: Arc::clone(&self.shared),
        })
    }

    /// The opening request (path, query, headers, peer address), when this
    /// connection came through [`accept`](crate::accept) or a
    /// [`Server`](crate::Server).
    pub fn request(&self) -> Option<&Request> {
        self.request.as_ref()
    }

    /// The subprotocol chosen in the handshake, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// Whether the connection has ended; `read` and `send` now return
    /// [`Error::Closed`].
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream.0
    }

    /// The underlying stream, mutably, unless it is shared: with
    /// [`Sender`]s, and always on a [`Server`](crate::Server)'s connections
    /// (shutdown reaches them through it). Reading or writing it directly
    /// corrupts the connection.
    pub fn get_mut(&mut self) -> Option<&mut S> {
        Arc::get_mut(&mut self.stream.0)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn next_message(&mut self) -> Result<Message> {
        loop {
            if let Some(message) = self.process()? {
                return Ok(message);
            }
            self.fill()?;
        }
    }

    /// Works through buffered bytes. Returns a message when one completes,
    /// `None` when more bytes are needed.
    fn process(&mut self) -> Result<Option<Message>> {
        loop {
            let mut frame = match self.frame {
                Some(frame) => frame,
                None => match decode_header(&self.input[self.start..self.end])? {
                    None => return Ok(None),
                    Some((header, used)) => {
                        self.start += used;
                        self.begin_frame(header)?
                    }
                },
            };
            let take = frame.remaining().min((self.end - self.start) as u64) as usize;
            if take > 0 {
                let src = &self.input[self.start..self.start + take];
                if frame.opcode.is_control() {
                    let at = self.control.len();
                    // decode_header refused control payloads over 125 bytes.
                    self.control
                        .extend_from_slice(src)
                        .map_err(|_| Error::Protocol(ProtocolError::ControlFrameTooLarge))?;
                    apply_mask(
                        &mut self.control[at..],
                        frame.mask,
                        (frame.done % 4) as usize,
                    );
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
            if let Some(message) = self.end_frame(frame)? {
                return Ok(Some(message));
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
        match header.opcode {
            OpCode::Continuation if msg.opcode.is_none() => {
                return Err(Error::Protocol(ProtocolError::UnexpectedContinuation))
            }
            OpCode::Text | OpCode::Binary if msg.opcode.is_some() => {
                return Err(Error::Protocol(ProtocolError::ExpectedContinuation))
            }
            OpCode::Text | OpCode::Binary => msg.opcode = Some(header.opcode),
            _ => {}
        }
        if !header.opcode.is_control() {
            msg.fragments += 1;
            if msg.fragments > self.limits.max_fragments {
                return Err(Error::TooManyFragments {
                    max: self.limits.max_fragments,
                });
            }
            if header.len > self.limits.max_frame as u64 {
                return Err(Error::TooLarge {
                    size: header.len,
                    max: self.limits.max_frame,
                });
            }
            let total = msg.len as u64 + header.len;
            if total > self.limits.max_message as u64 {
                return Err(Error::TooLarge {
                    size: total,
                    max: self.limits.max_message,
                });
            }
        }
        Ok(InFrame {
            opcode: header.opcode,
            fin: header.fin,
            // decode_header refuses unmasked client frames.
            mask: header.mask.unwrap_or([0; 4]),
            len: header.len,
            done: 0,
        })
    }

    fn end_frame(&mut self, frame: InFrame) -> Result<Option<Message>> {
        let payload = mem::take(&mut self.control);
        let payload = payload.as_slice();
        match frame.opcode {
            OpCode::Ping => {
                let payload = payload.to_vec();
                // After our Close nothing more is sent, and a Sender may
                // close between any check and this write: skip, don't fail.
                match self
                    .shared
                    .write_frame(Some(&mut self.stream), OpCode::Pong, &payload)
                {
                    Ok(()) | Err(Error::Closed) => {}
                    Err(e) => return Err(e),
                }
                Ok(Some(Message::Ping(payload)))
            }
            OpCode::Pong => Ok(Some(Message::Pong(payload.to_vec()))),
            OpCode::Close => {
                let close = CloseFrame::parse(payload)?;
                let code = close.as_ref().map(|c| c.code);
                let by = if self.shared.close_sent() {
                    "server"
                } else {
                    // Echo the code (RFC 6455 section 5.5.1); none for none.
                    let reply = match code {
                        Some(code) => self.shared.send_close(Some(&mut self.stream), code, ""),
                        None => self
                            .shared
                            .write_frame(Some(&mut self.stream), OpCode::Close, &[]),
                    };
                    if let Err(e) = reply {
                        log::debug!("close reply not sent: {}", e);
                    }
                    "peer"
                };
                self.finish(Ending {
                    by,
                    code,
                    error: None,
                });
                Ok(Some(Message::Close(close)))
            }
            _ if frame.fin => self.message.take().map(Some),
            _ => Ok(None),
        }
    }

    /// Blocks until more bytes arrive, sending keepalive Pings and enforcing
    /// the ping and close timeouts on the way.
    fn fill(&mut self) -> Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.input.len() {
            self.input.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        loop {
            self.set_read_timeout()?;
            let direct = match self.frame {
                Some(f)
                    if self.start == self.end
                        && !f.opcode.is_control()
                        && f.remaining() >= self.input.len().max(INPUT_BUF) as u64 =>
                {
                    Some(f)
                }
                _ => None,
            };
            let result = match direct {
                // Large payloads skip the read buffer.
                Some(f) => {
                    // Grow with the bytes that actually arrive, never with what
                    // the header claims: a bare header must not cost memory.
                    let grown = self.message.len.max(INPUT_BUF) as u64;
                    let want = f.remaining().min(DIRECT_CHUNK as u64).min(grown) as usize;
                    nonzero(self.stream.read(self.message.space(want)))
                }
                None => self.read_input(),
            };
            match result {
                Ok(n) => {
                    if self.keepalive == Keepalive::AwaitingPong {
                        self.keepalive = Keepalive::Idle;
                    }
                    if let Some(mut f) = direct {
                        self.message.commit(n, f.mask, f.done)?;
                        f.done += n as u64;
                        self.frame = Some(f);
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => self.on_idle()?,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(Error::Disconnected)
                }
                Err(e) => return Err(Error::from_io(e, Timeout::Ping)),
            }
        }
    }

    /// Reads into the read buffer; returns how many bytes came.
    fn read_input(&mut self) -> io::Result<usize> {
        if self.input.is_empty() {
            let mut first = [0u8; FIRST_READ];
            let n = nonzero(self.stream.read(&mut first))?;
            self.input = vec![0; INPUT_BUF];
            self.input[..n].copy_from_slice(&first[..n]);
            self.end = n;
            Ok(n)
        } else {
            if self.end == self.input.len() {
                // Cannot happen (payload bytes leave the buffer as they
                // arrive), but a read into no space would look like EOF.
                self.input.resize(self.input.len() + INPUT_BUF, 0);
            }
            let space = self.input.len() - self.end;
            let n = nonzero(self.stream.read(&mut self.input[self.end..]))?;
            self.end += n;
            if n == space && self.input.len() < MAX_INPUT {
                // More is probably waiting: take it in fewer reads next time.
                let len = self.input.len() * 2;
                self.input.resize(len, 0);
            }
            Ok(n)
        }
    }

    /// A read timed out: time for a keepalive Ping, or past a deadline.
    fn on_idle(&mut self) -> Result<()> {
        if self.shared.close_sent() {
            // Closing: set_read_timeout enforces the close deadline.
            return Ok(());
        }
        match self.keepalive {
            Keepalive::Idle => {
                if self.start == self.end && self.frame.is_none() {
                    // Idle: hold no read buffer.
                    self.input = Vec::new();
                    self.start = 0;
                    self.end = 0;
                }
                log::trace!("keepalive ping");
                match self
                    .shared
                    .write_frame(Some(&mut self.stream), OpCode::Ping, &[])
                {
                    // A Sender closed meanwhile: the close deadline takes over.
                    Ok(()) | Err(Error::Closed) => {}
                    Err(e) => return Err(e),
                }
                self.keepalive = Keepalive::AwaitingPong;
                Ok(())
            }
            Keepalive::AwaitingPong => Err(Error::Timeout(Timeout::Ping)),
            Keepalive::Off => Ok(()),
        }
    }

    /// Sets the socket's read timeout for the current state, only when it
    /// changes: the ping interval while idle, the ping timeout while a Ping
    /// is unanswered, what is left of the close timeout while closing.
    fn set_read_timeout(&mut self) -> Result<()> {
        let want = if let Some(deadline) = self.shared.close_deadline(self.limits.close_timeout) {
            // Measured from when our Close went out, whoever sent it.
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout(Timeout::Close));
            }
            Some(deadline - now)
        } else {
            match self.keepalive {
                Keepalive::Off => None,
                Keepalive::Idle => self.limits.ping_interval,
                Keepalive::AwaitingPong => Some(self.limits.ping_timeout),
            }
        };
        if self.read_timeout != Some(want) {
            self.stream.set_read_timeout(want)?;
            self.read_timeout = Some(want);
        }
        Ok(())
    }

    /// Fails the connection: sends the error's close code if it has one,
    /// then closes TCP.
    fn fail(&mut self, error: &Error) {
        if self.closed {
            return;
        }
        let code = error.close_code();
        if let Some(code) = code {
            log::debug!("failing connection with {}: {}", code, error);
            let reason = error.to_string();
            let reason = truncate(&reason, MAX_REASON);
            let _ = self.shared.send_close(Some(&mut self.stream), code, reason);
            // Let the Close reach the peer before the socket closes.
            linger(&mut self.stream);
        } else {
            log::debug!("connection ended: {}", error);
        }
        self.finish(Ending {
            by: "error",
            code,
            error: Some(error.to_string()),
        });
    }

    fn finish(&mut self, ending: Ending) {
        self.closed = true;
        self.frame = None;
        self.input = Vec::new();
        self.message = Assembly::default();
        self.shared.finish(ending);
        let _ = self.stream.flush();
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// A zero-byte read means the peer closed TCP.
fn nonzero(read: io::Result<usize>) -> io::Result<usize> {
    match read {
        Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
        other => other,
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl<S: Stream> Drop for WebSocket<S> {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let panicking = std::thread::panicking();
        let (code, reason) = if panicking {
            (CloseCode::INTERNAL_ERROR, "internal error")
        } else {
            (CloseCode::NORMAL, "")
        };
        if !self.shared.close_sent() {
            let _ = self.shared.send_close(Some(&mut self.stream), code, reason);
        }
        let error = if panicking {
            Some("handler panicked".to_owned())
        } else {
            None
        };
        self.finish(Ending {
            by: "server",
            code: Some(code),
            error,
        });
    }
}

impl<S: Stream> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("request", &self.request)
            .field("subprotocol", &self.subprotocol)
            .field("closed", &self.closed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Read, Write};

    /// Hands out its bytes, then reports the peer gone.
    struct Feed(Cursor<Vec<u8>>);

    impl Read for Feed {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(io::ErrorKind::ConnectionReset.into()),
                n => Ok(n),
            }
        }
    }

    impl Write for Feed {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Stream for Feed {}

    /// A header claiming a large payload costs memory only as the payload
    /// arrives: 14 bytes must not buy a 256 KiB buffer.
    #[test]
    fn a_bare_header_costs_no_memory() {
        // A masked binary frame claiming 1 MiB, then 10 payload bytes.
        let mut bytes = vec![0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4];
        bytes.extend_from_slice(&[0u8; 10]);
        let config = Config::default().ping_interval(None);
        let mut ws = WebSocket::from_raw(Feed(Cursor::new(bytes)), &config).unwrap();
        assert!(matches!(ws.next_message(), Err(Error::Disconnected)));
        assert_eq!(ws.message.len, 10);
        assert!(
            ws.message.buf.len() <= 10 + INPUT_BUF,
            "{}",
            ws.message.buf.len()
        );
    }
}
