//! The one write path of a connection, shared by its own thread, its
//! [`Sender`](crate::Sender)s, the [`Hub`](crate::Hub) and the server's
//! shutdown.
//!
//! Every frame of a connection, whether sent by its own thread (data, automatic
//! Pongs, close replies) or by a `Sender` on another thread, is written whole
//! under one lock, so frames never interleave. Frames are prepared (and, for a
//! client, masked) before the lock is taken. After a Close has gone out
//! nothing more is written, whoever asks.

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use crate::config::Config;
#[cfg(feature = "deflate")]
use crate::deflate_pool;
use crate::error::{is_timeout, Error, Result, Timeout};
use crate::message::Outgoing;
use crate::proto::close::{CloseCode, CloseFrame};
#[cfg(feature = "deflate")]
use crate::proto::deflate::{Compressor, DeflateConfig};
use crate::proto::frame::OpCode;
use crate::proto::mask::MaskKeys;
use crate::proto::outbound::{prepare, OutFrame};
use crate::proto::{ClosedBy, DeflateAgreement, Inflater, Role};

/// RSV1 marks a compressed message's first frame (RFC 7692 section 6).
#[cfg(feature = "deflate")]
pub(crate) const RSV1: u8 = 0x40;

/// How this end compresses what it sends, once permessage-deflate is agreed.
#[cfg(feature = "deflate")]
#[derive(Debug)]
struct Compression {
    settings: DeflateConfig,
    /// The connection's own compressor with context takeover (`None`
    /// inside until its first message); `None` when every message is
    /// compressed alone with a shared one.
    kept: Option<Mutex<Option<Compressor>>>,
}
use crate::stream::{Io, Stream};

/// How a connection ended, for the server's disconnect log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ending {
    /// Who ended it.
    pub(crate) by: ClosedBy,
    /// The close code sent or received, if any.
    pub(crate) code: Option<CloseCode>,
    /// What went wrong, when an error ended it.
    pub(crate) error: Option<String>,
}

/// The write side of one connection, shared by the connection and its
/// Senders.
pub(crate) struct Writer {
    role: Role,
    /// Fresh mask keys, for a client's frames.
    keys: Option<Box<MaskKeys>>,
    out: Mutex<Out>,
    /// The stream again, only for cutting it: never held while writing, so
    /// shutdown never waits behind a slow writer.
    cutter: Mutex<Option<Arc<dyn Stream + Send + Sync>>>,
    /// Set once a Close frame has been written; read without the lock by the
    /// connection thread on each wake-up.
    close_sent: AtomicBool,
    /// permessage-deflate, set once after the handshake.
    #[cfg(feature = "deflate")]
    deflate: Mutex<Option<Arc<Compression>>>,
    /// Whether `deflate` is set: read on every data frame, so a connection
    /// that did not negotiate compression takes no second lock.
    #[cfg(feature = "deflate")]
    deflate_on: AtomicBool,
    /// What was agreed, for the receive side.
    agreement: Mutex<Option<DeflateAgreement>>,
}

struct Out {
    /// The connection's stream, shared once the connection has been split
    /// for Senders. `None` means the connection thread writes to its own.
    sink: Option<Io<dyn Stream + Send + Sync>>,
    /// A write failed or timed out mid-frame: the stream is unusable.
    broken: bool,
    /// The connection is over; nothing may be written.
    finished: bool,
    ending: Option<Ending>,
    /// When our Close went out, for the close timeout.
    close_sent_at: Option<Instant>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("role", &self.role)
            .field("out", &self.out)
            .field("close_sent", &self.close_sent())
            .finish()
    }
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Out")
            .field("split", &self.sink.is_some())
            .field("broken", &self.broken)
            .field("finished", &self.finished)
            .finish()
    }
}

