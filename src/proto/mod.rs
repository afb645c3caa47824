//! The sans-IO protocol core of RFC 6455: bytes and time in, events and bytes
//! out.
//!
//! # In scope
//!
//! - The frame codec ([`frame`]), masking and client mask keys ([`mask`]),
//!   close codes and payloads ([`close`]) and incremental UTF-8 ([`utf8`]).
//! - The receive machine ([`inbound`]): fragmentation, size limits, control
//!   frames, the close handshake, keepalive and the close deadline. It takes
//!   bytes, the time waited in vain and the instant our Close went out; it
//!   returns messages, the control frames to send, when to close the
//!   transport, and how long the shell may block.
//! - The one place that prepares outgoing frames ([`outbound`]): header, RSV
//!   bits and masking per [`Role`].
//!
//! # Out of scope
//!
//! Sockets, `Read`/`Write`, locks, threads and clocks. The shell
//! (`websocket.rs`, `writer.rs`) reads and writes, reads the clock, and
//! serialises writers. CI fails if this folder, its unit tests included,
//! imports std's I/O, network, clock, thread, file or lock types (the list
//! is in `scripts/sans-io-check.sh`).
//!
//! permessage-deflate's (de)compressors, their pool and the threads that
//! compress belong to the shell (`deflate_pool.rs`), which lends them to
//! `deflate`: CI also fails if this folder takes a lock.

pub(crate) mod close;
#[cfg(feature = "deflate")]
pub(crate) mod deflate;
pub(crate) mod frame;
pub(crate) mod inbound;
pub(crate) mod mask;
pub(crate) mod outbound;
pub(crate) mod utf8;

use std::fmt;

/// What permessage-deflate agreement a connection has, if any.
#[cfg(feature = "deflate")]
pub(crate) use deflate::Agreement as DeflateAgreement;

/// Without the `deflate` feature nothing can be agreed: `Option` of this is
/// always `None`, and the code that carries it needs no `cfg`.
#[cfg(not(feature = "deflate"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeflateAgreement {}

/// A connection's inflater, which the shell hands to the inbound machine.
#[cfg(feature = "deflate")]
pub(crate) use deflate::Inflater;

/// Without the `deflate` feature there is no inflater (see
/// [`DeflateAgreement`]).
#[cfg(not(feature = "deflate"))]
#[derive(Debug)]
pub(crate) enum Inflater {}

/// Which end of a connection this is. It decides which frames must be masked
/// (RFC 6455 section 5.1), who closes TCP first after the close handshake
/// (section 7.1.1), and the wording of logs.
///
/// [`Server`](crate::Server) connections and [`accept`](crate::accept) are
/// [`Role::Server`]; [`WebSocket::from_raw`](crate::WebSocket::from_raw) takes
/// the role of a stream whose handshake was done elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// Receives masked frames, sends unmasked ones, closes TCP first.
    Server,
    /// Masks every frame with a fresh key, receives unmasked ones, and after
    /// the close handshake waits for the server to close TCP.
    Client,
}

impl Role {
    /// "server" or "client", for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who ended a connection, for the disconnect log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClosedBy {
    /// This end: our Close was first, or the connection was dropped.
    Us,
    /// The peer's Close came first.
    Peer,
    /// An error failed the connection (a protocol violation, a timeout, a
    /// lost transport).
    Error,
}

impl ClosedBy {
    /// How the log names it: this end is named by its role.
    pub(crate) fn describe(self, role: Role) -> &'static str {
        match self {
            ClosedBy::Us => role.as_str(),
            ClosedBy::Peer => "peer",
            ClosedBy::Error => "error",
        }
    }
}
