//! [`Sender`]: sending on a connection from any thread.

use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::message::Payload;
use crate::proto::close::CloseCode;
use crate::proto::frame::OpCode;
use crate::proto::Role;
use crate::writer::Writer;

/// Sends on a connection from any thread, while the connection's own thread
/// is blocked in [`WebSocket::read`](crate::WebSocket::read).
///
/// Get one with [`WebSocket::sender`](crate::WebSocket::sender). Clones are
/// cheap and share the connection. Each frame is written whole under the
/// connection's write lock, so frames from different threads never
/// interleave. A write that makes no progress for
/// [`Config::write_timeout`](crate::Config::write_timeout) fails, and the
/// peer, which has stopped reading, is disconnected.
///
/// ```no_run
/// # fn main() -> tinyws::Result<()> {
/// # let stream = std::net::TcpStream::connect("127.0.0.1:9001")?;
/// let mut ws = tinyws::accept(stream, &tinyws::Config::default())?;
/// let sender = ws.sender()?;
/// std::thread::spawn(move || {
///     while sender.send("tick").is_ok() {
///         std::thread::sleep(std::time::Duration::from_secs(1));
///     }
/// });
/// while let Ok(msg) = ws.read() {
///     println!("got {:?}", msg);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Sender {
    pub(crate) writer: Arc<Writer>,
}

impl Sender {
    /// Sends a message. A [`Message::Close`](crate::Message::Close) starts the close handshake, which
    /// the connection's own thread finishes.
    ///
    /// # Errors
    /// [`Error::Closed`](crate::Error::Closed) once the connection is closed or a Close has been
    /// sent; [`Error::Timeout`](crate::Error::Timeout) if the write stalled past the write timeout;
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for a control payload over 125 bytes.
    pub fn send(&self, message: impl Payload) -> Result<()> {
        self.writer.send(None, message.outgoing())
    }

    /// Sends a Ping with up to 125 bytes of payload.
    ///
    /// # Errors
    /// As for [`Sender::send`].
    pub fn ping(&self, payload: &[u8]) -> Result<()> {
        self.writer.write_frame(None, OpCode::Ping, payload)
    }

    /// Starts the close handshake from this thread: sends Close with `code`
    /// and `reason` (at most 123 bytes). The connection's own thread then
    /// sees the peer's reply as [`Message::Close`](crate::Message::Close). If none comes, it fails
    /// with [`Timeout::Close`](crate::Timeout::Close) at its next wake-up
    /// after [`Config::close_timeout`](crate::Config::close_timeout): a read
    /// already blocked cannot be shortened, so that is at the latest the
    /// next keepalive tick (never, with keepalive off and a silent peer).
    ///
    /// # Errors
    /// As for [`Sender::send`].
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<()> {
        self.writer.send_close(None, code, reason)
    }

    /// Writes a frame whose header was encoded once for many connections,
    /// within `limit` in all.
    pub(crate) fn send_encoded(&self, head: &[u8], payload: &[u8], limit: Duration) -> Result<()> {
        self.writer.write_bounded(head, payload, limit)
    }

    /// Which end of the connection this sends from.
    pub fn role(&self) -> Role {
        self.writer.role()
    }

    /// Whether the connection is closed or closing, so sends will fail.
    pub fn is_closed(&self) -> bool {
        self.writer.is_finished() || self.writer.close_sent()
    }
}
