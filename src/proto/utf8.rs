//! Incremental UTF-8 validation, so that a text message fails as soon as a
//! bad byte arrives (RFC 6455 section 8.1).

use crate::error::{Error, Result};

/// Checks UTF-8 piece by piece, so that an invalid byte is caught as soon as
/// it arrives, even in the middle of a frame, while a code point split across
/// pieces or fragments is still valid.
#[derive(Debug, Default, Clone)]
pub(crate) struct Utf8Check {
    /// The start of a code point whose remaining bytes have not arrived yet.
    pending: [u8; 4],
    pending_len: u8,
}

impl Utf8Check {
    /// Checks the next piece of text. Fails at the first byte that cannot
    /// start or continue valid UTF-8.
    pub(crate) fn feed(&mut self, mut data: &[u8]) -> Result<()> {
        if self.pending_len > 0 {
            let have = usize::from(self.pending_len);
            let need = sequence_len(self.pending[0]) - have;
            let take = need.min(data.len());
            self.pending[have..have + take].copy_from_slice(&data[..take]);
            match std::str::from_utf8(&self.pending[..have + take]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() => {
                    // Still a valid prefix; `data` is used up.
                    self.pending_len = (have + take) as u8;
                    return Ok(());
                }
                Err(_) => return Err(Error::InvalidUtf8),
            }
            data = &data[take..];
        }
        match std::str::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) => match e.error_len() {
                Some(_) => Err(Error::InvalidUtf8),
                None => {
                    // A truncated but so far valid code point at the end.
                    let rest = &data[e.valid_up_to()..];
                    self.pending[..rest.len()].copy_from_slice(rest);
                    self.pending_len = rest.len() as u8;
                    Ok(())
                }
            },
        }
    }

    /// Ends the text: a code point still waiting for bytes is an error.
    pub(crate) fn finish(&mut self) -> Result<()> {
        let complete = self.pending_len == 0;
        self.pending_len = 0;
        if complete {
            Ok(())
        } else {
            Err(Error::InvalidUtf8)
        }
    }
}

/// The length of a UTF-8 sequence from its lead byte. Only called on lead
/// bytes that `from_utf8` has accepted as the start of a truncated sequence.
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every split of valid text into two pieces, at every byte position,
    /// passes; every split of text with one bad byte fails no later than the
    /// piece holding that byte.
    #[test]
    fn utf8_split_at_every_position() {
        let text = "aé€𝄞ß中文🎉z".as_bytes();
        for cut in 0..=text.len() {
            let mut v = Utf8Check::default();
            v.feed(&text[..cut]).unwrap();
            v.feed(&text[cut..]).unwrap();
            v.finish().unwrap();
        }
        // Byte by byte.
        let mut v = Utf8Check::default();
        for b in text {
            v.feed(std::slice::from_ref(b)).unwrap();
        }
        v.finish().unwrap();
    }

    #[test]
    fn utf8_fails_fast() {
        let cases: &[&[u8]] = &[
            b"\xff",                                                           // never valid
            b"\xc0\x80",                                                       // overlong
            b"\xed\xa0\x80",                                                   // surrogate
            b"\xf4\x90\x80\x80",                                               // above U+10FFFF
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", // Autobahn 6.4.x shape
        ];
        for bad in cases {
            // Fed byte by byte, it fails at or before the last byte of the bad sequence.
            let mut v = Utf8Check::default();
            let failed_at = bad
                .iter()
                .position(|b| v.feed(std::slice::from_ref(b)).is_err());
            let first_bad = std::str::from_utf8(bad).unwrap_err().valid_up_to();
            let at = failed_at.expect("must fail");
            assert!(
                at <= first_bad + 3,
                "{:?}: failed at {} (bad from {})",
                bad,
                at,
                first_bad
            );
        }
        // An unfinished code point at the end of the message is invalid.
        let mut v = Utf8Check::default();
        v.feed(b"ok\xe2\x82").unwrap();
        assert!(v.finish().is_err());
    }
}
