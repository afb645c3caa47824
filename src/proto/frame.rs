//! Sans-IO frame headers and masking (RFC 6455 section 5).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! ```

use super::Role;
use crate::error::{Error, ProtocolError, Result};

/// The longest header: 2 bytes, an 8-byte length and a 4-byte mask.
pub(crate) const MAX_HEADER: usize = 14;

/// A frame's opcode (section 5.2). Reserved opcodes never get this far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
    fn from_bits(bits: u8) -> Result<OpCode> {
        Ok(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            other => return Err(Error::Protocol(ProtocolError::ReservedOpcode(other))),
        })
    }

    fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Every opcode RFC 6455 defines, data first.
    #[cfg(any(test, feature = "_fuzz"))]
    pub(crate) const ALL: [OpCode; 6] = [
        OpCode::Continuation,
        OpCode::Text,
        OpCode::Binary,
        OpCode::Close,
        OpCode::Ping,
        OpCode::Pong,
    ];

    /// Close, Ping and Pong (section 5.5).
    pub(crate) fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) fin: bool,
    /// RSV1, RSV2 and RSV3 where they sit in the first byte (0x40, 0x20,
    /// 0x10); only bits an extension allows get this far.
    pub(crate) rsv: u8,
    pub(crate) opcode: OpCode,
    pub(crate) mask: Option<[u8; 4]>,
    pub(crate) len: u64,
}

/// Decodes the header of a frame that `role` receives, from the start of
/// `buf`. `rsv_allowed` holds the RSV bits a negotiated extension may set.
///
/// Returns `Ok(None)` when more bytes are needed, or the header and its
/// length. Everything the header alone can break is checked here, in the
/// order the bytes arrive: reserved bits, opcode, control-frame rules, the
/// length's top bit, and the mask: a server receives only masked frames and
/// a client only unmasked ones (RFC 6455 section 5.1).
pub(crate) fn decode_header(
    buf: &[u8],
    role: Role,
    rsv_allowed: u8,
) -> Result<Option<(Header, usize)>> {
    let (b0, b1) = match buf {
        [b0, b1, ..] => (*b0, *b1),
        _ => return Ok(None),
    };
    if b0 & 0x70 & !rsv_allowed != 0 {
        return Err(Error::Protocol(ProtocolError::ReservedBits));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = OpCode::from_bits(b0 & 0x0F)?;
    let masked = b1 & 0x80 != 0;
    let short = u64::from(b1 & 0x7F);
    if opcode.is_control() {
        if !fin {
            return Err(Error::Protocol(ProtocolError::FragmentedControlFrame));
        }
        if short > 125 {
            return Err(Error::Protocol(ProtocolError::ControlFrameTooLarge));
        }
    }
    let (len, mut at) = match short {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let mut be = [0u8; 8];
                be.copy_from_slice(b);
                let len = u64::from_be_bytes(be);
                if len >> 63 != 0 {
                    return Err(Error::Protocol(ProtocolError::LengthTopBit));
                }
                (len, 10)
            }
            None => return Ok(None),
        },
        n => (n, 2),
    };
    let mask = match (role, masked) {
        (Role::Server, false) => return Err(Error::Protocol(ProtocolError::UnmaskedFrame)),
        (Role::Client, true) => return Err(Error::Protocol(ProtocolError::MaskedFrame)),
        (Role::Client, false) => None,
        (Role::Server, true) => match buf.get(at..at + 4) {
            Some(m) => {
                at += 4;
                Some([m[0], m[1], m[2], m[3]])
            }
            None => return Ok(None),
        },
    };
    Ok(Some((
        Header {
            fin,
            rsv: b0 & 0x70,
            opcode,
            mask,
            len,
        },
        at,
    )))
}

