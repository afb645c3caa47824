//! Masking (RFC 6455 section 5.3), and the fresh key a client puts on every
//! frame it sends.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// XORs `buf` with the mask, where `buf` starts `offset` bytes into the
/// payload. Works eight bytes at a time in safe code.
pub(crate) fn apply_mask(buf: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut m = mask;
    m.rotate_left(offset % 4);
    let word = u64::from_ne_bytes([m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(w) ^ word).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= m[i % 4];
    }
}

/// Mask keys for the frames a client sends: a fresh, unpredictable key per
/// frame (RFC 6455 sections 5.3 and 10.3), with no dependency beyond std.
///
/// Each key is SipHash, keyed with the 128-bit random key std seeds from the
/// operating system for `HashMap`s, over a per-connection counter: without
/// that secret key, a key cannot be predicted from the ones before it. See
/// DESIGN.md, "Client masking".
pub(crate) struct MaskKeys {
    secret: RandomState,
    /// Any thread sending on the connection takes the next count, before
    /// the write lock: a key is never used twice.
    counter: AtomicU64,
}

impl MaskKeys {
    pub(crate) fn new() -> MaskKeys {
        MaskKeys {
            secret: RandomState::new(),
            counter: AtomicU64::new(0),
        }
    }

    /// The key for the next frame.
    pub(crate) fn next_key(&self) -> [u8; 4] {
        let count = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut h = self.secret.build_hasher();
        h.write_u64(count);
        let bits = h.finish();
        ((bits ^ (bits >> 32)) as u32).to_ne_bytes()
    }
}

impl std::fmt::Debug for MaskKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs.
        f.write_str("MaskKeys")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_at_every_alignment_and_offset() {
        let mask = [0xA1, 0xB2, 0xC3, 0xD4];
        let data: Vec<u8> = (0..100u8).collect();
        let naive = |offset: usize, len: usize| -> Vec<u8> {
            (0..len).map(|i| data[i] ^ mask[(offset + i) % 4]).collect()
        };
        let mut backing = [0u8; 128];
        for align in 0..8 {
            for offset in 0..4 {
                for len in [0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 91] {
                    let buf = &mut backing[align..align + len];
                    buf.copy_from_slice(&data[..len]);
                    apply_mask(buf, mask, offset);
                    assert_eq!(
                        buf,
                        &naive(offset, len)[..],
                        "align {} offset {} len {}",
                        align,
                        offset,
                        len
                    );
                }
            }
        }
        // Masking in pieces equals masking at once.
        let mut whole = data.clone();
        apply_mask(&mut whole, mask, 0);
        let mut pieces = data.clone();
        let (a, b) = pieces.split_at_mut(13);
        apply_mask(a, mask, 0);
        apply_mask(b, mask, 13);
        assert_eq!(whole, pieces);
    }

    /// Keys differ frame to frame and connection to connection.
    #[test]
    fn mask_keys_are_fresh() {
        let a = MaskKeys::new();
        let b = MaskKeys::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            seen.insert(a.next_key());
            seen.insert(b.next_key());
        }
        // 2000 draws of 32 random bits collide with odds of about 1 in 2,000.
        assert!(seen.len() >= 1998, "{}", seen.len());
    }
}
