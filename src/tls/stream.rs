//! One TLS session over one `TcpStream`, read by one thread and written by
//! many.
//!
//! A rustls session needs `&mut` for everything, so it sits behind a lock,
//! and the socket is only ever touched outside that lock:
//!
//! - The reader reads ciphertext from `&TcpStream` into a buffer of its own
//!   with no lock held, then takes the session lock only to feed those
//!   bytes to the session and copy out plaintext.
//! - A writer takes the write-order lock, encrypts a chunk under the
//!   session lock into the write-order lock's buffer, lets the session go,
//!   and writes the ciphertext to the socket. Records reach the socket in
//!   the order they were sealed, and the reader is never blocked behind a
//!   socket write. Writing to the socket under the session lock deadlocks
//!   two such peers that both send more than the kernel buffers hold
//!   (DESIGN.md, "TLS").
//! - Lock order is always write order, then session. The reader never waits
//!   for the write order: what a read makes rustls queue (an alert) is sent
//!   at once if no writer is busy, else by that writer before it lets go.
//! - A cut (`shutdown(Both)`) never waits for a lock: it shuts TCP's read
//!   side, adds a `close_notify` only if both locks are free that instant,
//!   and shuts TCP down, which wakes a blocked reader and fails a blocked
//!   writer.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustls::Connection;

use super::tls_io_error;
use crate::error::{Error, HandshakeError, Result, Timeout};
use crate::handshake::write_refusal;
use crate::stream::{Sealed, Stream};

/// The reader's ciphertext buffer: 4 KiB on the stack (rustls's own read
/// size) while traffic is light; on the heap, doubling while reads fill
/// it, up to two full records, while it is not.
const READ_MIN: usize = 4 * 1024;
const READ_MAX: usize = 32 * 1024;

/// Plaintext sealed per turn of the session lock: two full records. rustls
/// refuses more than 64 KiB of unsent ciphertext, and a smaller turn lets
/// the reader in between.
const CHUNK: usize = 32 * 1024;

/// A write buffer larger than this is given back after the write; a
/// smaller one at the next idle tick (a read timeout).
const KEEP_OUT: usize = 4 * 1024;

/// The answer to plain HTTP on a TLS port.
const PLAINTEXT: HandshakeError =
    HandshakeError::new(400, "this port speaks TLS: use https:// or wss://");

/// A TLS session over a `TcpStream`: `Stream` with timeouts, sharing for
/// Senders, and a cut that never waits. Users see it only as a `Socket`.
///
/// `Stream::shutdown` with `Shutdown::Write` sends `close_notify`
/// before half-closing TCP. `Both`, the cut, never waits: it shuts TCP's
/// read side (waking a blocked reader), sends `close_notify` only if no
/// other thread is inside the session or a write at that instant, and
/// shuts TCP down.
pub(crate) struct TlsStream {
    tcp: TcpStream,
    session: Mutex<Connection>,
    /// Only the reading thread takes this: ciphertext read but not yet fed.
    inbox: Mutex<Inbox>,
    /// The write-order lock, holding the ciphertext of the write under way.
    outbox: Mutex<Vec<u8>>,
}

/// Ciphertext read from the socket: `buf[start..end]` is not yet fed to the
/// session (the session's plaintext buffer was full). An empty `buf` means
/// reads go to the stack.
#[derive(Default)]
struct Inbox {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The last heap read came up short: traffic is light again.
    light: bool,
}

/// How a feed ended.
enum Fed {
    /// Every byte went in.
    All,
    /// The session took no more for now (its plaintext buffer is full):
    /// read plaintext, then feed again.
    Full(io::Error),
}

impl TlsStream {
    /// A session over `tcp` whose handshake has not run yet: it can be
    /// shared (and so cut by a server shutting down) before
    /// [`handshake`](Self::handshake).
    pub(crate) fn new(tcp: TcpStream, session: Connection) -> TlsStream {
        TlsStream {
            tcp,
            session: Mutex::new(session),
            inbox: Mutex::new(Inbox::default()),
            outbox: Mutex::new(Vec::new()),
        }
    }

