//! Broadcast: one producer, many connections.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::message::Data;
use crate::proto::outbound::prepare;
use crate::proto::Role;
use crate::sender::Sender;

/// Sends each message to every subscribed connection: the sensor-feed
/// pattern of one producer and many browsers.
///
/// [`broadcast`](Self::broadcast) prepares the frame once and writes the
/// same bytes to each subscriber, under that subscriber's write lock, so
/// broadcasts and the connection's own frames never interleave. Fan-out is
/// a server's job: subscribers are server-side connections.
///
/// # Slow subscribers
///
/// The hub keeps no queue: a message goes straight into each subscriber's
/// kernel socket buffer, so memory per subscriber is bounded by the kernel's
/// buffers, never by the hub. A subscriber that stops reading fills those
/// buffers; its next write then blocks for at most the hub's stall timeout
/// (set on its socket when it subscribes), after which it is disconnected
/// and removed. So one stalled subscriber delays a broadcast to the others
/// by at most the stall timeout, once; subscribers that stall during the
/// same broadcast cost at most one stall timeout each.
///
/// Closed connections are removed automatically on the next broadcast.
///
/// ```no_run
/// use std::time::Duration;
/// use tinyws::{Config, Hub, Server};
///
/// let hub = Hub::new(Duration::from_millis(500));
/// let feed = hub.clone();
/// std::thread::spawn(move || loop {
///     feed.broadcast("21.5");
///     std::thread::sleep(Duration::from_millis(100));
/// });
/// Server::bind("0.0.0.0:9001", &Config::default())?.serve(move |mut ws| {
///     if let Ok(sender) = ws.sender() {
///         let _ = hub.subscribe(sender);
///     }
///     while ws.read().is_ok() {}
/// })?;
/// # Ok::<(), tinyws::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    subscribers: Mutex<Vec<Sender>>,
    stall_timeout: Duration,
}

impl Hub {
    /// A hub whose subscribers are disconnected when one write to them
    /// stalls for `stall_timeout`.
    pub fn new(stall_timeout: Duration) -> Hub {
        let stall_timeout = stall_timeout.max(Duration::from_millis(1));
        Hub {
            inner: Arc::new(Inner {
                subscribers: Mutex::new(Vec::new()),
                stall_timeout,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Sender>> {
        self.inner
            .subscribers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a connection. Its socket's write timeout becomes the hub's stall
    /// timeout, for all its writes.
    ///
    /// # Errors
    /// [`Error::Closed`] if the connection has already ended;
    /// [`Error::Unsupported`] for a client's connection, whose frames would
    /// each need their own mask; I/O errors from setting the timeout.
    pub fn subscribe(&self, sender: Sender) -> Result<()> {
        if sender.role() != Role::Server {
            return Err(Error::Unsupported(
                "a hub broadcasts to server connections only",
            ));
        }
        if sender.is_closed() {
            return Err(Error::Closed);
        }
        sender.writer.set_write_timeout(self.inner.stall_timeout)?;
        self.lock().push(sender);
        Ok(())
    }

    /// Sends `message` (text or binary, borrowed) to every subscriber and
    /// returns how many it reached. Subscribers that have closed, or whose
    /// write fails or stalls past the stall timeout, are removed (and a
    /// stalled one disconnected).
    pub fn broadcast(&self, message: impl Data) -> usize {
        let outgoing = message.outgoing();
        let frame = match outgoing.frame().map(|(op, p)| prepare(op, 0, p, None)) {
            Some(Ok(frame)) => frame,
            // Data is text or binary only, which has no size rule to break.
            _ => return 0,
        };
        // Write outside the lock, so subscribing never waits on a stall.
        let snapshot: Vec<Sender> = self.lock().clone();
        // Compressed once, for every subscriber that inflates each message
        // alone (no context takeover on our side): DESIGN.md, "The hub".
        #[cfg(feature = "deflate")]
        let mut wire: Option<Option<Vec<u8>>> = None;
        let mut dead = Vec::new();
        let mut delivered = 0;
        for sender in &snapshot {
            #[cfg(feature = "deflate")]
            let compressed = match (sender.writer.shared_deflate(), outgoing.frame()) {
                (Some(d), Some((op, payload))) if d.compresses(payload.len()) => wire
                    .get_or_insert_with(|| {
                        let mut w = Vec::with_capacity(payload.len() / 2 + 64);
                        // None: no compressor could be had; everyone gets
                        // the plain frame.
                        crate::deflate_pool::compress(payload, d.level, &mut w).then_some(w)
                    })
                    .as_ref()
                    .and_then(|w| prepare(op, crate::writer::RSV1, w, None).ok()),
                _ => None,
            };
            #[cfg(not(feature = "deflate"))]
            let compressed: Option<crate::proto::outbound::OutFrame<'_>> = None;
            let frame = compressed.as_ref().unwrap_or(&frame);
            match sender.send_encoded(frame.head(), frame.payload(), self.inner.stall_timeout) {
                Ok(()) => delivered += 1,
                Err(e) => {
                    log::debug!("hub dropped a subscriber: {}", e);
                    dead.push(Arc::as_ptr(&sender.writer));
                }
            }
        }
        if !dead.is_empty() {
            self.lock()
                .retain(|s| !dead.contains(&Arc::as_ptr(&s.writer)));
        }
        delivered
    }

    /// How many subscribers are open now.
    pub fn len(&self) -> usize {
        // Checked outside the hub's lock: `is_closed` takes each subscriber's
        // write lock, which a stalled broadcast holds for up to the stall
        // timeout, and `subscribe` must not wait on that.
        let snapshot: Vec<Sender> = self.lock().clone();
        let closed: Vec<_> = snapshot
            .iter()
            .filter(|s| s.is_closed())
            .map(|s| Arc::as_ptr(&s.writer))
            .collect();
        let mut subscribers = self.lock();
        if !closed.is_empty() {
            subscribers.retain(|s| !closed.contains(&Arc::as_ptr(&s.writer)));
        }
        subscribers.len()
    }

    /// Whether no subscriber is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stall timeout given to [`Hub::new`].
    pub fn stall_timeout(&self) -> Duration {
        self.inner.stall_timeout
    }
}
