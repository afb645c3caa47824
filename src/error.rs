//! The one error type of the crate, and how each error maps to a close code.

use std::fmt;
use std::io;

use crate::handshake::client::Refusal;
use crate::proto::close::CloseCode;

/// A specialised `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong on a connection or a server.
///
/// Each protocol error knows the close code sent to the peer before the
/// connection was failed: see [`Error::close_code`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error from the underlying stream.
    Io(io::Error),
    /// A deadline passed: see [`Timeout`] for which one.
    Timeout(Timeout),
    /// The opening handshake was refused. The HTTP answer with this status and
    /// reason has already been written to the client.
    Handshake(HandshakeError),
    /// The peer broke RFC 6455; the connection was failed with close code 1002.
    Protocol(ProtocolError),
    /// A text message or close reason was not valid UTF-8; the connection was
    /// failed with close code 1007 (RFC 6455 section 8.1).
    InvalidUtf8,
    /// A frame or message was larger than the configured limit; the connection
    /// was failed with close code 1009 before any buffer for it was allocated.
    TooLarge {
        /// The size the peer announced (frame) or reached (message).
        size: u64,
        /// The configured limit.
        max: usize,
    },
    /// A message arrived in more fragments than
    /// [`Config::max_fragments`](crate::Config::max_fragments) allows; the
    /// connection was failed with close code 1009.
    TooManyFragments {
        /// The configured limit.
        max: usize,
    },
    /// The peer closed the TCP connection without a close handshake (what
    /// browsers report as close code 1006).
    Disconnected,
    /// The connection is closed: it was used after [`Message::Close`] was
    /// returned, after an error, or after [`WebSocket::close`].
    ///
    /// [`Message::Close`]: crate::Message::Close
    /// [`WebSocket::close`]: crate::WebSocket::close
    Closed,
    /// This stream type cannot be shared between threads, so it has no
    /// [`Sender`](crate::Sender); or this build lacks what was asked for,
    /// such as TLS without the `tls` feature.
    Unsupported(&'static str),
    /// A [`Config`](crate::Config) value was out of range.
    Config(&'static str),
    /// An argument was refused before anything was sent, such as a Ping
    /// payload over 125 bytes or a close reason over 123; the connection is
    /// untouched.
    InvalidInput(&'static str),
    /// Client: the URL is not a `ws://` or `wss://` URL tinyws can use; the
    /// text says why.
    InvalidUrl(&'static str),
    /// Client: the server answered the opening handshake with an HTTP status
    /// other than 101. Boxed to keep `Error` small.
    Refused(Box<Refusal>),
}

/// Which deadline passed, for [`Error::Timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Timeout {
    /// The opening handshake did not complete within
    /// [`Config::handshake_timeout`](crate::Config::handshake_timeout).
    Handshake,
    /// Nothing arrived for
    /// [`Config::ping_timeout`](crate::Config::ping_timeout) after a ping: the
    /// peer stopped answering pings.
    Ping,
    /// The peer did not answer our Close within
    /// [`Config::close_timeout`](crate::Config::close_timeout).
    Close,
    /// Client: name resolution did not finish within the connect timeout.
    Resolve,
    /// Client: no resolved address accepted the TCP connection within the
    /// connect timeout.
    Connect,
    /// A write stalled for longer than
    /// [`Config::write_timeout`](crate::Config::write_timeout): the peer stopped
    /// reading.
    Write,
}

/// A refused opening handshake: the HTTP status and the one-line reason that
/// were sent to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeError {
    pub(crate) status: u16,
    pub(crate) reason: &'static str,
}

impl HandshakeError {
    pub(crate) const fn new(status: u16, reason: &'static str) -> Self {
        HandshakeError { status, reason }
    }

    /// The HTTP status code that was sent, such as 400 or 426.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The one-line reason that was sent as the response body.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

/// A violation of RFC 6455 by the peer, answered with close code 1002.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A frame from a client without the MASK bit (section 5.1).
    UnmaskedFrame,
    /// A frame from a server with the MASK bit (section 5.1).
    MaskedFrame,
    /// RSV1, RSV2 or RSV3 set with no extension negotiated (section 5.2),
    /// or RSV1 on a frame other than the first of a data message when
    /// permessage-deflate was (RFC 7692 section 6).
    ReservedBits,
    /// A compressed message whose payload is not valid deflate data (RFC
    /// 7692 section 6.2).
    InvalidCompressedData,
    /// An opcode that RFC 6455 reserves (section 5.2).
    ReservedOpcode(u8),
    /// A control frame with a payload over 125 bytes (section 5.5).
    ControlFrameTooLarge,
    /// A control frame without FIN (section 5.5).
    FragmentedControlFrame,
    /// A 64-bit payload length with the most significant bit set (section 5.2).
    LengthTopBit,
    /// A continuation frame with no message started (section 5.4).
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message was unfinished
    /// (section 5.4).
    ExpectedContinuation,
    /// A close frame with a one-byte payload (section 5.5.1).
    CloseTooShort,
    /// A close code that may not be sent on the wire (section 7.4).
    InvalidCloseCode(u16),
    /// Client: the server's handshake answer is not valid HTTP/1.1, or its
    /// head is over 8 KiB.
    MalformedResponse,
    /// Client: a 101 without `Upgrade: websocket` (section 4.1).
    MissingUpgrade,
    /// Client: a 101 without `Connection: Upgrade` (section 4.1).
    MissingConnectionUpgrade,
    /// Client: a 101 whose Sec-WebSocket-Accept does not match the key sent
    /// (section 4.1).
    BadAccept,
    /// Client: the server chose a subprotocol that was not offered
    /// (section 4.1).
    UnofferedSubprotocol,
    /// Client: the server chose an extension that was not offered
    /// (section 4.1).
    UnofferedExtension,
}

impl ProtocolError {
    /// Whether this is a fault of the server's handshake answer, before any
    /// frame could be sent: the client closes TCP without a close frame.
    fn in_handshake(self) -> bool {
        matches!(
            self,
            ProtocolError::MalformedResponse
                | ProtocolError::MissingUpgrade
                | ProtocolError::MissingConnectionUpgrade
                | ProtocolError::BadAccept
                | ProtocolError::UnofferedSubprotocol
                | ProtocolError::UnofferedExtension
        )
    }
}

impl Error {
    /// The close code sent to the peer when this error failed the connection,
    /// or `None` when no close frame fits (I/O errors, a refused handshake,
    /// use after close).
    ///
    /// | error | code |
    /// |---|---|
    /// | [`Error::Protocol`] (after the handshake) | 1002 |
    /// | [`Error::InvalidUtf8`] | 1007 |
    /// | [`Error::TooLarge`], [`Error::TooManyFragments`] | 1009 |
    /// | [`Timeout::Ping`] | 1011 |
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Error::Protocol(p) if p.in_handshake() => None,
            Error::Protocol(_) => Some(CloseCode::PROTOCOL_ERROR),
            Error::InvalidUtf8 => Some(CloseCode::INVALID_DATA),
            Error::TooLarge { .. } | Error::TooManyFragments { .. } => {
                Some(CloseCode::MESSAGE_TOO_BIG)
            }
            Error::Timeout(Timeout::Ping) => Some(CloseCode::INTERNAL_ERROR),
            _ => None,
        }
    }

    /// Turns the "would block" and "timed out" I/O errors that socket timeouts
    /// produce into [`Error::Timeout`], and end-of-stream into
    /// [`Error::Disconnected`].
    pub(crate) fn from_io(e: io::Error, timeout: Timeout) -> Error {
        if is_timeout(&e) {
            Error::Timeout(timeout)
        } else if is_disconnect(&e) {
            Error::Disconnected
        } else {
            Error::Io(e)
        }
    }
}