    /// Drives the handshake to completion, checking `deadline` before each
    /// read and write. Runs before any other thread writes.
    ///
    /// A TLS 1.3 server's session tickets, queued as the handshake ends,
    /// are left in the session: they go out in front of the first record
    /// written (the 101), one socket write fewer per connection (DESIGN.md,
    /// "TLS"). Anything else queued at the end (a client's Finished, a TLS
    /// 1.2 server's last flight) is sent here.
    pub(crate) fn handshake(&self, deadline: Instant) -> Result<()> {
        let server = matches!(*self.session(), Connection::Server(_));
        let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = self.outbox();
        let mut first = true;
        loop {
            let (queued, handshaking, tls13) = {
                let session = self.session();
                (
                    session.wants_write(),
                    session.is_handshaking(),
                    session.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3),
                )
            };
            let tickets_only = server && tls13 && !handshaking;
            if queued && !tickets_only {
                self.tcp.set_write_timeout(Some(left(deadline)?))?;
                if let Err(e) = self.send_queued(&mut out) {
                    return Err(Error::from_io(e, Timeout::Handshake));
                }
            }
            if !handshaking {
                break;
            }
            self.tcp.set_read_timeout(Some(left(deadline)?))?;
            let n = match (&self.tcp).read(inbox.space()) {
                Ok(0) => return Err(Error::Disconnected),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::from_io(e, Timeout::Handshake)),
            };
            if first && server && looks_like_http(inbox.buf[inbox.end]) {
                self.answer_plaintext();
                return Err(Error::Handshake(PLAINTEXT));
            }
            first = false;
            inbox.end += n;
            let fed = feed(&mut self.session(), &mut inbox);
            if let Err(e) = fed {
                // Send the alert rustls queued, best effort, within the
                // deadline.
                if let Ok(left) = left(deadline) {
                    let _ = self.tcp.set_write_timeout(Some(left));
                    let _ = self.send_queued(&mut out);
                }
                return Err(Error::Io(e));
            }
        }
        inbox.release_if_empty();
        // The server's first flight grew the write buffer to a few KiB; an
        // idle connection keeps none (DESIGN.md, "TLS").
        *out = Vec::new();
        Ok(())
    }

    /// Tells a plain-HTTP client, in plain text, to use TLS; then reads
    /// what it still sends for up to a second (64 KiB at most), so that
    /// closing does not reset the connection before it reads the answer.
    fn answer_plaintext(&self) {
        let mut answer = Vec::with_capacity(200);
        write_refusal(&mut answer, &PLAINTEXT);
        let tcp = &self.tcp;
        if (&*tcp).write_all(&answer).is_err() || tcp.shutdown(Shutdown::Write).is_err() {
            return;
        }
        let until = deadline(Duration::from_secs(1));
        let mut sink = [0u8; 1024];
        let mut discarded = 0;
        while discarded < 64 * 1024 {
            match left(until) {
                Ok(left) if tcp.set_read_timeout(Some(left)).is_ok() => {}
                _ => return,
            }
            match (&*tcp).read(&mut sink) {
                Ok(0) | Err(_) => return,
                Ok(n) => discarded += n,
            }
        }
    }

    /// The TCP socket underneath, for its addresses.
    pub(crate) fn get_ref(&self) -> &TcpStream {
        &self.tcp
    }

    /// The ALPN protocol agreed, if any (`http/1.1` for a tinyws server).
    #[cfg(test)]
    pub(crate) fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.session().alpn_protocol().map(<[u8]>::to_vec)
    }

    fn session(&self) -> MutexGuard<'_, Connection> {
        // Only rustls calls run under it, and they do not panic on any input.
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn outbox(&self) -> MutexGuard<'_, Vec<u8>> {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends what the session has queued, under the write order and outside
    /// the session lock.
    fn send_queued(&self, out: &mut Vec<u8>) -> io::Result<()> {
        loop {
            {
                let mut session = self.session();
                if !session.wants_write() {
                    return Ok(());
                }
                drain(&mut session, out);
            }
            let result = (&self.tcp).write_all(out);
            out.clear();
            result?;
        }
    }

    /// A read queued output (an alert): send it now unless a writer holds
    /// the write order, in which case that writer sends it before it lets go.
    fn flush_after_read(&self) {
        if let Ok(mut out) = self.outbox.try_lock() {
            if let Err(e) = self.send_queued(&mut out) {
                log::debug!("tls: could not send what a read queued: {}", e);
            }
        }
    }

    /// Seals `bufs` and writes them, a chunk at a time.
    fn write_all_shared(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Ok(0);
        }
        let mut out = self.outbox();
        let mut done = 0;
        let result = loop {
            if done == total {
                // Whatever a read queued while we held the order.
                break self.send_queued(&mut out);
            }
            let chunk = window(bufs, done, CHUNK);
            let sealed = {
                let mut session = self.session();
                let sealed = session.writer().write_vectored(&chunk);
                drain(&mut session, &mut out);
                sealed
            };
            let n = match sealed {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) => break Err(e),
            };
            let written = (&self.tcp).write_all(&out);
            out.clear();
            if let Err(e) = written {
                break Err(e);
            }
            done += n;
        };
        if out.capacity() > KEEP_OUT {
            *out = Vec::new();
        }
        result.map(|()| total)
    }

    /// Sends `close_notify`, then half-closes TCP.
    fn close_notify(&self) -> io::Result<()> {
        let mut out = self.outbox();
        self.session().send_close_notify();
        let sent = self.send_queued(&mut out);
        drop(out);
        sent?;
        self.tcp.shutdown(Shutdown::Write)
    }

    /// The cut's courtesy: a `close_notify` if both locks are free this
    /// instant, written without blocking (it is 24 bytes, which any send
    /// buffer but a full one takes). Never waits: a writer blocked on a
    /// peer that does not read, or the reader inside rustls, means no
    /// `close_notify`, and the cut goes ahead.
    fn try_close_notify(&self) {
        let mut out = match self.outbox.try_lock() {
            Ok(out) => out,
            Err(_) => return,
        };
        match self.session.try_lock() {
            Ok(mut session) => {
                session.send_close_notify();
                drain(&mut session, &mut out);
            }
            Err(_) => return,
        }
        // Reads already see end of stream, and the socket is about to be
        // shut down for writing too: nothing needs it blocking after this.
        if self.tcp.set_nonblocking(true).is_ok() {
            let _ = (&self.tcp).write(&out);
        }
        out.clear();
    }

    /// Whether the session holds sealed records not yet sent.
    #[cfg(test)]
    pub(crate) fn holds_output(&self) -> bool {
        self.session().wants_write()
    }

    /// Bytes held by the read and the write buffer now.
    #[cfg(test)]
    pub(crate) fn held(&self) -> (usize, usize) {
        let inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
        (inbox.buf.capacity(), self.outbox().capacity())
    }

    /// Asks the peer to update its keys and updates ours (TLS 1.3
    /// KeyUpdate), sent at once.
    #[cfg(test)]
    pub(crate) fn refresh_traffic_keys(&self) -> io::Result<()> {
        let mut out = self.outbox();
        self.session()
            .refresh_traffic_keys()
            .map_err(tls_io_error)?;
        self.send_queued(&mut out)
    }

    /// Reads plaintext: from what the session holds, else from the socket.
    ///
    /// While traffic is light, ciphertext is read into a buffer on the
    /// stack and fed straight to the session, so an idle connection holds
    /// no read buffer of its own (the TLS handshake went deeper into this
    /// thread's stack, so those pages are resident anyway). Only bytes the
    /// session cannot take yet are kept on the heap. A read that fills the
    /// stack buffer switches to a heap buffer that grows while reads fill
    /// it, and is given back once a read comes up short and all is fed.
    fn read_plain(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
        let mut stack = [0u8; READ_MIN];
        let mut fresh_len = 0;
        loop {
            let mut fresh = &stack[..fresh_len];
            let (fed, read, queued) = {
                let mut session = self.session();
                let before = session.wants_write();
                let fed = match feed(&mut session, &mut inbox) {
                    Ok(Fed::All) => feed_slice(&mut session, &mut fresh),
                    other => other,
                };
                let read = session.reader().read(buf);
                // Only what this read queued (an alert, a key update's
                // answer): what was queued before (a server's session
                // tickets) waits for the next write.
                let queued = session.wants_write() && (!before || fed.is_err());
                (fed, read, queued)
            };
            // What the session could not take yet waits on the heap.
            inbox.keep(fresh);
            fresh_len = 0;
            if queued {
                self.flush_after_read();
            }
            let full = match fed {
                Ok(Fed::All) => None,
                Ok(Fed::Full(e)) => Some(e),
                Err(e) => return Err(e),
            };
            match read {
                // Ok(0): the peer's close_notify.
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if let Some(e) = full {
                // The session took nothing and gave nothing: not a state a
                // correct session reaches, so do not spin on it.
                return Err(e);
            }
            // No plaintext yet (a record cut short, or one carrying only a
            // key update or a session ticket): read more, with no lock but
            // the reader's own.
            inbox.settle();
            let heap = !inbox.buf.is_empty();
            let target = if heap { inbox.space() } else { &mut stack[..] };
            let room = target.len();
            let n = match (&self.tcp).read(target) {
                Ok(n) => n,
                Err(e) => {
                    if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut
                    {
                        // An idle tick: give the read buffer back, and the
                        // write buffer too unless a writer is using it.
                        inbox.release_if_empty();
                        if let Ok(mut out) = self.outbox.try_lock() {
                            *out = Vec::new();
                        }
                    }
                    return Err(e);
                }
            };
            if n == 0 {
                // TCP end of stream: the session then answers Ok(0) after a
                // close_notify, or UnexpectedEof without one.
                let _ = self.session().read_tls(&mut io::empty());
            }
            if heap {
                inbox.end += n;
                inbox.adapt(n, room);
            } else {
                fresh_len = n;
                if n == room {
                    // Busy: read into a larger heap buffer from now on.
                    inbox.buf = vec![0; 2 * READ_MIN];
                }
            }
        }
    }
}

