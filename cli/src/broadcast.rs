//! `tinyws broadcast`: one source, every client, through the library's
//! [`Hub`], with the last lines replayed to newcomers.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tinyws::{Hub, Message, WebSocket};

use crate::child::Output;

/// A client whose socket stays full this long is dropped, so one stalled
/// phone delays everyone else's next line by at most this, once.
pub(crate) const STALL_TIMEOUT: Duration = Duration::from_secs(2);

/// The hub and the replay buffer.
#[derive(Debug)]
pub(crate) struct Feed {
    hub: Hub,
    /// The last `replay` messages. Its lock is held across each broadcast,
    /// and a newcomer subscribes under it, so a newcomer gets the replay and
    /// then live messages, with no gap and no repeat. It is never held while
    /// writing to a newcomer: a newcomer that does not read must not hold up
    /// the feed.
    recent: Mutex<Recent>,
    replay: usize,
}

#[derive(Debug)]
struct Recent {
    messages: VecDeque<Message>,
    /// The number of the next message to be published; `messages` holds
    /// those numbered from `next - messages.len()`.
    next: u64,
}

impl Feed {
    pub(crate) fn new(replay: usize) -> Feed {
        Feed {
            hub: Hub::new(STALL_TIMEOUT),
            recent: Mutex::new(Recent {
                messages: VecDeque::with_capacity(replay.min(1024)),
                next: 0,
            }),
            replay,
        }
    }

    fn recent(&self) -> MutexGuard<'_, Recent> {
        self.recent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends `message` to every client and keeps it for replay.
    pub(crate) fn publish(&self, message: Message) -> usize {
        let mut recent = self.recent();
        if self.replay > 0 {
            if recent.messages.len() == self.replay {
                recent.messages.pop_front();
            }
            recent.messages.push_back(message.clone());
        }
        recent.next += 1;
        match &message {
            Message::Text(text) => self.hub.broadcast(text),
            Message::Binary(bytes) => self.hub.broadcast(bytes),
            _ => 0,
        }
    }

    /// Runs one client: the replay, then live messages until it leaves.
    /// Messages from the client are read (to answer pings and see its
    /// Close) and dropped.
    pub(crate) fn handle(&self, mut ws: WebSocket) {
        let sender = match ws.sender() {
            Ok(sender) => sender,
            Err(_) => return,
        };
        // The replay, one message at a time, each copied under the lock and
        // written without it. Once caught up, the newcomer subscribes under
        // the lock, so the next broadcast reaches it and nothing falls
        // between. A newcomer that does not read blocks only itself, until
        // the write timeout drops it.
        let mut wanted = None;
        loop {
            let message = {
                let recent = self.recent();
                let first = recent.next - recent.messages.len() as u64;
                let number = match wanted {
                    Some(n) if n < first => {
                        log::debug!("a slow newcomer missed {} replayed lines", first - n);
                        first
                    }
                    Some(n) => n,
                    None => first,
                };
                if number == recent.next {
                    if self.hub.subscribe(sender.clone()).is_err() {
                        return;
                    }
                    break;
                }
                wanted = Some(number + 1);
                recent.messages[(number - first) as usize].clone()
            };
            if sender.send(message).is_err() {
                return;
            }
        }
        loop {
            match ws.read() {
                Ok(Message::Close(_)) | Err(_) => return,
                Ok(m) if m.is_data() => log::debug!("broadcast ignores client messages"),
                Ok(_) => {}
            }
        }
    }
}

/// Publishes everything `source` yields until it ends. Returns whether it
/// ended cleanly (end of file rather than a read error).
pub(crate) fn pump<R: Read>(feed: &Feed, mut source: Output<R>) -> bool {
    loop {
        match source.next_message() {
            Ok(Some(message)) => {
                let reached = feed.publish(message);
                log::trace!("broadcast to {} clients", reached);
            }
            Ok(None) => return true,
            Err(e) => {
                log::error!("reading the broadcast source: {}", e);
                return false;
            }
        }
    }
}
