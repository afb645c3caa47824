//! [`Socket`]: the transport under every connection the crate opens itself.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::stream::{Sealed, Stream};
use crate::tls::TlsConfig;
#[cfg(feature = "tls")]
use crate::tls::TlsStream;

/// The transport of a connection that a [`Server`](crate::Server) accepted:
/// what `WebSocket` (that is, `WebSocket<Socket>`) runs over.
///
/// Opaque on purpose: a TCP stream, or with the `tls` feature a TLS session
/// over one, without any public type changing. It is one file descriptor,
/// shared by the connection, its Senders and the server's shutdown.
#[derive(Debug)]
pub struct Socket {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Tcp(TcpStream),
    /// Boxed: a TLS session is over a kilobyte, and a plain socket should
    /// not carry its size.
    #[cfg(feature = "tls")]
    Tls(Box<TlsStream>),
}

impl Socket {
    /// Runs the server side of a TLS handshake on `tcp`, within `timeout`
    /// in all however slowly the client trickles its hello, for a program
    /// with its own listener; then [`accept`](crate::accept) the WebSocket
    /// on the result. A client speaking plain HTTP gets `400` "this port
    /// speaks TLS: use https:// or wss://".
    ///
    /// ```no_run
    /// # fn main() -> tinyws::Result<()> {
    /// let tls = tinyws::TlsConfig::server("cert.pem", "key.pem")?;
    /// let config = tinyws::Config::default();
    /// let listener = std::net::TcpListener::bind("0.0.0.0:9443")?;
    /// let (tcp, _) = listener.accept()?;
    /// let socket = tinyws::Socket::accept_tls(tcp, &tls, config.handshake_timeout)?;
    /// let mut ws = tinyws::accept(socket, &config)?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Timeout`](crate::Error::Timeout) at the deadline;
    /// [`Error::Handshake`](crate::Error::Handshake) (400) for plain HTTP;
    /// [`Error::Io`](crate::Error::Io) with the TLS library's reason (kind
    /// `InvalidData`) for a failed TLS handshake, after its alert was sent;
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for a client `tls`.
    pub fn accept_tls(tcp: TcpStream, tls: &TlsConfig, timeout: Duration) -> Result<Socket> {
        let socket = Socket::tls_server(tcp, tls)?;
        socket.tls_handshake(deadline(timeout))?;
        Ok(socket)
    }

    /// Runs the client side of a TLS handshake on `tcp` to `host`: the name
    /// sent in SNI and checked against the server's certificate (an IP
    /// address is checked against its IP addresses), within `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`](crate::Error::Timeout) at the deadline;
    /// [`Error::Io`](crate::Error::Io) with the TLS library's reason (kind
    /// `InvalidData`), such as a certificate that does not verify;
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for a server `tls`.
    pub fn connect_tls(
        tcp: TcpStream,
        tls: &TlsConfig,
        host: &str,
        timeout: Duration,
    ) -> Result<Socket> {
        let socket = Socket::tls_client(tcp, tls, host)?;
        socket.tls_handshake(deadline(timeout))?;
        Ok(socket)
    }

    /// A server-side TLS socket whose handshake has not run yet: it can be
    /// shared, and so cut by a server shutting down, before
    /// [`tls_handshake`](Self::tls_handshake).
    pub(crate) fn tls_server(tcp: TcpStream, tls: &TlsConfig) -> Result<Socket> {
        tls.server_socket(tcp)
    }

    /// A client-side TLS socket to `host`, its handshake not run yet.
    pub(crate) fn tls_client(tcp: TcpStream, tls: &TlsConfig, host: &str) -> Result<Socket> {
        tls.client_socket(tcp, host)
    }

    /// Runs the TLS handshake under `deadline`; nothing for plain TCP.
    pub(crate) fn tls_handshake(&self, deadline: Instant) -> Result<()> {
        match &self.inner {
            Inner::Tcp(_) => {
                let _ = deadline;
                Ok(())
            }
            #[cfg(feature = "tls")]
            Inner::Tls(tls) => tls.handshake(deadline),
        }
    }

    /// Whether this socket speaks TLS.
    pub fn is_tls(&self) -> bool {
        !matches!(self.inner, Inner::Tcp(_))
    }

    /// The address of the peer.
    ///
    /// # Errors
    /// Whatever the operating system reports.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }

    /// The local address, such as the port a server was reached on.
    ///
    /// # Errors
    /// Whatever the operating system reports.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().local_addr()
    }

    /// The TCP stream underneath (under TLS too), for socket options.
    /// Reading or writing it directly bypasses TLS and breaks the session.
    pub fn tcp(&self) -> &TcpStream {
        match &self.inner {
            Inner::Tcp(tcp) => tcp,
            #[cfg(feature = "tls")]
            Inner::Tls(tls) => tls.get_ref(),
        }
    }

    /// The stream underneath, as the one `Stream` the rest of the crate sees.
    fn stream(&self) -> &(dyn Stream + Send + Sync) {
        match &self.inner {
            Inner::Tcp(tcp) => tcp,
            #[cfg(feature = "tls")]
            Inner::Tls(tls) => &**tls,
        }
    }
}

impl From<TcpStream> for Socket {
    fn from(tcp: TcpStream) -> Socket {
        Socket {
            inner: Inner::Tcp(tcp),
        }
    }
}

#[cfg(feature = "tls")]
impl From<TlsStream> for Socket {
    fn from(tls: TlsStream) -> Socket {
        Socket {
            inner: Inner::Tls(Box::new(tls)),
        }
    }
}

fn deadline(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout).unwrap_or(now)
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Tcp(tcp) => tcp.read(buf),
            #[cfg(feature = "tls")]
            Inner::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Tcp(tcp) => tcp.write(buf),
            #[cfg(feature = "tls")]
            Inner::Tls(tls) => tls.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Tcp(tcp) => tcp.write_vectored(bufs),
            #[cfg(feature = "tls")]
            Inner::Tls(tls) => tls.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Tcp(tcp) => tcp.flush(),
            #[cfg(feature = "tls")]
            Inner::Tls(tls) => tls.flush(),
        }
    }
}

impl Stream for Socket {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream().set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream().set_write_timeout(timeout)
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.stream().shutdown(how)
    }

    fn read_shared(&self, buf: &mut [u8], s: Sealed) -> io::Result<usize> {
        self.stream().read_shared(buf, s)
    }

    fn write_shared(&self, bufs: &[IoSlice<'_>], s: Sealed) -> io::Result<usize> {
        self.stream().write_shared(bufs, s)
    }

    fn share(this: &Arc<Self>, _: Sealed) -> Option<Arc<dyn Stream + Send + Sync>> {
        Some(Arc::clone(this) as Arc<dyn Stream + Send + Sync>)
    }
}
