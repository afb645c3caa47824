//! permessage-deflate negotiation: header values split at newlines. The
//! server never panics, its answer is one our client accepts, and it
//! never holds a parameter no offer allowed; the client's check never
//! panics.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let takeover = data.first().map_or(false, |b| b & 1 == 1);
    let values: Vec<&[u8]> = data.get(1..).unwrap_or(&[]).split(|b| *b == b'\n').collect();
    if let Some(answer) = tinyws::fuzzing::deflate_server_accept(&values, takeover) {
        let lower = String::from_utf8_lossy(data).to_ascii_lowercase();
        assert!(lower.contains("permessage-deflate"), "{}", answer);
        assert!(!answer.contains("client_max_window_bits"), "{}", answer);
        if answer.contains("server_max_window_bits") {
            assert!(lower.contains("server_max_window_bits"), "{}", answer);
        }
        let (_, verdict) = tinyws::fuzzing::deflate_client(&[answer.as_bytes()], takeover);
        assert_eq!(verdict, Ok(true), "{}", answer);
    }
    let (offer, _) = tinyws::fuzzing::deflate_client(&values, takeover);
    assert!(!offer.contains("client_max_window_bits"));
});
