//! Messages, close codes and close frames, and the incremental UTF-8 check
//! that lets a text message fail as soon as a bad byte arrives.

use std::fmt;

use crate::error::{Error, ProtocolError, Result};

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

/// A close status code (RFC 6455 section 7.4).
///
/// The constants name the codes this crate sends or checks; any other `u16`
/// can be wrapped with `CloseCode(n)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection is fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the server is going down or the browser left the page.
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a kind of data the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no code was given. Never sent on the wire.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the connection dropped without a Close. Never sent on the wire.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: a text message or close reason was not UTF-8.
    pub const INVALID_DATA: CloseCode = CloseCode(1007);
    /// 1008: a message broke the endpoint's policy.
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: a message was too large to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client needed an extension the server did not offer.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server hit an unexpected condition, such as a handler panic.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);

    /// Whether this code may appear in a Close frame: 1000–1003, 1007–1011
    /// and 3000–4999 (RFC 6455 section 7.4).
    ///
    /// ```
    /// use tinyws::CloseCode;
    /// assert!(CloseCode::NORMAL.is_allowed());
    /// assert!(CloseCode(4000).is_allowed());
    /// assert!(!CloseCode::NO_STATUS.is_allowed());
    /// assert!(!CloseCode(2999).is_allowed());
    /// ```
    pub fn is_allowed(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1011 | 3000..=4999)
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({})", self.0)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

/// The code and reason of a Close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// Why, for people; at most 123 bytes of UTF-8.
    pub reason: String,
}

/// The most bytes a close reason can have: 125 bytes of control payload less
/// the 2-byte code.
pub(crate) const MAX_REASON: usize = 123;

impl CloseFrame {
    /// Parses a Close payload (RFC 6455 section 5.5.1): empty, or a valid
    /// code followed by a UTF-8 reason.
    pub(crate) fn parse(payload: &[u8]) -> Result<Option<CloseFrame>> {
        match payload.len() {
            0 => Ok(None),
            1 => Err(Error::Protocol(ProtocolError::CloseTooShort)),
            _ => {
                let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
                if !code.is_allowed() {
                    return Err(Error::Protocol(ProtocolError::InvalidCloseCode(code.0)));
                }
                let reason = std::str::from_utf8(&payload[2..]).map_err(|_| Error::InvalidUtf8)?;
                Ok(Some(CloseFrame {
                    code,
                    reason: reason.to_owned(),
                }))
            }
        }
    }

    /// Writes the Close payload into `out` and returns its length. A reason
    /// over 123 bytes is an error, never silently cut.
    pub(crate) fn encode(code: CloseCode, reason: &str, out: &mut [u8; 125]) -> Result<usize> {
        if reason.len() > MAX_REASON {
            return Err(Error::Config("close reason longer than 123 bytes"));
        }
        if !code.is_allowed() {
            // 1005, 1006 and 1015 are for reporting, never for the wire
            // (RFC 6455 section 7.4.1).
            return Err(Error::Config("close code not allowed on the wire"));
        }
        out[..2].copy_from_slice(&code.0.to_be_bytes());
        out[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
        Ok(2 + reason.len())
    }
}

/// Checks UTF-8 piece by piece, so that an invalid byte is caught as soon as
/// it arrives, even in the middle of a frame, while a code point split across
/// pieces or fragments is still valid.
#[derive(Debug, Default, Clone)]
pub(crate) struct Utf8Check {
    /// The start of a code point whose remaining bytes have not arrived yet.
    pending: [u8; 4],
    pending_len: u8,
}

impl Utf8Check {
    /// Checks the next piece of text. Fails at the first byte that cannot
    /// start or continue valid UTF-8.
    pub(crate) fn feed(&mut self, mut data: &[u8]) -> Result<()> {
        if self.pending_len > 0 {
            let have = usize::from(self.pending_len);
            let need = sequence_len(self.pending[0]) - have;
            let take = need.min(data.len());
            self.pending[have..have + take].copy_from_slice(&data[..take]);
            match std::str::from_utf8(&self.pending[..have + take]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() => {
                    // Still a valid prefix; `data` is used up.
                    self.pending_len = (have + take) as u8;
                    return Ok(());
                }
                Err(_) => return Err(Error::InvalidUtf8),
            }
            data = &data[take..];
        }
        match std::str::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) => match e.error_len() {
                Some(_) => Err(Error::InvalidUtf8),
                None => {
                    // A truncated but so far valid code point at the end.
                    let rest = &data[e.valid_up_to()..];
                    self.pending[..rest.len()].copy_from_slice(rest);
                    self.pending_len = rest.len() as u8;
                    Ok(())
                }
            },
        }
    }

    /// Ends the text: a code point still waiting for bytes is an error.
    pub(crate) fn finish(&mut self) -> Result<()> {
        let complete = self.pending_len == 0;
        self.pending_len = 0;
        if complete {
            Ok(())
        } else {
            Err(Error::InvalidUtf8)
        }
    }
}