impl Writer {
    pub(crate) fn new(role: Role) -> Arc<Writer> {
        Arc::new(Writer {
            role,
            keys: match role {
                Role::Server => None,
                Role::Client => Some(Box::new(MaskKeys::new())),
            },
            cutter: Mutex::new(None),
            out: Mutex::new(Out {
                sink: None,
                broken: false,
                finished: false,
                ending: None,
                close_sent_at: None,
            }),
            close_sent: AtomicBool::new(false),
            #[cfg(feature = "deflate")]
            deflate: Mutex::new(None),
            #[cfg(feature = "deflate")]
            deflate_on: AtomicBool::new(false),
            agreement: Mutex::new(None),
        })
    }

    /// Records the permessage-deflate agreement of the handshake; from now
    /// on data messages of at least the configured threshold go out
    /// compressed.
    pub(crate) fn set_deflate(&self, agreement: Option<DeflateAgreement>, config: &Config) {
        *self.agreement.lock().unwrap_or_else(|p| p.into_inner()) = agreement;
        #[cfg(feature = "deflate")]
        if let (Some(agreement), Some(settings)) = (agreement, config.deflate.as_ref()) {
            let reset = agreement.send_reset(self.role == Role::Server);
            let compression = Compression {
                settings: settings.clone(),
                kept: if reset { None } else { Some(Mutex::new(None)) },
            };
            *self.deflate.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(compression));
            self.deflate_on.store(true, Ordering::Release);
        }
        #[cfg(not(feature = "deflate"))]
        let _ = config;
    }

    /// The receiving half of the permessage-deflate agreement, if any: an
    /// inflater that borrows from the shell's pool.
    pub(crate) fn inflater(&self) -> Option<Inflater> {
        let agreement = *self.agreement.lock().unwrap_or_else(|p| p.into_inner());
        #[cfg(feature = "deflate")]
        return agreement.map(|a| {
            let reset = a.receive_reset(self.role == Role::Server);
            Inflater::new(reset, &deflate_pool::POOL)
        });
        #[cfg(not(feature = "deflate"))]
        agreement.map(|a| match a {})
    }

    #[cfg(feature = "deflate")]
    fn compression(&self) -> Option<Arc<Compression>> {
        if !self.deflate_on.load(Ordering::Acquire) {
            return None;
        }
        self.deflate
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The level and threshold with which this connection takes a frame
    /// compressed once for many (the hub's), if it compresses every message
    /// alone.
    #[cfg(feature = "deflate")]
    pub(crate) fn shared_deflate(&self) -> Option<DeflateConfig> {
        self.compression()
            .filter(|c| c.kept.is_none())
            .map(|c| c.settings.clone())
    }

    fn lock(&self) -> MutexGuard<'_, Out> {
        // A panic cannot happen while the lock is held (only writes run under
        // it), but recovering keeps one bad thread from wedging the others.
        self.out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The lock, unless another thread holds it right now.
    fn try_lock(&self) -> Option<MutexGuard<'_, Out>> {
        match self.out.try_lock() {
            Ok(out) => Some(out),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    pub(crate) fn role(&self) -> Role {
        self.role
    }

    /// Prepares a frame as this end sends it: masked with a fresh key by a
    /// client. Done before the lock is taken.
    #[inline]
    pub(crate) fn prepare<'a>(&self, opcode: OpCode, payload: &'a [u8]) -> Result<OutFrame<'a>> {
        let mask = self.keys.as_deref().map(MaskKeys::next_key);
        prepare(opcode, 0, payload, mask)
    }

    pub(crate) fn is_split(&self) -> bool {
        self.lock().sink.is_some()
    }

    /// Switches every write to `stream`, a shared reference to the
    /// connection's stream, so other threads can send and cut it.
    pub(crate) fn split(&self, stream: Arc<dyn Stream + Send + Sync>) {
        *self.cutter.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&stream));
        self.lock().sink = Some(Io(stream));
    }

    #[inline]
    pub(crate) fn close_sent(&self) -> bool {
        self.close_sent.load(Ordering::Acquire)
    }

    /// When our Close went out, if it has.
    #[inline]
    pub(crate) fn close_sent_at(&self) -> Option<Instant> {
        if !self.close_sent() {
            return None;
        }
        self.lock().close_sent_at
    }

    pub(crate) fn is_finished(&self) -> bool {
        let out = self.lock();
        out.finished || out.broken
    }

    /// Prepares and writes one frame. `own` is the connection's own stream,
    /// used until the connection is split.
    pub(crate) fn write_frame(
        &self,
        own: Option<&mut dyn Stream>,
        opcode: OpCode,
        payload: &[u8],
    ) -> Result<()> {
        #[cfg(feature = "deflate")]
        if matches!(opcode, OpCode::Text | OpCode::Binary) {
            if let Some(c) = self.compression() {
                if c.settings.compresses(payload.len()) {
                    return self.write_compressed(own, &c, opcode, payload);
                }
            }
        }
        let frame = self.prepare(opcode, payload)?;
        let out = self.lock();
        self.write_locked(
            out,
            own,
            frame.head(),
            frame.payload(),
            opcode == OpCode::Close,
            None,
        )
    }

    /// Compresses a data message and writes it with RSV1. Without context
    /// takeover the compression happens before the write lock is taken, so
    /// Pongs and other senders do not wait for it; with it, the connection's
    /// compressor is held until the frame is written, because the peer must
    /// inflate messages in the order they were compressed.
    #[cfg(feature = "deflate")]
    fn write_compressed(
        &self,
        own: Option<&mut dyn Stream>,
        c: &Compression,
        opcode: OpCode,
        payload: &[u8],
    ) -> Result<()> {
        let mut wire = Vec::with_capacity(payload.len() / 2 + 64);
        let mask = self.keys.as_deref().map(MaskKeys::next_key);
        match &c.kept {
            None => {
                if !deflate_pool::compress(payload, c.settings.level, &mut wire) {
                    return self.write_plain(own, opcode, payload);
                }
                let frame = prepare(opcode, RSV1, &wire, mask)?;
                let out = self.lock();
                self.write_locked(out, own, frame.head(), frame.payload(), false, None)
            }
            Some(kept) => {
                let mut deflater = kept.lock().unwrap_or_else(|p| p.into_inner());
                if !deflate_pool::compress_kept(&mut deflater, payload, c.settings.level, &mut wire)
                {
                    // Sent plain, the message leaves the context untouched.
                    return self.write_plain(own, opcode, payload);
                }
                let frame = prepare(opcode, RSV1, &wire, mask)?;
                let out = self.lock();
                let result =
                    self.write_locked(out, own, frame.head(), frame.payload(), false, None);
                drop(deflater);
                result
            }
        }
    }

    /// Writes a data message uncompressed: when no compressor could be had.
    #[cfg(feature = "deflate")]
    fn write_plain(
        &self,
        own: Option<&mut dyn Stream>,
        opcode: OpCode,
        payload: &[u8],
    ) -> Result<()> {
        let frame = self.prepare(opcode, payload)?;
        let out = self.lock();
        self.write_locked(out, own, frame.head(), frame.payload(), false, None)
    }

    /// Sends what [`WebSocket::send`](crate::WebSocket::send) and
    /// [`Sender::send`](crate::Sender::send) were given.
    pub(crate) fn send(&self, own: Option<&mut dyn Stream>, message: Outgoing<'_>) -> Result<()> {
        match (message, message.frame()) {
            (_, Some((opcode, payload))) => self.write_frame(own, opcode, payload),
            (Outgoing::Close(Some(f)), None) => self.send_close(own, f.code, &f.reason),
            (_, None) => self.write_frame(own, OpCode::Close, &[]),
        }
    }

    /// Writes a frame already prepared as `head` + `body`, whole and within
    /// `limit` in all, or fails and marks the stream broken: the hub's path,
    /// where one slow peer must not hold up the others.
    pub(crate) fn write_bounded(&self, head: &[u8], body: &[u8], limit: Duration) -> Result<()> {
        let out = self.lock();
        self.write_locked(out, None, head, body, false, Some(limit))
    }

    fn write_locked(
        &self,
        mut out: MutexGuard<'_, Out>,
        own: Option<&mut dyn Stream>,
        head: &[u8],
        body: &[u8],
        is_close: bool,
        limit: Option<Duration>,
    ) -> Result<()> {
        if out.finished || out.broken || self.close_sent() {
            return Err(Error::Closed);
        }
        let result = match (out.sink.as_mut(), own) {
            (Some(sink), _) => write_all2(sink, head, body, limit),
            (None, Some(own)) => write_all2(own, head, body, limit),
            (None, None) => return Err(Error::Closed),
        };
        match result {
            Ok(()) => {
                if is_close {
                    out.close_sent_at = Some(Instant::now());
                    self.close_sent.store(true, Ordering::Release);
                }
                Ok(())
            }
            Err(e) => {
                out.broken = true;
                if let Some(sink) = out.sink.as_ref() {
                    // Wake the connection thread out of its read.
                    let _ = sink.shutdown(Shutdown::Both);
                }
                Err(Error::from_io(e, Timeout::Write))
            }
        }
    }

    pub(crate) fn send_close(
        &self,
        own: Option<&mut dyn Stream>,
        code: CloseCode,
        reason: &str,
    ) -> Result<()> {
        let mut payload = [0u8; 125];
        let n = CloseFrame::encode(code, reason, &mut payload)?;
        self.write_frame(own, OpCode::Close, &payload[..n])
    }

    /// Sends Close unless another thread is writing right now: server
    /// shutdown must not queue behind a slow writer. `None` means busy.
    pub(crate) fn try_send_close(&self, code: CloseCode, reason: &str) -> Option<Result<()>> {
        let mut payload = [0u8; 125];
        let frame = match CloseFrame::encode(code, reason, &mut payload)
            .and_then(|n| self.prepare(OpCode::Close, &payload[..n]))
        {
            Ok(frame) => frame,
            Err(e) => return Some(Err(e)),
        };
        let out = self.try_lock()?;
        Some(self.write_locked(out, None, frame.head(), frame.payload(), true, None))
    }

    /// Ends the connection: lets go of the shared stream so the socket
    /// closes with the connection, and records how it ended (the first record
    /// wins).
    pub(crate) fn finish(&self, ending: Ending) {
        let mut out = self.lock();
        out.finished = true;
        out.ending.get_or_insert(ending);
        out.sink = None;
        drop(out);
        self.cutter.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Sets how long one write to this connection may make no progress.
    pub(crate) fn set_write_timeout(&self, timeout: Duration) -> Result<()> {
        let out = self.lock();
        match out.sink.as_ref() {
            Some(sink) => Ok(sink.set_write_timeout(Some(timeout))?),
            None => Err(Error::Closed),
        }
    }

    pub(crate) fn ending(&self) -> Option<Ending> {
        self.lock().ending.clone()
    }

    /// Cuts the connection at the TCP level, whatever its state, without
    /// waiting for a writer: its write fails at once and releases the lock.
    pub(crate) fn shutdown_stream(&self) {
        self.out_broken();
        if let Some(cutter) = self
            .cutter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let _ = cutter.shutdown(Shutdown::Both);
        }
    }

    /// Marks the stream unusable, if no writer is busy with it (a busy one
    /// finds out from its failing write).
    fn out_broken(&self) {
        if let Some(mut out) = self.try_lock() {
            out.broken = true;
        }
    }
}

