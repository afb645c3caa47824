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
    /// so a newcomer gets the replay and then live messages, with no gap
    /// and no repeat.
    recent: Mutex<VecDeque<Message>>,
    replay: usize,
}

impl Feed {
    pub(crate) fn new(replay: usize) -> Feed {
        Feed {
            hub: Hub::new(STALL_TIMEOUT),
            recent: Mutex::new(VecDeque::with_capacity(replay.min(1024))),
            replay,
        }
    }

    fn recent(&self) -> MutexGuard<'_, VecDeque<Message>> {
        self.recent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends `message` to every client and keeps it for replay.
    pub(crate) fn publish(&self, message: Message) -> usize {
        let mut recent = self.recent();
        if self.replay > 0 {
            if recent.len() == self.replay {
                recent.pop_front();
            }
            recent.push_back(message.clone());
        }
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
        {
            let recent = self.recent();
            if self.hub.subscribe(sender.clone()).is_err() {
                return;
            }
            for message in recent.iter() {
                if sender.send(message.clone()).is_err() {
                    return;
                }
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
