//! [`WebSocket`]: one connection, either role, over a blocking stream. The
//! thin shell around the receive machine in `proto::inbound`: it reads, writes,
//! reads the clock and sets socket timeouts; every protocol decision is the
//! machine's.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::{is_timeout, Error, Result, Timeout};
use crate::handshake::client::Response;
use crate::message::{Message, Payload};
use crate::proto::close::{CloseCode, MAX_REASON};
use crate::proto::frame::OpCode;
use crate::proto::inbound::{Control, Echo, Event, Inbound, Limits};
use crate::proto::{ClosedBy, Role};
use crate::request::Request;
use crate::sender::Sender;
use crate::socket::Socket;
use crate::stream::{discard, Io, Stream};
use crate::writer::{Ending, Writer};

/// Read the first bytes after an idle spell into the stack, so a connection
/// that never speaks never allocates a read buffer. Small: stack depth,
/// DESIGN.md, "Memory".
const FIRST_READ: usize = 128;

/// One open WebSocket connection, server or client side.
///
/// Made by [`accept`](crate::accept) or handed to a [`Server`](crate::Server)
/// handler. [`read`](Self::read) blocks for the next message, answering
/// Pings, sending keepalive Pings and enforcing every limit on the way. To
/// send from other threads meanwhile, take a [`Sender`].
///
/// The stream defaults to [`Socket`], so handlers are written
/// `|mut ws: WebSocket|`.
///
/// Dropping an open connection sends Close (1000, or 1011 while a panic
/// unwinds) and closes the transport.
///
/// The stream is kept in an `Arc`, ready to be shared with Senders, so a
/// `WebSocket<S>` can move to another thread when `S` is `Send + Sync`, as
/// `Socket` and `TcpStream` are.
pub struct WebSocket<S: Stream = Socket> {
    stream: Io<S>,
    writer: Arc<Writer>,
    inbound: Inbound,
    /// When `read_timeout` last returned: the time until the next call is
    /// silence for keepalive too (nothing was read then).
    returned_at: Option<Instant>,
    request: Option<Box<Request>>,
    /// Client: the server's 101, boxed: a server connection holds none.
    response: Option<Box<Response>>,
    /// The code of the Close the peer sent, once one arrived.
    peer_close: Option<CloseCode>,
    subprotocol: Option<String>,
    /// The read timeout the socket has now; `None` until first set.
    read_timeout: Option<Option<Duration>>,
    closed: bool,
}

impl<S: Stream> WebSocket<S> {
    /// Builds the connection straight into its box, in a frame of its own
    /// (stack depth: DESIGN.md, "Memory").
    #[inline(never)]
    pub(crate) fn boxed(
        stream: Io<S>,
        config: &Config,
        writer: Arc<Writer>,
        request: Option<Box<Request>>,
        subprotocol: Option<String>,
        rest: &[u8],
    ) -> Box<WebSocket<S>> {
        let mut ws = WebSocket::new(stream, config, writer);
        ws.request = request;
        ws.subprotocol = subprotocol;
        ws.inbound.feed(rest);
        Box::new(ws)
    }

    fn new(stream: Io<S>, config: &Config, writer: Arc<Writer>) -> WebSocket<S> {
        let limits = Limits {
            max_message: config.max_message_size,
            max_frame: config.max_frame_size,
            max_fragments: config.max_fragments,
            ping_interval: config.ping_interval,
            ping_timeout: config.ping_timeout,
            close_timeout: config.close_timeout,
        };
        let mut inbound = Inbound::new(writer.role(), limits);
        inbound.set_deflate(writer.inflater());
        WebSocket {
            inbound,
            stream,
            writer,
            returned_at: None,
            request: None,
            response: None,
            peer_close: None,
            subprotocol: None,
            read_timeout: None,
            closed: false,
        }
    }

    /// Wraps a stream whose opening handshake is already done (by your own
    /// code, or not needed in a test), as the given end of the connection.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad `config`; I/O errors from setting the
    /// write timeout.
    pub fn from_raw(stream: S, role: Role, config: &Config) -> Result<WebSocket<S>> {
        config.validate()?;
        stream.set_write_timeout(Some(config.write_timeout))?;
        Ok(WebSocket::new(Io::new(stream), config, Writer::new(role)))
    }