/// The length of a UTF-8 sequence from its lead byte. Only called on lead
/// bytes that `from_utf8` has accepted as the start of a truncated sequence.
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_code_validity() {
        let allowed = [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ];
        let refused = [
            0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ];
        for c in allowed {
            assert!(CloseCode(c).is_allowed(), "{}", c);
            let payload = c.to_be_bytes();
            assert!(CloseFrame::parse(&payload).is_ok(), "{}", c);
        }
        for c in refused {
            assert!(!CloseCode(c).is_allowed(), "{}", c);
            let err = CloseFrame::parse(&c.to_be_bytes()).unwrap_err();
            assert!(matches!(err, Error::Protocol(ProtocolError::InvalidCloseCode(x)) if x == c));
        }
    }

    #[test]
    fn close_payload_rules() {
        assert_eq!(CloseFrame::parse(&[]).unwrap(), None);
        assert!(matches!(
            CloseFrame::parse(&[3]),
            Err(Error::Protocol(ProtocolError::CloseTooShort))
        ));
        assert!(matches!(
            CloseFrame::parse(&[3, 232, 0xff]),
            Err(Error::InvalidUtf8)
        ));
        let f = CloseFrame::parse(b"\x03\xe8bye").unwrap().unwrap();
        assert_eq!((f.code, f.reason.as_str()), (CloseCode::NORMAL, "bye"));

        let mut out = [0u8; 125];
        let n = CloseFrame::encode(CloseCode::GOING_AWAY, "bye", &mut out).unwrap();
        assert_eq!(&out[..n], b"\x03\xe9bye");
        assert!(CloseFrame::encode(CloseCode::NORMAL, &"x".repeat(124), &mut out).is_err());
    }

    /// Every split of valid text into two pieces, at every byte position,
    /// passes; every split of text with one bad byte fails no later than the
    /// piece holding that byte.
    #[test]
    fn utf8_split_at_every_position() {
        let text = "aé€𝄞ß中文🎉z".as_bytes();
        for cut in 0..=text.len() {
            let mut v = Utf8Check::default();
            v.feed(&text[..cut]).unwrap();
            v.feed(&text[cut..]).unwrap();
            v.finish().unwrap();
        }
        // Byte by byte.
        let mut v = Utf8Check::default();
        for b in text {
            v.feed(std::slice::from_ref(b)).unwrap();
        }
        v.finish().unwrap();
    }

    #[test]
    fn utf8_fails_fast() {
        let cases: &[&[u8]] = &[
            b"\xff",                                                           // never valid
            b"\xc0\x80",                                                       // overlong
            b"\xed\xa0\x80",                                                   // surrogate
            b"\xf4\x90\x80\x80",                                               // above U+10FFFF
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", // Autobahn 6.4.x shape
        ];
        for bad in cases {
            // Fed byte by byte, it fails at or before the last byte of the bad sequence.
            let mut v = Utf8Check::default();
            let failed_at = bad
                .iter()
                .position(|b| v.feed(std::slice::from_ref(b)).is_err());
            let first_bad = std::str::from_utf8(bad).unwrap_err().valid_up_to();
            let at = failed_at.expect("must fail");
            assert!(
                at <= first_bad + 3,
                "{:?}: failed at {} (bad from {})",
                bad,
                at,
                first_bad
            );
        }
        // An unfinished code point at the end of the message is invalid.
        let mut v = Utf8Check::default();
        v.feed(b"ok\xe2\x82").unwrap();
        assert!(v.finish().is_err());
    }
}