/// Socket read and write timeouts surface as `WouldBlock` on Unix and
/// `TimedOut` on Windows.
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The OS's own words ("Address already in use (os error 98)"):
            // they are what tells one failure from another.
            Error::Io(e) => fmt::Display::fmt(e, f),
            Error::Timeout(t) => fmt::Display::fmt(t, f),
            Error::Handshake(h) => write!(f, "handshake refused: {}", h),
            Error::Protocol(p) => write!(f, "protocol error: {}", p),
            Error::InvalidUtf8 => f.write_str("invalid utf-8 in text"),
            Error::TooLarge { size, max } => write!(f, "too large: {} > {} bytes", size, max),
            Error::TooManyFragments { max } => {
                write!(f, "too many fragments: more than {} in one message", max)
            }
            Error::Disconnected => f.write_str("peer disconnected without a close frame"),
            Error::Closed => f.write_str("connection is closed"),
            Error::Unsupported(what) => write!(f, "unsupported: {}", what),
            Error::Config(what) => write!(f, "invalid config: {}", what),
            Error::InvalidInput(what) => write!(f, "invalid argument: {}", what),
            Error::InvalidUrl(why) => write!(f, "invalid url: {}", why),
            Error::Refused(r) => fmt::Display::fmt(r, f),
        }
    }
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Timeout::Handshake => "handshake timed out",
            Timeout::Ping => "peer stopped answering pings",
            Timeout::Resolve => "name resolution timed out",
            Timeout::Connect => "connect timed out",
            Timeout::Close => "peer did not answer the close frame in time",
            Timeout::Write => "write timed out: peer stopped reading",
        })
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::UnmaskedFrame => f.write_str("unmasked client frame"),
            ProtocolError::MaskedFrame => f.write_str("masked server frame"),
            ProtocolError::ReservedBits => f.write_str("reserved bits set"),
            ProtocolError::InvalidCompressedData => f.write_str("invalid compressed data"),
            ProtocolError::ReservedOpcode(op) => write!(f, "reserved opcode {:#x}", op),
            ProtocolError::ControlFrameTooLarge => f.write_str("control frame over 125 bytes"),
            ProtocolError::FragmentedControlFrame => f.write_str("fragmented control frame"),
            ProtocolError::LengthTopBit => f.write_str("64-bit length with the top bit set"),
            ProtocolError::UnexpectedContinuation => {
                f.write_str("continuation frame with no message started")
            }
            ProtocolError::ExpectedContinuation => {
                f.write_str("new data frame inside a fragmented message")
            }
            ProtocolError::CloseTooShort => f.write_str("close payload of one byte"),
            ProtocolError::InvalidCloseCode(c) => write!(f, "invalid close code {}", c),
            ProtocolError::MalformedResponse => f.write_str("malformed handshake response"),
            ProtocolError::MissingUpgrade => f.write_str("101 without upgrade: websocket"),
            ProtocolError::MissingConnectionUpgrade => {
                f.write_str("101 without connection: upgrade")
            }
            ProtocolError::BadAccept => f.write_str("wrong sec-websocket-accept"),
            ProtocolError::UnofferedSubprotocol => {
                f.write_str("server chose a subprotocol that was not offered")
            }
            ProtocolError::UnofferedExtension => {
                f.write_str("server chose an extension that was not offered")
            }
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

