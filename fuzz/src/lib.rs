//! Helpers shared by the fuzz targets: an in-memory stream and a parser for
//! what the server wrote back.

use std::io::{self, Read, Write};

/// An in-memory stream: reads come from `input` at most `chunk` bytes at a
/// time (so frames and heads arrive split at arbitrary points), then end of
/// file; writes collect in `output`. It cannot time out or be shared.
#[derive(Debug)]
pub struct MemStream {
    input: Vec<u8>,
    pos: usize,
    chunk: usize,
    /// Everything the server wrote.
    pub output: Vec<u8>,
}

impl MemStream {
    /// A stream that yields `input` in reads of at most `chunk` bytes
    /// (at least one).
    pub fn new(input: &[u8], chunk: usize) -> MemStream {
        MemStream {
            input: input.to_vec(),
            pos: 0,
            chunk: chunk.max(1),
            output: Vec::new(),
        }
    }

    /// Takes the first byte of `data` as the read size (1 to 256 bytes) and
    /// the rest as the input.
    pub fn from_fuzz(data: &[u8]) -> MemStream {
        match data.split_first() {
            Some((&chunk, rest)) => MemStream::new(rest, usize::from(chunk) + 1),
            None => MemStream::new(&[], 1),
        }
    }
}

impl Read for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.chunk).min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl tinyws::Stream for MemStream {
    // In memory: nothing ever blocks, so there is nothing to time out.
    fn set_read_timeout(&self, _: Option<std::time::Duration>) -> io::Result<()> {
        Ok(())
    }
    fn set_write_timeout(&self, _: Option<std::time::Duration>) -> io::Result<()> {
        Ok(())
    }
}

/// A frame the server wrote.
#[derive(Debug)]
pub struct ServerFrame {
    /// FIN bit.
    pub fin: bool,
    /// Opcode bits.
    pub opcode: u8,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Parses frames written by a server, panicking on anything a server must
/// never send: a masked frame, reserved bits, a truncated frame, a Close
/// with a code that may not go on the wire or a reason that is not UTF-8,
/// or any frame after Close.
pub fn check_server_output(mut out: &[u8]) -> Vec<ServerFrame> {
    let mut frames: Vec<ServerFrame> = Vec::new();
    while !out.is_empty() {
        if let Some(last) = frames.last() {
            assert_ne!(last.opcode, 0x8, "frame written after Close");
        }
        assert!(out.len() >= 2, "truncated frame header");
        let (b0, b1) = (out[0], out[1]);
        assert_eq!(b0 & 0x70, 0, "reserved bits set");
        assert_eq!(b1 & 0x80, 0, "server wrote a masked frame");
        let (len, at) = match b1 & 0x7F {
            126 => {
                assert!(out.len() >= 4, "truncated length");
                (u64::from(u16::from_be_bytes([out[2], out[3]])), 4)
            }
            127 => {
                assert!(out.len() >= 10, "truncated length");
                let mut be = [0u8; 8];
                be.copy_from_slice(&out[2..10]);
                (u64::from_be_bytes(be), 10)
            }
            n => (u64::from(n), 2),
        };
        let end = at + usize::try_from(len).expect("length fits usize");
        assert!(out.len() >= end, "truncated payload");
        let frame = ServerFrame {
            fin: b0 & 0x80 != 0,
            opcode: b0 & 0x0F,
            payload: out[at..end].to_vec(),
        };
        assert!(
            matches!(frame.opcode, 0x0..=0x2 | 0x8..=0xA),
            "reserved opcode"
        );
        if frame.opcode >= 0x8 {
            assert!(frame.fin && frame.payload.len() <= 125, "bad control frame");
        }
        if frame.opcode == 0x8 {
            let p = &frame.payload;
            assert_ne!(p.len(), 1, "one-byte close payload");
            if p.len() >= 2 {
                let code = tinyws::CloseCode(u16::from_be_bytes([p[0], p[1]]));
                assert!(code.is_allowed(), "close code {} written", code);
                assert!(
                    std::str::from_utf8(&p[2..]).is_ok(),
                    "close reason not UTF-8"
                );
            }
        }
        frames.push(frame);
        out = &out[end..];
    }
    frames
}