/// Feeds the pending ciphertext to the session until it has taken all of
/// it or will take no more for now. A TLS error queues an alert and fails.
fn feed(session: &mut Connection, inbox: &mut Inbox) -> io::Result<Fed> {
    let mut pending = &inbox.buf[inbox.start..inbox.end];
    let fed = feed_slice(session, &mut pending);
    inbox.start = inbox.end - pending.len();
    fed
}

/// [`feed`] from a slice, which is advanced past what the session took.
fn feed_slice(session: &mut Connection, pending: &mut &[u8]) -> io::Result<Fed> {
    while !pending.is_empty() {
        match session.read_tls(pending) {
            // After a close_notify the session reads nothing more.
            Ok(0) => {
                *pending = &[];
                break;
            }
            Ok(_) => {}
            Err(e) => return Ok(Fed::Full(e)),
        }
        session.process_new_packets().map_err(tls_io_error)?;
    }
    Ok(Fed::All)
}

/// Moves everything the session has sealed into `out`.
fn drain(session: &mut Connection, out: &mut Vec<u8>) {
    while session.wants_write() {
        // Writing into a Vec cannot fail.
        if session.write_tls(out).is_err() {
            break;
        }
    }
}

/// Up to `max` bytes of `bufs`, starting `skip` bytes in.
fn window<'a>(bufs: &'a [IoSlice<'a>], mut skip: usize, max: usize) -> Vec<IoSlice<'a>> {
    let mut left = max;
    let mut out = Vec::with_capacity(bufs.len());
    for buf in bufs {
        let buf: &'a [u8] = buf;
        if skip >= buf.len() {
            skip -= buf.len();
            continue;
        }
        let part = &buf[skip..];
        skip = 0;
        let part = &part[..part.len().min(left)];
        left -= part.len();
        out.push(IoSlice::new(part));
        if left == 0 {
            break;
        }
    }
    out
}

impl Inbox {
    /// Free room to read into, allocating or compacting as needed.
    fn space(&mut self) -> &mut [u8] {
        if self.buf.is_empty() {
            self.buf = vec![0; READ_MIN];
        }
        if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    /// Forgets consumed bytes, and gives the buffer back once all is fed
    /// after a short read.
    fn settle(&mut self) {
        if self.start == self.end {
            if self.light {
                *self = Inbox::default();
            }
            self.start = 0;
            self.end = 0;
        }
    }

    /// Keeps bytes the session could not take yet, after any already kept.
    fn keep(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.settle();
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let need = self.end + bytes.len();
        if self.buf.len() < need {
            self.buf.resize(need.max(READ_MIN), 0);
        }
        self.buf[self.end..need].copy_from_slice(bytes);
        self.end = need;
    }

    /// After a heap read of `n` into `room` free bytes: a full read
    /// suggests more is queued, so take more per read next time (up to
    /// `READ_MAX`); a short one that left nothing pending means traffic is
    /// light again, so give the buffer back and read into the stack.
    fn adapt(&mut self, n: usize, room: usize) {
        if n == room && self.buf.len() < READ_MAX {
            let len = (self.buf.len() * 2).min(READ_MAX);
            self.buf.resize(len, 0);
        }
        self.light = n < room / 2;
    }

    fn release_if_empty(&mut self) {
        if self.start == self.end {
            *self = Inbox::default();
        }
    }
}

fn deadline(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout).unwrap_or(now)
}

/// What is left until `deadline`, or the handshake timeout.
fn left(deadline: Instant) -> Result<Duration> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(left) if left > Duration::from_millis(0) => Ok(left),
        _ => Err(Error::Timeout(Timeout::Handshake)),
    }
}

