//! The opening handshake: the sans-IO parser and validator, and the public
//! `accept` over an in-memory stream, must agree and never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyws::{Config, Error};
use tinyws_fuzz::{check_server_output, MemStream};

fuzz_target!(|data: &[u8]| {
    let head = data.get(1..).unwrap_or(&[]);
    let verdict = tinyws::fuzzing::check_request(head);
    if let Ok(Some(n)) = verdict {
        assert!(n <= head.len());
    }
    // `accept` reads the head into a fixed 8 KiB buffer; the parser alone
    // has no such bound.
    let fits = matches!(verdict, Ok(Some(n)) if n <= 8 * 1024);
    let config = Config::default().max_message_size(256).ping_interval(None);
    match tinyws::accept(MemStream::from_fuzz(data), &config) {
        Ok(mut ws) => {
            // A head the validator accepts in full is accepted by `accept`.
            let out = ws.get_ref().output.clone();
            assert!(out.starts_with(b"HTTP/1.1 101 "), "{:?}", out);
            while ws.read().is_ok() {}
            let end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            check_server_output(&ws.get_ref().output[end..]);
        }
        Err(Error::Handshake(refusal)) => {
            assert!(matches!(refusal.status(), 400..=599));
            assert!(!fits, "validator accepted, accept refused");
        }
        Err(e) => assert!(!fits, "validator accepted, accept failed: {}", e),
    }
});
