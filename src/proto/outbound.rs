//! The one place outgoing frames are prepared: the header, the RSV bits and
//! masking per [`Role`](super::Role). The connection, its Senders and the Hub
//! all send what [`prepare`] returns.

use std::borrow::Cow;

use super::frame::{encode_header, OpCode, MAX_HEADER};
use super::mask::apply_mask;
use crate::error::{Error, Result};

/// A frame ready for the wire: its header, and its payload as given (a
/// server's) or masked (a client's).
#[derive(Debug)]
pub(crate) struct OutFrame<'a> {
    head: [u8; MAX_HEADER],
    head_len: u8,
    payload: Cow<'a, [u8]>,
}

impl OutFrame<'_> {
    #[inline]
    pub(crate) fn head(&self) -> &[u8] {
        &self.head[..usize::from(self.head_len)]
    }

    #[inline]
    pub(crate) fn payload(&self) -> &[u8] {
        &self.payload
    }
}

/// Prepares one final frame of `opcode`. `mask` is `Some` fresh key when a
/// client sends, `None` when a server does (RFC 6455 section 5.3); `rsv`
/// carries an extension's bits.
///
/// # Errors
/// [`Error::InvalidInput`] for a control payload over 125 bytes (section
/// 5.5).
#[inline]
pub(crate) fn prepare(
    opcode: OpCode,
    rsv: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) -> Result<OutFrame<'_>> {
    if opcode.is_control() && payload.len() > 125 {
        return Err(Error::InvalidInput("control frame payload over 125 bytes"));
    }
    let mut head = [0u8; MAX_HEADER];
    let n = encode_header(true, rsv, opcode, payload.len() as u64, mask, &mut head);
    let payload = match mask {
        None => Cow::Borrowed(payload),
        Some(key) => {
            // The caller's bytes are borrowed; masking needs a copy.
            let mut owned = payload.to_vec();
            apply_mask(&mut owned, key, 0);
            Cow::Owned(owned)
        }
    };
    Ok(OutFrame {
        head,
        head_len: n as u8,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::frame::decode_header;
    use crate::proto::Role;

    /// What one role prepares, the other decodes: unmasked from a server,
    /// masked with the given key from a client.
    #[test]
    fn each_role_prepares_what_the_other_reads() {
        let f = prepare(OpCode::Text, 0, b"Hello", None).unwrap();
        assert_eq!(f.head(), &[0x81, 0x05]);
        assert_eq!(f.payload(), b"Hello");
        let (h, _) = decode_header(f.head(), Role::Client, 0).unwrap().unwrap();
        assert_eq!((h.opcode, h.len, h.mask), (OpCode::Text, 5, None));

        // RFC 6455 section 5.7: masked "Hello".
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let f = prepare(OpCode::Text, 0, b"Hello", Some(key)).unwrap();
        assert_eq!(f.head(), &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(f.payload(), &[0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        let (h, _) = decode_header(f.head(), Role::Server, 0).unwrap().unwrap();
        assert_eq!(h.mask, Some(key));
    }

    #[test]
    fn control_payloads_over_125_bytes_are_refused() {
        assert!(prepare(OpCode::Ping, 0, &[0; 125], None).is_ok());
        assert!(matches!(
            prepare(OpCode::Ping, 0, &[0; 126], None),
            Err(Error::InvalidInput(_))
        ));
        // Data frames have no such limit.
        assert!(prepare(OpCode::Binary, 0, &[0; 126], Some([1, 2, 3, 4])).is_ok());
    }
}
