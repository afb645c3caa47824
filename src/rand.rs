//! Unpredictable bytes for the client's masking keys and Sec-WebSocket-Key
//! (RFC 6455 sections 5.3 and 10.3), with no dependency: SipHash of a
//! counter, keyed by std's `RandomState`, whose keys come from the
//! operating system's randomness. Why this is enough: DESIGN.md, "Client
//! randomness".

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

thread_local! {
    /// One secret key per thread (std draws it from the OS on the thread's
    /// first `RandomState`), and a counter that never repeats under it.
    static GENERATOR: (RandomState, Cell<u64>) = (RandomState::new(), Cell::new(0));
}

/// 64 bits that an observer of earlier outputs cannot predict: SipHash is a
/// pseudo-random function of its input under a secret key.
pub(crate) fn next_u64() -> u64 {
    GENERATOR.with(|(key, counter)| {
        let n = counter.get();
        counter.set(n.wrapping_add(1));
        let mut hasher = key.build_hasher();
        hasher.write_u64(n);
        hasher.finish()
    })
}

/// A fresh masking key for one client frame (RFC 6455 section 5.3).
pub(crate) fn mask_key() -> [u8; 4] {
    let bytes = next_u64().to_le_bytes();
    [bytes[0], bytes[1], bytes[2], bytes[3]]
}

/// A fresh 16-byte nonce for Sec-WebSocket-Key (RFC 6455 section 4.1).
pub(crate) fn nonce() -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&next_u64().to_le_bytes());
    out[8..].copy_from_slice(&next_u64().to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn outputs_do_not_repeat() {
        let seen: HashSet<u64> = (0..10_000).map(|_| next_u64()).collect();
        assert_eq!(seen.len(), 10_000);
        let keys: HashSet<[u8; 16]> = (0..1000).map(|_| nonce()).collect();
        assert_eq!(keys.len(), 1000);
    }

    #[test]
    fn bits_are_balanced() {
        // Each of the 32 mask bits is set in about half of 4,096 keys; a
        // stuck or counter-like bit would sit near 0, 4,096 or exactly half.
        let mut ones = [0u32; 32];
        for _ in 0..4096 {
            let key = u32::from_le_bytes(mask_key());
            for (bit, count) in ones.iter_mut().enumerate() {
                *count += (key >> bit) & 1;
            }
        }
        for (bit, count) in ones.iter().enumerate() {
            assert!((1700..2400).contains(count), "bit {}: {}", bit, count);
        }
    }

    #[test]
    fn threads_get_different_streams() {
        let here: Vec<u64> = (0..4).map(|_| next_u64()).collect();
        let there = std::thread::spawn(|| (0..4).map(|_| next_u64()).collect::<Vec<u64>>())
            .join()
            .unwrap();
        assert_ne!(here, there);
    }
}
