//! permessage-deflate inflate: any bytes, split anywhere, never panic and
//! never inflate past the limit plus one byte; anything compressed inflates
//! back to itself, piece by piece.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let limit = usize::from(data[0]) * 64;
    let takeover = data[1] & 1 == 1;
    let split = usize::from(data[2]) % (data.len() - 2);
    let body = &data[3..];
    let (a, b) = body.split_at(split.min(body.len()));

    // Arbitrary bytes as a compressed message (the bound is checked inside).
    tinyws::fuzzing::inflate_pieces(&[a, b], a, limit, takeover);

    // The same bytes as plain text: compressed, then inflated in two pieces
    // split at the same point, followed by a second message on the same
    // context.
    let wire = tinyws::fuzzing::deflate_messages(&[body, a], takeover);
    let cut = split.min(wire[0].len());
    let (x, y) = wire[0].split_at(cut);
    let big = body.len().max(1);
    let [first, second] = tinyws::fuzzing::inflate_pieces(&[x, y], &wire[1], big, takeover);
    assert_eq!(first.as_deref(), Some(body));
    assert_eq!(second.as_deref(), Some(a));
    let once = tinyws::fuzzing::deflate_message(body, data[1] % 9 + 1);
    let [again, _] = tinyws::fuzzing::inflate_pieces(&[&once], &[], big, false);
    assert_eq!(again.as_deref(), Some(body));
});