impl std::error::Error for HandshakeError {}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Transparent: Display already shows the I/O error, so its
            // source is the I/O error's own, and a chain is not printed twice.
            Error::Io(e) => std::error::Error::source(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::Io(inner) => return io::Error::new(inner.kind(), e),
            Error::Timeout(_) => io::ErrorKind::TimedOut,
            Error::Disconnected => io::ErrorKind::UnexpectedEof,
            Error::Closed => io::ErrorKind::NotConnected,
            Error::Unsupported(_) => io::ErrorKind::Unsupported,
            Error::Config(_) | Error::InvalidInput(_) | Error::InvalidUrl(_) => {
                io::ErrorKind::InvalidInput
            }
            Error::Refused(_) => io::ErrorKind::ConnectionRefused,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_small_and_thread_safe() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert!(
            std::mem::size_of::<Error>() <= 32,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    #[test]
    fn close_codes() {
        let p = Error::Protocol(ProtocolError::UnmaskedFrame);
        assert_eq!(p.close_code(), Some(CloseCode::PROTOCOL_ERROR));
        assert_eq!(
            Error::InvalidUtf8.close_code(),
            Some(CloseCode::INVALID_DATA)
        );
        let big = Error::TooLarge {
            size: 70000,
            max: 65536,
        };
        assert_eq!(big.close_code(), Some(CloseCode::MESSAGE_TOO_BIG));
        assert_eq!(big.to_string(), "too large: 70000 > 65536 bytes");
        assert_eq!(Error::Closed.close_code(), None);
        let bad_101 = Error::Protocol(ProtocolError::BadAccept);
        assert_eq!(bad_101.close_code(), None);
        assert_eq!(
            bad_101.to_string(),
            "protocol error: wrong sec-websocket-accept"
        );
    }

    #[test]
    fn io_conversions() {
        let e = Error::from_io(io::ErrorKind::WouldBlock.into(), Timeout::Ping);
        assert!(matches!(e, Error::Timeout(Timeout::Ping)));
        let e = Error::from_io(io::ErrorKind::UnexpectedEof.into(), Timeout::Ping);
        assert!(matches!(e, Error::Disconnected));
        let io: io::Error = Error::Closed.into();
        assert_eq!(io.kind(), io::ErrorKind::NotConnected);
        // The OS's message survives the wrapping, in both directions.
        let os = io::Error::from_raw_os_error(98);
        let text = os.to_string();
        let e = Error::from(os);
        assert_eq!(e.to_string(), text);
        assert_eq!(io::Error::from(e).to_string(), text);
        let custom = Error::from(io::Error::new(io::ErrorKind::Other, "no such host"));
        assert_eq!(custom.to_string(), "no such host");
    }
}
