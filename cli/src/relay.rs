//! `tinyws broadcast --publish PATH --publish-token SECRET`: a relay. A
//! device that cannot be reached from outside connects out to PATH and
//! publishes; every viewer on any other path gets what it sends, exactly as
//! lines from CMD. Publishers need the token; viewers cannot publish.

use tinyws::{Action, Message, Reply, Request, Upgrade, WebSocket};

use crate::broadcast::Feed;

/// Where publishers connect, and the secret they must show.
#[derive(Debug, Clone)]
pub(crate) struct Publish {
    pub(crate) path: String,
    pub(crate) token: String,
}

impl Publish {
    /// Checks the options once at start-up.
    pub(crate) fn new(path: String, token: String) -> Result<Publish, String> {
        if !path.starts_with('/') || path.contains('?') {
            return Err(format!(
                "--publish {:?}: a path starting with /, without a query",
                path
            ));
        }
        // The token travels in a URL query: keep to characters that need no
        // percent-encoding (RFC 3986 "unreserved"), and make guessing it hard.
        let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
        if token.len() < 16 || !token.bytes().all(unreserved) {
            return Err(
                "--publish-token: at least 16 characters of A-Z a-z 0-9 - . _ ~ \
                 (try: head -c 18 /dev/urandom | base64 | tr +/ -_)"
                    .to_owned(),
            );
        }
        Ok(Publish { path, token })
    }

    fn is_publisher(&self, req: &Request) -> bool {
        req.path() == self.path
    }

    /// The handshake hook's say on the publish path: 403 without the token,
    /// upgrade with it. `None` for every other path.
    pub(crate) fn gate(&self, req: &Request) -> Option<Action> {
        if !self.is_publisher(req) {
            return None;
        }
        if self.shows_token(req) {
            Some(Upgrade::new().into())
        } else {
            log::info!(
                "refused a publisher without the token from {}",
                peer(req.peer_addr())
            );
            Some(
                Reply::text(
                    403,
                    "publishing needs the token: ?token=SECRET or Authorization: Bearer SECRET\n",
                )
                .into(),
            )
        }
    }

    /// `?token=SECRET` in the query, or `Authorization: Bearer SECRET`.
    fn shows_token(&self, req: &Request) -> bool {
        let in_query = req
            .query()
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter_map(|pair| pair.strip_prefix("token="))
            .any(|t| same(t, &self.token));
        let in_header = req
            .header("authorization")
            .and_then(|h| h.trim().strip_prefix("Bearer "))
            .map_or(false, |t| same(t.trim(), &self.token));
        in_query || in_header
    }
}

/// Compares in time that depends only on the lengths, so the token cannot be
/// found a byte at a time by timing refusals.
fn same(given: &str, token: &str) -> bool {
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Runs one connection of a relay: a publisher's messages go to every
/// viewer; a viewer gets the replay and then live messages.
pub(crate) fn handle(feed: &Feed, publish: Option<&Publish>, ws: WebSocket) {
    let publisher = match (publish, ws.request()) {
        (Some(p), Some(req)) => p.is_publisher(req),
        _ => false,
    };
    if publisher {
        run_publisher(feed, ws);
    } else {
        feed.handle(ws);
    }
}

/// Publishes every data message until the publisher leaves. A publisher is
/// not subscribed: it does not get its own or others' messages back.
fn run_publisher(feed: &Feed, mut ws: WebSocket) {
    let peer = peer(ws.request().and_then(Request::peer_addr));
    log::info!("publisher connected from {}", peer);
    let mut published = 0u64;
    loop {
        match ws.read() {
            Ok(Message::Close(_)) => break,
            Ok(m) if m.is_data() => {
                let reached = feed.publish(m);
                published += 1;
                log::trace!("relayed to {} viewers", reached);
            }
            Ok(_) => {}
            Err(e) => {
                log::info!("publisher {}: {}", peer, e);
                break;
            }
        }
    }
    log::info!("publisher {} left after {} messages", peer, published);
}

fn peer(addr: Option<std::net::SocketAddr>) -> String {
    addr.map_or_else(|| "an unknown peer".to_owned(), |a| a.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        let token = "0123456789abcdef".to_owned();
        assert!(Publish::new("/publish".into(), token.clone()).is_ok());
        assert!(Publish::new("publish".into(), token.clone()).is_err());
        assert!(Publish::new("/p?x=1".into(), token).is_err());
        assert!(Publish::new("/p".into(), "short".into()).is_err());
        assert!(Publish::new("/p".into(), "0123456789abcdef&x=1".into()).is_err());
    }

    #[test]
    fn comparison() {
        assert!(same("abc", "abc"));
        assert!(!same("abd", "abc"));
        assert!(!same("ab", "abc"));
        assert!(!same("", "abc"));
    }
}
