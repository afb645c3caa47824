//! The client's side of the handshake: any server answer, and any URL, is
//! parsed and checked without a panic, and what passes is consistent.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyws::Error;

fuzz_target!(|data: &[u8]| {
    match tinyws::fuzzing::check_response(data) {
        Ok(Some(n)) => assert!(n <= data.len()),
        Ok(None) => {}
        Err(Error::Refused(r)) => {
            assert_ne!(r.status(), 101);
            assert!(r.reason().len() <= 512);
            let _ = r.to_string();
        }
        Err(Error::Protocol(p)) => assert!(Error::Protocol(p).close_code().is_none()),
        Err(e) => panic!("unexpected error {:?}", e),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok((host, shown)) = tinyws::fuzzing::parse_url(text) {
            assert!(!host.is_empty());
            // What a log shows hides any query, and the rest parses again to
            // the same Host.
            let base = shown.strip_suffix("?…").unwrap_or(&shown);
            assert!(!base.contains('?'), "{}", shown);
            let (again, _) = tinyws::fuzzing::parse_url(base).expect("shown url parses");
            assert_eq!(again, host);
        }
    }
});
