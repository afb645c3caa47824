//! The frame header decoder: never panics, and what it decodes encodes back
//! to the same bytes (when the length used its shortest form) and decodes
//! again to the same header.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyws::fuzzing::{decode_frame_header, encode_frame_header, is_control};

fuzz_target!(|data: &[u8]| {
    let decoded = match decode_frame_header(data) {
        Ok(Some(h)) => h,
        Ok(None) => {
            assert!(data.len() < 14, "needs more bytes after {}", data.len());
            return;
        }
        Err(_) => return,
    };
    let (fin, opcode, mask, len, used) = decoded;
    assert!(mask.is_some(), "client frames are masked");
    assert!(len >> 63 == 0);
    if is_control(opcode) {
        assert!(fin && len <= 125);
    }
    let ext = match data[1] & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    assert_eq!(used, 2 + ext + 4);
    let bytes = encode_frame_header(fin, opcode, len, mask);
    let shortest = match len {
        0..=125 => 0,
        126..=65535 => 2,
        _ => 8,
    };
    if ext == shortest {
        assert_eq!(bytes, &data[..used]);
    }
    assert_eq!(
        decode_frame_header(&bytes).unwrap(),
        Some((fin, opcode, mask, len, bytes.len()))
    );
});