/// A TLS connection opens with a handshake record (0x16); an HTTP request
/// opens with a method name in capitals.
fn looks_like_http(first: u8) -> bool {
    first.is_ascii_uppercase()
}

/// A fatal `internal_error` alert in a plaintext record: what a client
/// over the connection cap gets on a TLS port instead of an HTTP 503,
/// which would be garbage to it. Its TLS library reports "alert internal
/// error" rather than a bare reset.
pub(crate) const REFUSAL_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50];

/// Refuses a connection on a TLS port from the accept loop, without ever
/// blocking it: reads what has arrived (so closing does not reset the
/// connection before the client reads the alert), sends
/// [`REFUSAL_ALERT`] on the non-blocking socket, and half-closes.
pub(crate) fn refuse(mut tcp: TcpStream) {
    let _ = tcp.set_nonblocking(true);
    let mut sink = [0u8; 1024];
    for _ in 0..8 {
        match tcp.read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    let _ = tcp.write_all(&REFUSAL_ALERT);
    let _ = tcp.shutdown(Shutdown::Write);
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_plain(buf)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all_shared(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_all_shared(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Every write is on the socket before it returns.
        Ok(())
    }
}

impl Stream for TlsStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp
            .set_read_timeout(timeout.map(|t| t.max(Duration::from_millis(1))))
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp
            .set_write_timeout(timeout.map(|t| t.max(Duration::from_millis(1))))
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match how {
            Shutdown::Write => self.close_notify(),
            Shutdown::Both => {
                // Readers wake with end of stream first, never with the
                // "would block" of the non-blocking write below.
                self.tcp.shutdown(Shutdown::Read)?;
                self.try_close_notify();
                self.tcp.shutdown(how)
            }
            Shutdown::Read => self.tcp.shutdown(how),
        }
    }

    fn read_shared(&self, buf: &mut [u8], _: Sealed) -> io::Result<usize> {
        self.read_plain(buf)
    }

    fn write_shared(&self, bufs: &[IoSlice<'_>], _: Sealed) -> io::Result<usize> {
        self.write_all_shared(bufs)
    }

    fn share(this: &Arc<Self>, _: Sealed) -> Option<Arc<dyn Stream + Send + Sync>> {
        Some(Arc::clone(this) as Arc<dyn Stream + Send + Sync>)
    }
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("local", &self.tcp.local_addr().ok())
            .field("peer", &self.tcp.peer_addr().ok())
            .finish()
    }
}
