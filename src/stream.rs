//! What a connection needs from its byte stream beyond `Read + Write`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// A byte stream a [`WebSocket`](crate::WebSocket) can run over.
///
/// `TcpStream` (and `UnixStream` on Unix) implement every method, so all
/// timeouts, keepalive and [`Sender`](crate::Sender) work on them. Another
/// stream type (a TLS session, an in-memory pipe) can implement just
/// `Read + Write` and take the defaults: then timeouts are not enforced and
/// [`WebSocket::sender`](crate::WebSocket::sender) returns
/// [`Error::Unsupported`](crate::Error::Unsupported).
///
/// ```
/// use std::io::{Read, Write};
/// struct Pipe;
/// # impl Read for Pipe { fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> { Ok(0) } }
/// # impl Write for Pipe { fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { Ok(b.len()) }
/// #   fn flush(&mut self) -> std::io::Result<()> { Ok(()) } }
/// impl tinyws::Stream for Pipe {}
/// ```
pub trait Stream: Read + Write {
    /// Sets how long one read may block; `None` blocks forever. Defaults to
    /// doing nothing.
    ///
    /// # Errors
    /// Whatever the stream reports.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Ok(())
    }

    /// Sets how long one write may block; `None` blocks forever. Defaults to
    /// doing nothing.
    ///
    /// # Errors
    /// Whatever the stream reports.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Ok(())
    }

    /// Closes one or both directions at the transport level; closing the
    /// read side wakes any thread blocked reading. Defaults to doing nothing.
    ///
    /// # Errors
    /// Whatever the stream reports.
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let _ = how;
        Ok(())
    }

    /// A second handle for writing from other threads while this one reads.
    /// Defaults to [`io::ErrorKind::Unsupported`].
    ///
    /// # Errors
    /// When the stream cannot be shared, or the handle cannot be made.
    fn try_clone_writer(&self) -> io::Result<Box<dyn Stream + Send>> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "stream cannot be cloned",
        ))
    }
}

/// A zero timeout means "no timeout" to the OS and is refused by std, so
/// the shortest real timeout stands in for it.
fn nonzero(timeout: Option<Duration>) -> Option<Duration> {
    timeout.map(|t| t.max(Duration::from_millis(1)))
}

macro_rules! socket_stream {
    ($ty:ty) => {
        impl Stream for $ty {
            fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                <$ty>::set_read_timeout(self, nonzero(timeout))
            }
            fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                <$ty>::set_write_timeout(self, nonzero(timeout))
            }
            fn shutdown(&self, how: Shutdown) -> io::Result<()> {
                <$ty>::shutdown(self, how)
            }
            fn try_clone_writer(&self) -> io::Result<Box<dyn Stream + Send>> {
                Ok(Box::new(self.try_clone()?))
            }
        }
    };
}

socket_stream!(TcpStream);
#[cfg(unix)]
socket_stream!(std::os::unix::net::UnixStream);

/// How long, and how much, to keep reading after we have said our last word.
const LINGER: std::time::Duration = std::time::Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;

/// Closes our side, then reads and discards what the peer still sends (up to
/// a second or 64 KiB) before the caller drops the stream. Closing a socket
/// with unread input makes the kernel send a reset, which can destroy the
/// answer we just wrote (an HTTP refusal, a close frame) before the peer
/// reads it.
pub(crate) fn linger<S: Stream + ?Sized>(stream: &mut S) {
    if stream.flush().is_err() || stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let start = std::time::Instant::now();
    let mut sink = [0u8; 1024];
    let mut discarded = 0;
    while discarded < LINGER_BYTES {
        let left = match LINGER.checked_sub(start.elapsed()) {
            Some(left) if left > std::time::Duration::from_millis(0) => left,
            _ => return,
        };
        if stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => discarded += n,
        }
    }
}
