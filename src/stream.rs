//! What a connection needs from its byte stream beyond `Read + Write`.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
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

    /// Reads through a shared reference, as `&TcpStream` can, for a stream
    /// that [`share`](Stream::share) hands to other threads. Defaults to
    /// [`io::ErrorKind::Unsupported`].
    ///
    /// # Errors
    /// Whatever the stream reports.
    fn read_shared(&self, buf: &mut [u8]) -> io::Result<usize> {
        let _ = buf;
        Err(not_shared())
    }

    /// Writes through a shared reference, as `&TcpStream` can; see
    /// [`read_shared`](Stream::read_shared). Nothing may be buffered: what
    /// it accepts is on its way. Defaults to [`io::ErrorKind::Unsupported`].
    ///
    /// # Errors
    /// Whatever the stream reports.
    fn write_shared(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let _ = bufs;
        Err(not_shared())
    }

    /// A second reference to this very stream (not a second file
    /// descriptor), through which a connection's [`Sender`](crate::Sender)s
    /// and the server's shutdown write and cut while the connection's own
    /// thread reads. A stream that implements
    /// [`read_shared`](Stream::read_shared) and
    /// [`write_shared`](Stream::write_shared) returns `Some(this.clone())`;
    /// the default, `None`, makes
    /// [`WebSocket::sender`](crate::WebSocket::sender) return
    /// [`Error::Unsupported`](crate::Error::Unsupported). The connection's
    /// thread spends its idle time blocked in `read_shared`, so a
    /// `write_shared` must not wait for it (as it would behind one lock
    /// around the whole stream).
    fn share(this: &Arc<Self>) -> Option<Arc<dyn Stream + Send + Sync>>
    where
        Self: Sized,
    {
        let _ = this;
        None
    }
}

fn not_shared() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "stream cannot be shared between threads",
    )
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
            fn read_shared(&self, buf: &mut [u8]) -> io::Result<usize> {
                (&mut &*self).read(buf)
            }
            fn write_shared(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                // One buffer goes out with `send`: `writev` takes a longer
                // kernel path (see `COALESCE` in sender.rs).
                match bufs {
                    [one] => (&mut &*self).write(one),
                    _ => (&mut &*self).write_vectored(bufs),
                }
            }
            fn share(this: &Arc<Self>) -> Option<Arc<dyn Stream + Send + Sync>> {
                Some(Arc::clone(this) as Arc<dyn Stream + Send + Sync>)
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

/// A connection's stream: owned by the connection alone, or also shared
/// (through [`Stream::share`]) with its Senders and the server. Either way it
/// is one stream and, for a socket, one file descriptor.
pub(crate) struct Io<S: ?Sized>(pub(crate) Arc<S>);

impl<S: Stream> Io<S> {
    pub(crate) fn new(stream: S) -> Io<S> {
        Io(Arc::new(stream))
    }

    /// A second reference for other threads, if the stream allows it.
    pub(crate) fn share(&self) -> Option<Arc<dyn Stream + Send + Sync>> {
        S::share(&self.0)
    }
}

impl<S: Stream + ?Sized> Read for Io<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match Arc::get_mut(&mut self.0) {
            Some(own) => own.read(buf),
            None => self.0.read_shared(buf),
        }
    }
}

impl<S: Stream + ?Sized> Write for Io<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Arc::get_mut(&mut self.0) {
            Some(own) => own.write(buf),
            None => self.0.write_shared(&[IoSlice::new(buf)]),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match Arc::get_mut(&mut self.0) {
            Some(own) => own.write_vectored(bufs),
            None => self.0.write_shared(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match Arc::get_mut(&mut self.0) {
            Some(own) => own.flush(),
            // A shared stream buffers nothing (see `Stream::write_shared`).
            None => Ok(()),
        }
    }
}

impl<S: Stream + ?Sized> Stream for Io<S> {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.set_read_timeout(timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.set_write_timeout(timeout)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.shutdown(how)
    }
}
