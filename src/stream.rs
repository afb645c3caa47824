//! What a connection needs from its byte stream beyond `Read + Write`.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// A byte stream a [`WebSocket`](crate::WebSocket) can run over.
///
/// [`Socket`](crate::Socket), `TcpStream` and `UnixStream` (on Unix)
/// implement it fully: every timeout, keepalive and
/// [`Sender`](crate::Sender) work on them. Another stream type (an in-memory
/// pipe, say) must implement the two timeout methods; a stream that truly
/// cannot time out says so by returning `Ok(())`, knowing that the handshake
/// deadline, keepalive and the close timeout then cannot fire. Such a stream
/// cannot be shared between threads, so
/// [`WebSocket::sender`](crate::WebSocket::sender) returns
/// [`Error::Unsupported`](crate::Error::Unsupported) for it.
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
/// struct Pipe;
/// # impl Read for Pipe { fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> { Ok(0) } }
/// # impl Write for Pipe { fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { Ok(b.len()) }
/// #   fn flush(&mut self) -> std::io::Result<()> { Ok(()) } }
/// impl tinyws::Stream for Pipe {
///     // An in-memory pipe never blocks, so it has nothing to time out.
///     fn set_read_timeout(&self, _: Option<Duration>) -> std::io::Result<()> {
///         Ok(())
///     }
///     fn set_write_timeout(&self, _: Option<Duration>) -> std::io::Result<()> {
///         Ok(())
///     }
/// }
/// ```
pub trait Stream: Read + Write {
    /// Sets how long one read may block; `None` blocks forever.
    ///
    /// # Errors
    /// Whatever the stream reports.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;

    /// Sets how long one write may block; `None` blocks forever.
    ///
    /// # Errors
    /// Whatever the stream reports.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;

    /// Closes one or both directions at the transport level; closing the
    /// read side wakes any thread blocked reading. Defaults to doing nothing.
    ///
    /// # Errors
    /// Whatever the stream reports.
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let _ = how;
        Ok(())
    }

    /// Sealed: reads through a shared reference, for a stream that
    /// [`share`](Stream::share) hands to other threads.
    #[doc(hidden)]
    fn read_shared(&self, buf: &mut [u8], _: Sealed) -> io::Result<usize> {
        let _ = buf;
        Err(not_shared())
    }

    /// Sealed: writes through a shared reference. Nothing may be buffered:
    /// what it accepts is on its way.
    #[doc(hidden)]
    fn write_shared(&self, bufs: &[IoSlice<'_>], _: Sealed) -> io::Result<usize> {
        let _ = bufs;
        Err(not_shared())
    }

    /// Sealed: a second reference to this very stream (not a second file
    /// descriptor), through which Senders and the server's shutdown write
    /// and cut while the connection's own thread reads. The connection's
    /// thread spends its idle time blocked in `read_shared`, so a
    /// `write_shared` must not wait for it.
    #[doc(hidden)]
    fn share(this: &Arc<Self>, _: Sealed) -> Option<Arc<dyn Stream + Send + Sync>>
    where
        Self: Sized,
    {
        let _ = this;
        None
    }
}

/// Keeps the sharing half of [`Stream`] to this crate: outside it, nobody
/// can name this type, so nobody can call or override those methods.
#[derive(Debug, Clone, Copy)]
#[allow(unreachable_pub)] // the sealing token, unreachable by design
pub struct Sealed(pub(crate) ());

pub(crate) const SEALED: Sealed = Sealed(());

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
            fn read_shared(&self, buf: &mut [u8], _: Sealed) -> io::Result<usize> {
                (&mut &*self).read(buf)
            }
            fn write_shared(&self, bufs: &[IoSlice<'_>], _: Sealed) -> io::Result<usize> {
                // One buffer goes out with `send`: `writev` takes a longer
                // kernel path (see `COALESCE` in sender.rs).
                match bufs {
                    [one] => (&mut &*self).write(one),
                    _ => (&mut &*self).write_vectored(bufs),
                }
            }
            fn share(this: &Arc<Self>, _: Sealed) -> Option<Arc<dyn Stream + Send + Sync>> {
                Some(Arc::clone(this) as Arc<dyn Stream + Send + Sync>)
            }
        }
    };
}

socket_stream!(TcpStream);
#[cfg(unix)]
socket_stream!(std::os::unix::net::UnixStream);

/// How long, and how much, to keep reading after an HTTP answer that ends
/// the exchange.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;

/// Closes our side, then reads and discards what the peer still sends (up to
/// a second or 64 KiB) before the caller drops the stream. Closing a socket
/// with unread input makes the kernel send a reset, which can destroy the
/// answer we just wrote (an HTTP refusal) before the peer reads it.
pub(crate) fn linger<S: Stream + ?Sized>(stream: &mut S) {
    if stream.flush().is_err() || stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    discard(stream, LINGER, LINGER_BYTES);
}

/// Reads and discards until the peer closes, `limit` passes, or `max` bytes
/// came. After a failed connection's Close this runs for up to the close
/// timeout with no byte cap: a browser may still be sending the very message
/// that was too large, and a reset would destroy our Close before it reads
/// it.
pub(crate) fn discard<S: Stream + ?Sized>(stream: &mut S, limit: Duration, max: usize) {
    let start = std::time::Instant::now();
    let mut sink = [0u8; 1024];
    let mut discarded = 0;
    while discarded < max {
        let left = match limit.checked_sub(start.elapsed()) {
            Some(left) if left > Duration::from_millis(0) => left,
            _ => return,
        };
        if stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) => return,
            Ok(n) => discarded += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
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
        S::share(&self.0, SEALED)
    }
}

impl<S: Stream + ?Sized> Read for Io<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match Arc::get_mut(&mut self.0) {
            Some(own) => own.read(buf),
            None => self.0.read_shared(buf, SEALED),
        }
    }
}

impl<S: Stream + ?Sized> Write for Io<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Arc::get_mut(&mut self.0) {
            Some(own) => own.write(buf),
            None => self.0.write_shared(&[IoSlice::new(buf)], SEALED),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match Arc::get_mut(&mut self.0) {
            Some(own) => own.write_vectored(bufs),
            None => self.0.write_shared(bufs, SEALED),
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
