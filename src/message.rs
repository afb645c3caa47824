//! Messages, and what `send` accepts without copying.

use crate::proto::close::CloseFrame;
use crate::proto::frame::OpCode;

/// A message received by [`WebSocket::read`](crate::WebSocket::read) or sent
/// by [`WebSocket::send`](crate::WebSocket::send).
///
/// Every variant can be returned by `read()`. Pings are answered
/// automatically before `read()` returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// A text message, checked to be UTF-8.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A Ping with its payload (at most 125 bytes). The Pong has already been
    /// sent.
    Ping(Vec<u8>),
    /// A Pong with its payload (at most 125 bytes).
    Pong(Vec<u8>),
    /// The peer's Close, with its code and reason if it gave one. The reply
    /// has already been sent and TCP closed; this is the last message.
    Close(Option<CloseFrame>),
}

impl Message {
    /// The payload bytes (for Close, the reason).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(s) => s.as_bytes(),
            Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b,
            Message::Close(Some(f)) => f.reason.as_bytes(),
            Message::Close(None) => &[],
        }
    }

    /// Whether this is a Text or Binary message.
    pub fn is_data(&self) -> bool {
        matches!(self, Message::Text(_) | Message::Binary(_))
    }

    /// The text of a Text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(s)
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::Text(s.to_owned())
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(b)
    }
}

impl From<&[u8]> for Message {
    fn from(b: &[u8]) -> Self {
        Message::Binary(b.to_vec())
    }
}

mod sealed {
    pub trait Sealed {}
}

/// What one send puts on the wire, borrowed from the caller. Public only as
/// the sealed traits' plumbing: nothing outside the crate can name it.
#[allow(unreachable_pub)] // sealed-trait plumbing, unreachable by design
#[derive(Debug, Clone, Copy)]
pub enum Outgoing<'a> {
    Text(&'a [u8]),
    Binary(&'a [u8]),
    Ping(&'a [u8]),
    Pong(&'a [u8]),
    Close(Option<&'a CloseFrame>),
}

impl Outgoing<'_> {
    /// The opcode and payload of a single-frame send; `None` for Close,
    /// whose payload is encoded from its code and reason.
    pub(crate) fn frame(&self) -> Option<(OpCode, &[u8])> {
        match *self {
            Outgoing::Text(b) => Some((OpCode::Text, b)),
            Outgoing::Binary(b) => Some((OpCode::Binary, b)),
            Outgoing::Ping(b) => Some((OpCode::Ping, b)),
            Outgoing::Pong(b) => Some((OpCode::Pong, b)),
            Outgoing::Close(_) => None,
        }
    }
}

/// What [`WebSocket::send`](crate::WebSocket::send) and
/// [`Sender::send`](crate::Sender::send) accept: `&str` and `String` as
/// text, `&[u8]`, `Vec<u8>` and byte arrays as binary, and any [`Message`]
/// or `&Message`. The payload is borrowed: `ws.send("tick")` allocates
/// nothing.
///
/// Sealed: implemented only by this crate.
pub trait Payload: sealed::Sealed {
    #[doc(hidden)]
    fn outgoing(&self) -> Outgoing<'_>;
}

/// What [`Hub::broadcast`](crate::Hub::broadcast) accepts: text (`&str`,
/// `String`) or binary (`&[u8]`, `Vec<u8>`, byte arrays), never a control
/// frame or a [`Message`].
///
/// Sealed: implemented only by this crate.
pub trait Data: Payload {}

macro_rules! data {
    ($($ty:ty => |$v:ident| $out:expr;)*) => {$(
        impl sealed::Sealed for $ty {}
        impl Payload for $ty {
            fn outgoing(&self) -> Outgoing<'_> {
                let $v = self;
                $out
            }
        }
        impl Data for $ty {}
    )*};
}

data! {
    &str => |s| Outgoing::Text(s.as_bytes());
    String => |s| Outgoing::Text(s.as_bytes());
    &String => |s| Outgoing::Text(s.as_bytes());
    &[u8] => |b| Outgoing::Binary(b);
    Vec<u8> => |b| Outgoing::Binary(b);
    &Vec<u8> => |b| Outgoing::Binary(b);
}

impl<const N: usize> sealed::Sealed for [u8; N] {}
impl<const N: usize> Payload for [u8; N] {
    fn outgoing(&self) -> Outgoing<'_> {
        Outgoing::Binary(self)
    }
}
impl<const N: usize> Data for [u8; N] {}

impl<const N: usize> sealed::Sealed for &[u8; N] {}
impl<const N: usize> Payload for &[u8; N] {
    fn outgoing(&self) -> Outgoing<'_> {
        Outgoing::Binary(*self)
    }
}
impl<const N: usize> Data for &[u8; N] {}

impl sealed::Sealed for Message {}
impl Payload for Message {
    fn outgoing(&self) -> Outgoing<'_> {
        match self {
            Message::Text(s) => Outgoing::Text(s.as_bytes()),
            Message::Binary(b) => Outgoing::Binary(b),
            Message::Ping(b) => Outgoing::Ping(b),
            Message::Pong(b) => Outgoing::Pong(b),
            Message::Close(f) => Outgoing::Close(f.as_ref()),
        }
    }
}

impl sealed::Sealed for &Message {}
impl Payload for &Message {
    fn outgoing(&self) -> Outgoing<'_> {
        (*self).outgoing()
    }
}