    /// Blocks until the next message arrives.
    ///
    /// Pings are answered before they are returned. A [`Message::Close`] is
    /// returned once, after the reply has been sent and the transport closed.
    /// When the peer breaks the protocol, the matching close code (1002,
    /// 1007 or 1009) is sent and the error returned.
    ///
    /// # Errors
    /// [`Error::Protocol`], [`Error::InvalidUtf8`], [`Error::TooLarge`] and
    /// [`Error::TooManyFragments`] for a peer's violation;
    /// [`Error::Timeout`] when the peer stopped answering pings or did not
    /// answer our Close; [`Error::Disconnected`] when the transport closed
    /// without a Close; [`Error::Closed`] on use after close.
    pub fn read(&mut self) -> Result<Message> {
        self.returned_at = None;
        let mut gap = Duration::from_secs(0);
        loop {
            if let Some(message) = self.read_until(None, &mut gap)? {
                return Ok(message);
            }
        }
    }

    /// Like [`read`](Self::read), but waits at most `timeout` for a message
    /// to complete. `Ok(None)` means none did: a partial frame stays
    /// buffered, keepalive keeps running, and the connection stays open.
    ///
    /// # Errors
    /// As for [`read`](Self::read).
    pub fn read_timeout(&mut self, timeout: Duration) -> Result<Option<Message>> {
        let now = Instant::now();
        // Time spent away since the last call was silence too, unless bytes
        // turn out to be waiting.
        let mut gap = match self.returned_at {
            Some(at) => now.saturating_duration_since(at),
            None => Duration::from_secs(0),
        };
        let result = self.read_until(Some(now.checked_add(timeout)), &mut gap);
        self.returned_at = Some(Instant::now());
        result
    }

    /// `deadline`: `None` to block until a message completes; `Some(None)`
    /// for a timeout too long to represent. `gap`: silence not yet reported.
    fn read_until(
        &mut self,
        deadline: Option<Option<Instant>>,
        gap: &mut Duration,
    ) -> Result<Option<Message>> {
        if self.closed {
            return Err(Error::Closed);
        }
        let result = self.next_message(deadline, gap);
        if let Err(e) = &result {
            self.fail(e);
        }
        result
    }

    fn next_message(
        &mut self,
        deadline: Option<Option<Instant>>,
        gap: &mut Duration,
    ) -> Result<Option<Message>> {
        loop {
            if let Some(event) = self.inbound.poll()? {
                return self.on_event(event).map(Some);
            }
            if !self.fill(deadline, gap)? {
                return Ok(None);
            }
        }
    }

    fn on_event(&mut self, event: Event) -> Result<Message> {
        match event {
            Event::Message(message) => Ok(message),
            Event::Ping(payload) => {
                // After our Close nothing more is sent, and a Sender may
                // close between any check and this write: skip, don't fail.
                match self
                    .writer
                    .write_frame(Some(&mut self.stream), OpCode::Pong, &payload)
                {
                    Ok(()) | Err(Error::Closed) => {}
                    Err(e) => return Err(e),
                }
                Ok(Message::Ping(payload))
            }
            Event::Close { frame, echo } => {
                self.peer_close = frame.as_ref().map(|f| f.code);
                let by = match echo {
                    None => ClosedBy::Us,
                    Some(echo) => {
                        let reply = match echo {
                            Echo::Code(code) => {
                                self.writer.send_close(Some(&mut self.stream), code, "")
                            }
                            Echo::Empty => {
                                self.writer
                                    .write_frame(Some(&mut self.stream), OpCode::Close, &[])
                            }
                        };
                        if let Err(e) = reply {
                            log::debug!("close reply not sent: {}", e);
                        }
                        ClosedBy::Peer
                    }
                };
                if self.inbound.role() == Role::Client {
                    // The server closes TCP first (RFC 6455 section 7.1.1);
                    // wait for it, within the close timeout.
                    let _ = self.stream.flush();
                    discard(&mut self.stream, self.inbound.close_timeout(), usize::MAX);
                }
                self.finish(Ending {
                    by,
                    code: frame.as_ref().map(|f| f.code),
                    error: None,
                });
                Ok(Message::Close(frame))
            }
        }
    }