/// Frames up to this size, header included, are copied into one stack
/// buffer and sent with a plain `write`, which takes a shorter kernel path
/// than a `writev`; larger frames keep the vectored write, which spares a
/// copy (DESIGN.md, "Frames and UTF-8"). Stack depth: DESIGN.md, "Memory".
const COALESCE: usize = 128;

/// Writes `a` then `b` as if by one `write_all`, in one system call when the
/// socket takes it all: a small frame copied whole into one buffer, a larger
/// one with a vectored write.
///
/// The socket's write timeout bounds each call: a peer that stops reading
/// fails the write. With `limit`, the whole frame must also go out within
/// it, so a peer reading a little at a time cannot stretch it either.
fn write_all2<W: Stream + ?Sized>(
    w: &mut W,
    a: &[u8],
    b: &[u8],
    limit: Option<Duration>,
) -> io::Result<()> {
    let total = a.len() + b.len();
    if total <= COALESCE {
        let mut frame = [0u8; COALESCE];
        frame[..a.len()].copy_from_slice(a);
        frame[a.len()..total].copy_from_slice(b);
        return write_all_within(w, &frame[..total], &[], limit);
    }
    write_all_within(w, a, b, limit)
}

/// [`write_all2`]'s loop, for `a` and `b` as given.
fn write_all_within<W: Stream + ?Sized>(
    w: &mut W,
    a: &[u8],
    b: &[u8],
    limit: Option<Duration>,
) -> io::Result<()> {
    let total = a.len() + b.len();
    // The clock is read only for a bounded write (the hub's path), not on
    // every frame.
    let start = limit.map(|_| Instant::now());
    let mut shortened = false;
    let mut done = 0;
    let result = loop {
        if done == total {
            break w.flush();
        }
        if let (Some(limit), Some(start), true) = (limit, start, done > 0) {
            match limit.checked_sub(start.elapsed()) {
                Some(left) if left > Duration::from_millis(0) => {
                    match w.set_write_timeout(Some(left)) {
                        Ok(()) => shortened = true,
                        Err(e) => break Err(e),
                    }
                }
                _ => break Err(io::ErrorKind::TimedOut.into()),
            }
        }
        // `write_vectored` would be a `writev` even with `b` empty.
        let written = if done >= a.len() {
            w.write(&b[done - a.len()..])
        } else if b.is_empty() {
            w.write(&a[done..])
        } else {
            w.write_vectored(&[IoSlice::new(&a[done..]), IoSlice::new(b)])
        };
        match written {
            Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => break Err(io::ErrorKind::TimedOut.into()),
            Err(e) => break Err(e),
        }
    };
    if let (Some(limit), true) = (limit, shortened) {
        let _ = w.set_write_timeout(Some(limit));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// Takes at most `max` bytes a call and counts the kinds of call.
    struct Trickle {
        out: Vec<u8>,
        max: usize,
        writes: usize,
        vectored: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes += 1;
            let n = buf.len().min(self.max);
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.vectored += 1;
            let mut left = self.max;
            for buf in bufs {
                let n = buf.len().min(left);
                self.out.extend_from_slice(&buf[..n]);
                left -= n;
            }
            Ok(self.max - left)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Read for Trickle {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Ok(0)
        }
    }

    impl Stream for Trickle {
        fn set_read_timeout(&self, _: Option<Duration>) -> io::Result<()> {
            Ok(())
        }
        fn set_write_timeout(&self, _: Option<Duration>) -> io::Result<()> {
            Ok(())
        }
    }

    /// Every byte arrives in order, however the writes are cut; small frames
    /// never take the vectored path, and a socket that takes everything
    /// gets one call.
    #[test]
    fn write_all2_sends_head_then_body() {
        // (header length, body length, bytes taken per call, vectored?)
        let cases = [
            (2, 32, usize::MAX, false),
            (2, 32, 5, false),
            (4, COALESCE - 4, usize::MAX, false),
            (4, COALESCE - 3, usize::MAX, true),
            (10, 70_000, 3, true),
            (10, 70_000, 7_000, true),
        ];
        for &(h, b, max, vectored) in &cases {
            let head: Vec<u8> = (0..h).map(|i| i as u8).collect();
            let body: Vec<u8> = (0..b).map(|i| (i * 7) as u8).collect();
            let mut w = Trickle {
                out: Vec::new(),
                max,
                writes: 0,
                vectored: 0,
            };
            write_all2(&mut w, &head, &body, None).unwrap();
            assert_eq!(w.out, [head, body].concat(), "{} + {} by {}", h, b, max);
            assert_eq!(w.vectored > 0, vectored, "{} + {} by {}", h, b, max);
            if max == usize::MAX {
                assert_eq!(w.writes + w.vectored, 1, "{} + {}", h, b);
            }
        }
    }
}
