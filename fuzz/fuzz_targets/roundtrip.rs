//! Encode → decode is the identity for every header a client may send;
//! masking in arbitrary pieces equals masking at once; the incremental UTF-8
//! check in arbitrary pieces agrees with std.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyws::fuzzing::{
    apply_mask, decode_frame_header, encode_frame_header, is_control, utf8_pieces,
};

fuzz_target!(|data: &[u8]| {
    if data.len() < 14 {
        return;
    }
    let (head, payload) = data.split_at(14);
    let fin = head[0] & 1 != 0;
    let opcode = usize::from(head[0] >> 1) % 6;
    let masked = head[0] & 0x80 == 0;
    let mut be = [0u8; 8];
    be.copy_from_slice(&head[1..9]);
    // Spread lengths over all three encodings and their boundaries.
    let raw = u64::from_be_bytes(be) >> 1;
    let len = match head[9] % 4 {
        0 => raw % 130,
        1 => 120 + raw % 65_540,
        2 => 65_530 + raw % 20,
        _ => raw,
    };
    let mask = [head[10], head[11], head[12], head[13]];

    let bytes = encode_frame_header(fin, opcode, len, if masked { Some(mask) } else { None });
    let decoded = decode_frame_header(&bytes);
    if !masked || (is_control(opcode) && (!fin || len > 125)) {
        assert!(decoded.is_err(), "{:?}", decoded);
    } else {
        assert_eq!(
            decoded.unwrap(),
            Some((fin, opcode, Some(mask), len, bytes.len()))
        );
        // Every proper prefix needs more bytes.
        for cut in 0..bytes.len() {
            assert_eq!(decode_frame_header(&bytes[..cut]).unwrap(), None);
        }
    }

    // Masking: at once versus in pieces cut where the payload says.
    let mut whole = payload.to_vec();
    apply_mask(&mut whole, mask, 0);
    let mut pieces = payload.to_vec();
    let mut at = 0;
    let mut cuts = Vec::new();
    let mut step = head[9];
    while at < pieces.len() {
        let n = (usize::from(step % 17) + 1).min(pieces.len() - at);
        apply_mask(&mut pieces[at..at + n], mask, at);
        cuts.push(at..at + n);
        at += n;
        step = step.wrapping_mul(31).wrapping_add(7);
    }
    assert_eq!(whole, pieces);
    let mut back = whole.clone();
    apply_mask(&mut back, mask, 0);
    assert_eq!(back, payload);

    // UTF-8: the same cuts, fed to the incremental check.
    let split: Vec<&[u8]> = cuts.into_iter().map(|r| &payload[r]).collect();
    assert_eq!(utf8_pieces(&split), std::str::from_utf8(payload).is_ok());
});