    /// Blocks until more bytes arrive, sending keepalive Pings and enforcing
    /// the ping and close timeouts on the way. `Ok(false)`: the caller's
    /// deadline passed first.
    fn fill(&mut self, deadline: Option<Option<Instant>>, gap: &mut Duration) -> Result<bool> {
        loop {
            // Our Close may have gone out from another thread while this
            // one was blocked: from then on the close deadline rules.
            let mut wait = self.inbound.wait_for().map(|w| w.saturating_sub(*gap));
            if let Some(at) = self.writer.close_sent_at() {
                // The clock is read only while closing, or for read_timeout.
                self.inbound.close_sent();
                let since = Instant::now().saturating_duration_since(at);
                if let Some(left) = self.inbound.close_wait(since)? {
                    wait = Some(left);
                }
            }
            let mut callers = false;
            if let Some(Some(deadline)) = deadline {
                let now = Instant::now();
                if now >= deadline {
                    return Ok(false);
                }
                let left = deadline - now;
                if wait.map_or(true, |w| left < w) {
                    wait = Some(left);
                    callers = true;
                }
            }
            self.set_read_timeout(wait)?;
            let read = match self.inbound.buffer() {
                Some(buf) => Some(nonzero(self.stream.read(buf))),
                None => None,
            };
            let result = match read {
                Some(Ok(n)) => {
                    self.inbound.filled(n)?;
                    Ok(())
                }
                Some(Err(e)) => Err(e),
                None => {
                    let mut first = [0u8; FIRST_READ];
                    nonzero(self.stream.read(&mut first)).map(|n| self.inbound.feed(&first[..n]))
                }
            };
            match result {
                Ok(()) => {
                    *gap = Duration::from_secs(0);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => {
                    if let Some(waited) = wait {
                        let silence = waited.saturating_add(std::mem::take(gap));
                        if let Some(Control::Ping) = self.inbound.on_silence(silence)? {
                            log::trace!("keepalive ping");
                            // A Sender closed meanwhile: the close deadline
                            // takes over.
                            match self
                                .writer
                                .write_frame(Some(&mut self.stream), OpCode::Ping, &[])
                            {
                                Ok(()) | Err(Error::Closed) => {}
                                Err(e) => return Err(e),
                            }
                        }
                    }
                    if callers {
                        return Ok(false);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(Error::Disconnected)
                }
                Err(e) => return Err(Error::from_io(e, Timeout::Ping)),
            }
        }
    }

    /// Sets the socket's read timeout, only when it changes.
    fn set_read_timeout(&mut self, want: Option<Duration>) -> Result<()> {
        if self.read_timeout != Some(want) {
            self.stream.set_read_timeout(want)?;
            self.read_timeout = Some(want);
        }
        Ok(())
    }

    /// Sends a message: `&str` or `String` as text, `&[u8]`, `Vec<u8>` or a
    /// byte array as binary, or any [`Message`]. On a server nothing is
    /// copied; a client masks a copy of the payload (RFC 6455 section 5.3).
    /// Sending
    /// [`Message::Close`] starts the close handshake; the peer's reply
    /// arrives through [`read`](Self::read).
    ///
    /// # Errors
    /// [`Error::Closed`] once a Close has been sent or the connection ended;
    /// [`Error::Timeout`] when the write stalled past the write timeout (the
    /// connection is then closed); [`Error::InvalidInput`] for a control
    /// payload over 125 bytes.
    pub fn send(&mut self, message: impl Payload) -> Result<()> {
        if self.closed {
            return Err(Error::Closed);
        }
        let result = self.writer.send(Some(&mut self.stream), message.outgoing());
        self.after_write(result)
    }

    /// Sends a Ping with up to 125 bytes of payload.
    ///
    /// # Errors
    /// As for [`send`](Self::send).
    pub fn ping(&mut self, payload: &[u8]) -> Result<()> {
        if self.closed {
            return Err(Error::Closed);
        }
        let result = self
            .writer
            .write_frame(Some(&mut self.stream), OpCode::Ping, payload);
        self.after_write(result)
    }

    /// A failed write ends the connection; a bad argument leaves it open.
    fn after_write(&mut self, result: Result<()>) -> Result<()> {
        if let Err(e @ (Error::Io(_) | Error::Timeout(_) | Error::Disconnected)) = &result {
            self.fail(e);
        }
        result
    }

    /// Closes the connection: sends Close with `code` and `reason` (at most
    /// 123 bytes), waits up to
    /// [`Config::close_timeout`](crate::Config::close_timeout) for the peer's
    /// Close while discarding its data, then closes the transport; a client
    /// first waits up to the close timeout again for the server to close TCP
    /// (RFC 6455 section 7.1.1). Calling it again is a no-op.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a reason over 123 bytes or a code that
    /// may not be sent (1005, 1006, 1015, or outside the ranges of
    /// [`CloseCode::is_allowed`]), leaving the connection open;
    /// [`Error::Timeout`] when the peer did not answer in time (the
    /// transport is closed all the same); I/O errors.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.writer.send_close(Some(&mut self.stream), code, reason) {
            // A Sender got there first; wait for the reply all the same.
            Ok(()) | Err(Error::Closed) => {}
            // A bad argument: nothing was sent, the connection is untouched.
            Err(e @ Error::InvalidInput(_)) => return Err(e),
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
    /// The first call shares the stream (no second file descriptor); from
    /// then on every write of this connection goes through one lock.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a stream type that cannot be shared.
    pub fn sender(&mut self) -> Result<Sender> {
        if !self.closed && !self.writer.is_split() {
            let stream = self.stream.share().ok_or(Error::Unsupported(
                "this stream type cannot be shared between threads",
            ))?;
            self.writer.split(stream);
        }
        Ok(Sender {
            writer: Arc::clone(&self.writer),
        })
    }

    /// The opening request (path, query, headers, peer address), when this
    /// connection came through [`accept`](crate::accept) or a
    /// [`Server`](crate::Server).
    pub fn request(&self) -> Option<&Request> {
        self.request.as_deref()
    }

    /// The server's answer to the opening handshake, for a connection made
    /// by [`connect`](crate::connect) or a [`Client`](crate::Client); `None`
    /// on a server.
    pub fn response(&self) -> Option<&Response> {
        self.response.as_deref()
    }

    pub(crate) fn set_response(&mut self, response: Response) {
        self.response = Some(Box::new(response));
    }

    /// The code of the Close the peer sent, if one arrived (for the
    /// client's reconnect policy).
    pub(crate) fn peer_close_code(&self) -> Option<CloseCode> {
        self.peer_close
    }

    /// The subprotocol chosen in the handshake, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// Which end of the connection this is.
    pub fn role(&self) -> Role {
        self.inbound.role()
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

    /// The underlying stream, without a Close or any other last word; bytes
    /// already read but not yet returned as a message are dropped. `Err`
    /// gives the connection back while its stream is shared (see
    /// [`get_mut`](Self::get_mut)).
    ///
    /// # Errors
    /// The connection itself, unchanged, while the stream is shared.
    #[allow(clippy::result_large_err)] // gives back what it was given, as `Result<S, Self>` APIs do
    pub fn into_inner(mut self) -> std::result::Result<S, Self> {
        if self.writer.is_split() || Arc::get_mut(&mut self.stream.0).is_none() {
            return Err(self);
        }
        let stream = Arc::clone(&self.stream.0);
        // Drop then sends nothing and shuts nothing down.
        self.closed = true;
        drop(self);
        match Arc::try_unwrap(stream) {
            Ok(stream) => Ok(stream),
            // The stream was checked unshared, and only `share` clones it.
            Err(_) => unreachable!("an unshared stream has one owner"),
        }
    }

    pub(crate) fn writer(&self) -> &Arc<Writer> {
        &self.writer
    }

    /// Fails the connection (RFC 6455 section 7.1.7): sends the error's close
    /// code if it has one, reads and discards what the peer still sends
    /// until it closes or the close timeout passes, then closes the
    /// transport.
    fn fail(&mut self, error: &Error) {
        if self.closed {
            return;
        }
        self.inbound.finish();
        let code = error.close_code();
        if let Some(code) = code {
            log::debug!("failing connection with {}: {}", code, error);
            let reason = error.to_string();
            let reason = truncate(&reason, MAX_REASON);
            let sent = self.writer.send_close(Some(&mut self.stream), code, reason);
            if sent.is_ok()
                && self.stream.flush().is_ok()
                && self.stream.shutdown(Shutdown::Write).is_ok()
            {
                discard(&mut self.stream, self.inbound.close_timeout(), usize::MAX);
            }
        } else {
            log::debug!("connection ended: {}", error);
        }
        self.finish(Ending {
            by: ClosedBy::Error,
            code,
            error: Some(error.to_string()),
        });
    }

    fn finish(&mut self, ending: Ending) {
        self.closed = true;
        self.inbound.finish();
        self.writer.finish(ending);
        let _ = self.stream.flush();
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// A zero-byte read means the peer closed the transport.
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
        if !self.writer.close_sent() {
            let _ = self.writer.send_close(Some(&mut self.stream), code, reason);
        }
        let error = if panicking {
            Some("handler panicked".to_owned())
        } else {
            None
        };
        self.finish(Ending {
            by: ClosedBy::Us,
            code: Some(code),
            error,
        });
    }
}

impl<S: Stream> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("role", &self.inbound.role())
            .field("request", &self.request)
            .field("subprotocol", &self.subprotocol)
            .field("closed", &self.closed)
            .finish()
    }
}
