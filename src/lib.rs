//! A small, blocking WebSocket library (RFC 6455) for Raspberry Pi-class
//! devices: one OS thread per connection over `std::net`, a fixed-buffer
//! handshake, a sans-IO protocol core shared by the server and client
//! roles, four small dependencies and no `unsafe`.
//!
//! ```no_run
//! use tinyws::{Config, Server};
//!
//! fn main() -> tinyws::Result<()> {
//!     let server = Server::bind("0.0.0.0:9001", &Config::default())?;
//!     server.serve(|mut ws| {
//!         while let Ok(msg) = ws.read() {
//!             if msg.is_data() && ws.send(msg).is_err() {
//!                 break;
//!             }
//!         }
//!     })
//! }
//! ```
//!
//! # Client
//!
//! [`connect`] opens a client connection: the same [`WebSocket`], in the
//! client role. [`Client`] adds options and, with [`Client::run`], keeps a
//! connection up by itself, reconnecting with a jittered exponential
//! [`Backoff`], until [`ClientHandle::stop`].
//!
//! # Limits and configuration
//!
//! Every limit and timeout is a field of [`Config`], with defaults sized for
//! a Pi:
//!
//! | field | default | what it bounds |
//! |---|---|---|
//! | `max_message_size` | 1 MiB | one message after reassembly (close 1009) |
//! | `max_frame_size` | 1 MiB | one frame (close 1009) |
//! | `max_fragments` | 1024 | frames in one message (close 1009) |
//! | `handshake_timeout` | 10 s | the whole opening handshake (HTTP 408) |
//! | `ping_interval` | 30 s | idle time before a keepalive Ping |
//! | `ping_timeout` | 30 s | silence after a Ping before failing |
//! | `close_timeout` | 5 s | wait for the peer's Close |
//! | `write_timeout` | 5 s | one stalled write |
//! | `max_connections` | 256 | open connections (HTTP 503 beyond) |
//! | `max_handshakes` | 64 | handshakes in progress, inside the cap (the oldest is cut beyond) |
//! | `allowed_hosts` | none | Host names answered besides this device's own (HTTP 421) |
//! | `trusted_proxies` | none | proxies whose forwarding headers are believed |
//! | `stack_size` | 64 KiB | each connection thread's stack |
//! | `spare_threads` | 8 | threads kept (up to 30 s) for the next connection |
//! | `deflate` | `None` | permessage-deflate, with the `deflate` feature |
//!
//! The request head is read into a fixed 8 KiB buffer with at most 64
//! headers (HTTP 431 beyond).
//!
//! # Errors and close codes
//!
//! A peer that breaks the protocol gets the matching close code before TCP
//! closes, and [`WebSocket::read`] returns the [`Error`]:
//! [`Error::close_code`] tells which code went out.
//!
//! | close code | sent when |
//! |---|---|
//! | 1000 | the handler dropped the connection, or echoing the peer's 1000 |
//! | 1001 | the server shuts down |
//! | 1002 | a frame masked the wrong way for the [`Role`], reserved bits or opcode, bad control frame, bad fragmentation, bad close payload |
//! | 1007 | invalid UTF-8 in a text message or close reason |
//! | 1009 | frame, message or fragment count over the limits |
//! | 1011 | the handler panicked, or the peer stopped answering pings |
//!
//! A clean close is data, not an error: `read()` returns
//! [`Message::Close`] once; only use after that is [`Error::Closed`]. A bad
//! argument (a Ping payload over 125 bytes) is [`Error::InvalidInput`] and
//! leaves the connection open.
//!
//! # Roles
//!
//! A [`WebSocket`] is either end of a connection: [`Role::Server`] for
//! connections a [`Server`] or [`accept`] opened, [`Role::Client`] for the
//! other end. The role decides which frames must be masked, masks a
//! client's frames with a fresh key each, and decides who closes TCP first.
//! [`WebSocket::from_raw`] takes the role of a stream whose handshake was
//! done elsewhere.
//!
//! # Threading model and shutdown
//!
//! [`Server::serve`] blocks its thread in `accept()` and runs each
//! connection on a thread of its own, with a [`Config::stack_size`] stack,
//! from accept to close. When a connection ends, its thread may wait up to
//! 30 s, as one of at most [`Config::spare_threads`] spares, to take the
//! next connection, which then starts without creating a thread; so a
//! handler should not count on its thread's thread-locals starting empty.
//! Keepalive, the
//! handshake deadline and the close timeout are socket timeouts inside that
//! thread; no timer thread exists. A [`Sender`] writes from any other thread
//! through the connection's write lock. [`ServerHandle::shutdown`] stops the
//! server gracefully. With the `deflate` feature, messages are compressed
//! on at most four `tinyws-deflate` threads shared by the process, started
//! on first use, so that the compression code's deep stack never touches
//! a connection's (the sender waits for its message).
//!
//! # Log levels
//!
//! Through the `log` crate: `info` for each connect and disconnect (peer,
//! path, close code, who closed, duration) and refused handshakes, and for
//! each failed client attempt (its cause and the delay before the next);
//! `debug` for protocol errors with their reason and for each
//! permessage-deflate agreement (peer and extension as answered); `trace`
//! for every frame header.
//!
//! # Memory per connection
//!
//! An idle connection holds its thread's stack pages that were touched, a
//! copy of its request head and a small state block; the 4 KiB read buffer
//! is released while idle and messages are allocated as they arrive. See
//! the README for measured figures.
//!
//! # MSRV
//!
//! Rust 1.63, what `apt install cargo` gives on Debian and Raspberry Pi OS
//! bookworm. Raising it is a breaking change and gets its own minor
//! release.
//!
//! # TLS (feature `tls`)
//!
//! wss:// through rustls with the ring provider: [`Server::tls`] with a
//! [`TlsConfig`], or [`Socket::accept_tls`] and [`Socket::connect_tls`]
//! with a listener or client of your own. The feature needs Rust 1.71
//! (what rustls declares); CI builds it with Debian's 1.85. Without it,
//! [`TlsConfig`]'s constructors return [`Error::Unsupported`] saying how to
//! build with TLS.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms, unreachable_pub)]

mod backoff;
mod client;
mod config;
#[cfg(feature = "deflate")]
mod deflate_pool;
mod dial;
mod error;
#[cfg(feature = "_fuzz")]
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod hub;
mod message;
mod proto;
mod request;
mod sender;
mod server;
mod socket;
mod stream;
#[cfg(feature = "tls")]
mod tls;
// The same `TlsConfig`, whose constructors say how to get TLS.
#[cfg(not(feature = "tls"))]
#[path = "tls/off.rs"]
mod tls;
mod websocket;
mod writer;

pub use backoff::Backoff;
pub use client::{connect, Client, ClientHandle};
pub use config::{Config, Deflate};
pub use error::{Error, HandshakeError, ProtocolError, Result, Timeout};
pub use handshake::client::{Refusal, Response};
pub use handshake::{accept, accept_key};
pub use hub::Hub;
pub use message::{Data, Message, Payload};
pub use proto::close::{CloseCode, CloseFrame};
pub use proto::Role;
pub use request::{Action, Reply, Request, Upgrade};
pub use sender::Sender;
pub use server::{Server, ServerHandle};
pub use socket::Socket;
pub use stream::Stream;
pub use tls::TlsConfig;
pub use websocket::WebSocket;
