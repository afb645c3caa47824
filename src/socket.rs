//! [`Socket`]: the transport under every connection the crate opens itself.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::stream::{Sealed, Stream};

/// The transport of a connection that a [`Server`](crate::Server) accepted:
/// what `WebSocket` (that is, `WebSocket<Socket>`) runs over.
///
/// Opaque on purpose: today a TCP stream, and with the `tls` feature a TLS
/// session over one, without any public type changing. It is one file
/// descriptor, shared by the connection, its Senders and the server's
/// shutdown.
#[derive(Debug)]
pub struct Socket {
    tcp: TcpStream,
}

impl Socket {
    /// The address of the peer.
    ///
    /// # Errors
    /// Whatever the operating system reports.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.peer_addr()
    }

    /// The local address, such as the port a server was reached on.
    ///
    /// # Errors
    /// Whatever the operating system reports.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// The TCP stream underneath, for socket options.
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }
}

impl From<TcpStream> for Socket {
    fn from(tcp: TcpStream) -> Socket {
        Socket { tcp }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.read(buf)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.tcp.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

impl Stream for Socket {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Stream::set_read_timeout(&self.tcp, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Stream::set_write_timeout(&self.tcp, timeout)
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.tcp.shutdown(how)
    }

    fn read_shared(&self, buf: &mut [u8], s: Sealed) -> io::Result<usize> {
        self.tcp.read_shared(buf, s)
    }

    fn write_shared(&self, bufs: &[IoSlice<'_>], s: Sealed) -> io::Result<usize> {
        self.tcp.write_shared(bufs, s)
    }

    fn share(this: &Arc<Self>, _: Sealed) -> Option<Arc<dyn Stream + Send + Sync>> {
        Some(Arc::clone(this) as Arc<dyn Stream + Send + Sync>)
    }
}