/// Encodes a header into `out` and returns its length. Frames a server sends
/// pass `mask: None`; a client's carry a fresh key. Only
/// [`outbound`](super::outbound) and tests call this.
pub(crate) fn encode_header(
    fin: bool,
    rsv: u8,
    opcode: OpCode,
    len: u64,
    mask: Option<[u8; 4]>,
    out: &mut [u8; MAX_HEADER],
) -> usize {
    out[0] = u8::from(fin) << 7 | (rsv & 0x70) | opcode.bits();
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut at = if len < 126 {
        out[1] = mask_bit | len as u8;
        2
    } else if len <= u64::from(u16::MAX) {
        out[1] = mask_bit | 126;
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        out[1] = mask_bit | 127;
        out[2..10].copy_from_slice(&len.to_be_bytes());
        10
    };
    if let Some(m) = mask {
        out[at..at + 4].copy_from_slice(&m);
        at += 4;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<Option<(Header, usize)>> {
        decode_header(bytes, Role::Server, 0)
    }

    /// The masked examples of RFC 6455 section 5.7 (a server only reads
    /// masked frames; the unmasked ones are what it writes).
    #[test]
    fn rfc_5_7_examples() {
        // A single-frame masked text message "Hello".
        let mut frame = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ]
        .to_vec();
        let (h, n) = decode(&frame).unwrap().unwrap();
        assert_eq!((h.fin, h.opcode, h.len, n), (true, OpCode::Text, 5, 6));
        crate::proto::mask::apply_mask(&mut frame[n..], h.mask.unwrap(), 0);
        assert_eq!(&frame[n..], b"Hello");

        // What the server writes: unmasked "Hello", and fragments "Hel" + "lo".
        let mut out = [0u8; MAX_HEADER];
        let n = encode_header(true, 0, OpCode::Text, 5, None, &mut out);
        assert_eq!(&out[..n], &[0x81, 0x05]);
        let n = encode_header(false, 0, OpCode::Text, 3, None, &mut out);
        assert_eq!(&out[..n], &[0x01, 0x03]);
        let n = encode_header(true, 0, OpCode::Continuation, 2, None, &mut out);
        assert_eq!(&out[..n], &[0x80, 0x02]);
        // Unmasked Ping and its masked Pong reply, "Hello".
        let n = encode_header(true, 0, OpCode::Ping, 5, None, &mut out);
        assert_eq!(&out[..n], &[0x89, 0x05]);
        let pong = [
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let (h, _) = decode(&pong).unwrap().unwrap();
        assert_eq!(h.opcode, OpCode::Pong);
        // 256 bytes and 64 KiB binary messages: 16-bit and 64-bit lengths.
        let n = encode_header(true, 0, OpCode::Binary, 256, None, &mut out);
        assert_eq!(&out[..n], &[0x82, 0x7E, 0x01, 0x00]);
        let n = encode_header(true, 0, OpCode::Binary, 65536, None, &mut out);
        assert_eq!(&out[..n], &[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn length_boundaries() {
        for (len, header_len) in [
            (0, 2),
            (125, 2),
            (126, 4),
            (65535, 4),
            (65536, 10),
            (1 << 40, 10),
        ] {
            let mut out = [0u8; MAX_HEADER];
            let n = encode_header(true, 0, OpCode::Binary, len, Some([1, 2, 3, 4]), &mut out);
            assert_eq!(n, header_len + 4, "len {}", len);
            let (h, used) = decode(&out[..n]).unwrap().unwrap();
            assert_eq!((h.len, used), (len, n));
            // Every strict prefix asks for more bytes.
            for cut in 0..n {
                assert_eq!(
                    decode(&out[..cut]).unwrap(),
                    None,
                    "len {} cut {}",
                    len,
                    cut
                );
            }
        }
    }

    macro_rules! rejects {
        ($($name:ident: $bytes:expr => $err:pat,)*) => {$(
            #[test]
            fn $name() {
                let r = decode(&$bytes);
                assert!(matches!(r, Err(Error::Protocol($err))), "{:?}", r);
            }
        )*};
    }

    /// A client reads what a server writes: unmasked frames only.
    #[test]
    fn client_role_wants_unmasked_frames() {
        let hello = [0x81, 0x05, b'H', b'e', b'l', b'l', b'o'];
        let (h, n) = decode_header(&hello, Role::Client, 0).unwrap().unwrap();
        assert_eq!((h.opcode, h.len, h.mask, n), (OpCode::Text, 5, None, 2));
        let masked = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d];
        assert!(matches!(
            decode_header(&masked, Role::Client, 0),
            Err(Error::Protocol(ProtocolError::MaskedFrame))
        ));
    }

    /// RSV bits pass only where an extension allows them, and come back in
    /// the header.
    #[test]
    fn rsv_bits_pass_only_when_allowed() {
        let rsv1 = [0xC1, 0x80, 0, 0, 0, 0];
        let (h, _) = decode_header(&rsv1, Role::Server, 0x40).unwrap().unwrap();
        assert_eq!(h.rsv, 0x40);
        let rsv2 = [0xA1, 0x80, 0, 0, 0, 0];
        assert!(matches!(
            decode_header(&rsv2, Role::Server, 0x40),
            Err(Error::Protocol(ProtocolError::ReservedBits))
        ));
        let mut out = [0u8; MAX_HEADER];
        let n = encode_header(true, 0x40, OpCode::Text, 3, None, &mut out);
        assert_eq!(&out[..n], &[0xC1, 0x03]);
    }

    rejects! {
        unmasked: [0x81, 0x00] => ProtocolError::UnmaskedFrame,
        rsv1: [0xC1, 0x80, 0, 0, 0, 0] => ProtocolError::ReservedBits,
        rsv2: [0xA1, 0x80, 0, 0, 0, 0] => ProtocolError::ReservedBits,
        rsv3: [0x91, 0x80, 0, 0, 0, 0] => ProtocolError::ReservedBits,
        reserved_data_opcode: [0x83, 0x80, 0, 0, 0, 0] => ProtocolError::ReservedOpcode(3),
        reserved_control_opcode: [0x8B, 0x80, 0, 0, 0, 0] => ProtocolError::ReservedOpcode(0xB),
        control_too_large: [0x89, 0xFE, 0, 126] => ProtocolError::ControlFrameTooLarge,
        fragmented_ping: [0x09, 0x80, 0, 0, 0, 0] => ProtocolError::FragmentedControlFrame,
        length_top_bit: [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0] => ProtocolError::LengthTopBit,
    }

    /// decode(encode(h)) == h, over a seeded pseudo-random sweep.
    #[test]
    fn round_trip_property() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let ops = OpCode::ALL;
        for _ in 0..10_000 {
            let r = next();
            let opcode = ops[(r % 6) as usize];
            let len = if opcode.is_control() {
                (r >> 8) % 126
            } else {
                (r >> 9) >> ((r >> 3) & 63)
            };
            let fin = opcode.is_control() || r & 4 != 0;
            let mask = (next() as u32).to_be_bytes();
            let mut out = [0u8; MAX_HEADER];
            let n = encode_header(fin, 0, opcode, len, Some(mask), &mut out);
            let want = Header {
                fin,
                rsv: 0,
                opcode,
                mask: Some(mask),
                len,
            };
            assert_eq!(decode(&out[..n]).unwrap(), Some((want, n)));
        }
    }
}
