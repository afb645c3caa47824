//! Close codes and Close payloads (RFC 6455 sections 5.5.1 and 7.4).

use std::fmt;

use crate::error::{Error, ProtocolError, Result};

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
    /// 1012: the service is restarting; a client may reconnect soon.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later, the service is overloaded.
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway or proxy got a bad answer from the server behind it.
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);

    /// Whether this code may appear in a Close frame: 1000–1003, 1007–1014
    /// and 3000–4999 (RFC 6455 section 7.4; 1012–1014 are in the IANA
    /// registry of close codes).
    ///
    /// ```
    /// use tinyws::CloseCode;
    /// assert!(CloseCode::NORMAL.is_allowed());
    /// assert!(CloseCode(4000).is_allowed());
    /// assert!(!CloseCode::NO_STATUS.is_allowed());
    /// assert!(!CloseCode(2999).is_allowed());
    /// ```
    pub fn is_allowed(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
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
            return Err(Error::InvalidInput("close reason longer than 123 bytes"));
        }
        if !code.is_allowed() {
            // 1005, 1006 and 1015 are for reporting, never for the wire
            // (RFC 6455 section 7.4.1).
            return Err(Error::InvalidInput("close code not allowed on the wire"));
        }
        out[..2].copy_from_slice(&code.0.to_be_bytes());
        out[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
        Ok(2 + reason.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_code_validity() {
        let allowed = [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ];
        let refused = [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
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
}
