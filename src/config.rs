//! Limits and timeouts, with defaults sized for a Raspberry Pi.

use std::net::IpAddr;
use std::time::Duration;

use crate::error::{Error, Result};

/// Limits and timeouts for connections and the [`Server`](crate::Server).
///
/// Build one with [`Config::default`] and the setters of the same names as the
/// fields:
///
/// ```
/// use std::time::Duration;
/// let config = tinyws::Config::default()
///     .max_message_size(64 * 1024)
///     .ping_interval(Some(Duration::from_secs(10)));
/// assert_eq!(config.max_message_size, 65536);
/// ```
///
/// Values are checked once, by [`Server::bind`](crate::Server::bind) and
/// [`accept`](crate::accept), which return [`Error::Config`] for a bad one.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The largest message accepted, after reassembling fragments. A larger
    /// one fails the connection with 1009 before any buffer for it is
    /// allocated. Defaults to 1 MiB.
    pub max_message_size: usize,
    /// The largest single frame accepted. Defaults to 1 MiB.
    pub max_frame_size: usize,
    /// The most frames one message may arrive in. A flood of tiny fragments
    /// costs a header parse each; beyond this many the connection is failed
    /// with 1009. Defaults to 1024.
    pub max_fragments: usize,
    /// The whole opening handshake must arrive within this time, however the
    /// client trickles it. Defaults to 10 s.
    pub handshake_timeout: Duration,
    /// While the connection is idle, send a Ping this often. `None` turns
    /// keepalive off. Defaults to 30 s.
    pub ping_interval: Option<Duration>,
    /// After a keepalive Ping, fail the connection if nothing at all arrives
    /// for this long. Defaults to 30 s.
    pub ping_timeout: Duration,
    /// After we send Close, wait this long for the peer's Close before
    /// closing TCP. Defaults to 5 s.
    pub close_timeout: Duration,
    /// A write that makes no progress for this long fails with
    /// [`Timeout::Write`](crate::Timeout::Write), so a client that stops
    /// reading cannot hold a thread forever. This is also the most one stalled
    /// subscriber can delay a broadcast, unless it subscribed to a
    /// [`Hub`](crate::Hub) with its own stall timeout. Defaults to 5 s.
    pub write_timeout: Duration,
    /// Server only: the most connections open at once, including those still
    /// in their handshake. Beyond it new clients get HTTP 503, unless a
    /// handshake is in progress, which is then cut to make room (see
    /// [`max_handshakes`](Self::max_handshakes)). Defaults to 256.
    pub max_connections: usize,
    /// Server only: the most connections still in their opening handshake,
    /// inside [`max_connections`](Self::max_connections). When a new client
    /// would exceed it (or the whole cap), the handshake that has waited
    /// longest is cut to make room, so silent sockets can neither lock out new
    /// clients nor crowd out open connections. Defaults to 64.
    pub max_handshakes: usize,
    /// Server only: the stack size of each connection thread, in bytes.
    /// Defaults to 64 KiB.
    pub stack_size: usize,
    /// Server only: how many connection threads, their connection over, may
    /// wait (up to 30 s) to take the next one, which then starts without
    /// creating a thread. 0 gives every connection a new thread. Defaults
    /// to 8.
    pub spare_threads: usize,
    /// Origins allowed besides the same origin, such as
    /// `"http://192.168.1.20:8080"`. Compared case-insensitively with the
    /// Origin header. Defaults to none.
    pub allowed_origins: Vec<String>,
    /// Accept any Origin. Only for endpoints that hold nothing a web page on
    /// another site should reach. Defaults to `false`.
    pub allow_any_origin: bool,
    /// Host names accepted in the Host header besides this device's own, such
    /// as `"pi.example.com"` (a public name, or the name a reverse proxy
    /// forwards). This device's own are always accepted: IP literals,
    /// `localhost`, the machine's host name and any `NAME.local`. Any other
    /// Host gets HTTP 421 and neither a WebSocket nor a page, which defeats DNS
    /// rebinding (see the README). `"*"` accepts every host. Ports are
    /// ignored. Defaults to none.
    pub allowed_hosts: Vec<String>,
    /// The addresses of reverse proxies whose `X-Forwarded-For`,
    /// `X-Forwarded-Host` and `Forwarded` headers are believed: from these
    /// peers the client's address and the host it asked for are taken from
    /// those headers. From any other peer the headers are ignored. Defaults
    /// to none.
    pub trusted_proxies: Vec<IpAddr>,
    /// The subprotocols this server speaks. The first one the client offers
    /// that is in this list is chosen. Defaults to none.
    pub subprotocols: Vec<String>,
    /// Refuse (HTTP 400) clients that offer none of
    /// [`subprotocols`](Self::subprotocols). Defaults to `false`.
    pub require_subprotocol: bool,
    /// Compress messages with permessage-deflate (RFC 7692) when the peer
    /// agrees: a server accepts the first offer it can honour, a client
    /// offers it. Needs the `deflate` cargo feature; without it, `Some` is
    /// a configuration error. Defaults to `None`.
    pub deflate: Option<Deflate>,
}

/// permessage-deflate settings, for [`Config::deflate`].
///
/// ```
/// let deflate = tinyws::Deflate::default().level(6).threshold(256);
/// assert_eq!(deflate.level, 6);
/// ```
///
/// By default no compression state lives in a connection between messages:
/// each message borrows a compressor or decompressor from a small pool
/// shared by the process (DESIGN.md, "permessage-deflate").
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Deflate {
    /// Keep each direction's compression context from one message to the
    /// next, unless the peer asks otherwise: better ratios for similar
    /// small messages, at about 336 KiB per connection that has sent and
    /// received a compressed message (294 KiB compressor + 42 KiB
    /// decompressor). Defaults to `false`.
    pub context_takeover: bool,
    /// Compression level, 1 (fastest) to 9 (smallest). Defaults to 1.
    pub level: u8,
    /// Messages shorter than this many bytes go out uncompressed.
    /// Defaults to 128.
    pub threshold: usize,
}

impl Default for Deflate {
    fn default() -> Self {
        Deflate {
            context_takeover: false,
            level: 1,
            threshold: 128,
        }
    }
}

setters! { Deflate {
    /// Set [`Self::context_takeover`].
    context_takeover: bool;
    /// Set [`Self::level`].
    level: u8;
    /// Set [`Self::threshold`].
    threshold: usize;
}}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            max_fragments: 1024,
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Some(Duration::from_secs(30)),
            ping_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
            max_connections: 256,
            max_handshakes: 64,
            stack_size: 64 * 1024,
            spare_threads: 8,
            allowed_origins: Vec::new(),
            allow_any_origin: false,
            allowed_hosts: Vec::new(),
            trusted_proxies: Vec::new(),
            subprotocols: Vec::new(),
            require_subprotocol: false,
            deflate: None,
        }
    }
}

/// The longest timeout accepted: far beyond any use, far from overflow.
const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// The smallest thread stack accepted: Linux refuses less than 16 KiB.
const MIN_STACK: usize = 16 * 1024;

/// Consuming setters named after the fields they set, for the crate's
/// settings types (`Config`, `Deflate`, `Backoff`).
macro_rules! setters {
    ($owner:ident { $($(#[$doc:meta])* $name:ident: $ty:ty;)* }) => {
        impl $owner {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}
pub(crate) use setters;

setters! { Config {
    /// Set [`Self::max_message_size`].
    max_message_size: usize;
    /// Set [`Self::max_frame_size`].
    max_frame_size: usize;
    /// Set [`Self::max_fragments`].
    max_fragments: usize;
    /// Set [`Self::handshake_timeout`].
    handshake_timeout: Duration;
    /// Set [`Self::ping_interval`].
    ping_interval: Option<Duration>;
    /// Set [`Self::ping_timeout`].
    ping_timeout: Duration;
    /// Set [`Self::close_timeout`].
    close_timeout: Duration;
    /// Set [`Self::write_timeout`].
    write_timeout: Duration;
    /// Set [`Self::max_connections`].
    max_connections: usize;
    /// Set [`Self::max_handshakes`].
    max_handshakes: usize;
    /// Set [`Self::stack_size`].
    stack_size: usize;
    /// Set [`Self::spare_threads`].
    spare_threads: usize;
    /// Set [`Self::allowed_origins`].
    allowed_origins: Vec<String>;
    /// Set [`Self::allow_any_origin`].
    allow_any_origin: bool;
    /// Set [`Self::allowed_hosts`].
    allowed_hosts: Vec<String>;
    /// Set [`Self::trusted_proxies`].
    trusted_proxies: Vec<IpAddr>;
    /// Set [`Self::subprotocols`].
    subprotocols: Vec<String>;
    /// Set [`Self::require_subprotocol`].
    require_subprotocol: bool;
    /// Set [`Self::deflate`].
    deflate: Option<Deflate>;
}}

impl Config {
    /// Checks every value once, so that nothing later has to.
    pub(crate) fn validate(&self) -> Result<()> {
        let zero = Duration::from_secs(0);
        let check =
            |ok: bool, what: &'static str| if ok { Ok(()) } else { Err(Error::Config(what)) };
        check(
            self.max_message_size > 0,
            "max_message_size must be at least 1",
        )?;
        check(self.max_frame_size > 0, "max_frame_size must be at least 1")?;
        check(self.max_fragments > 0, "max_fragments must be at least 1")?;
        check(
            self.handshake_timeout > zero,
            "handshake_timeout must be above zero",
        )?;
        check(
            self.ping_interval != Some(zero),
            "ping_interval must be above zero or None",
        )?;
        check(self.ping_timeout > zero, "ping_timeout must be above zero")?;
        check(
            self.close_timeout > zero,
            "close_timeout must be above zero",
        )?;
        check(
            self.write_timeout > zero,
            "write_timeout must be above zero",
        )?;
        // Deadlines are Instant + Duration, which must not overflow.
        let longest = [
            self.handshake_timeout,
            self.ping_interval.unwrap_or(zero),
            self.ping_timeout,
            self.close_timeout,
            self.write_timeout,
        ];
        check(
            longest.iter().all(|d| *d <= MAX_TIMEOUT),
            "timeouts must be at most a year",
        )?;
        check(
            self.max_connections > 0,
            "max_connections must be at least 1",
        )?;
        check(self.max_handshakes > 0, "max_handshakes must be at least 1")?;
        check(
            self.allowed_hosts
                .iter()
                .all(|h| h == "*" || crate::handshake::is_valid_host(h)),
            "allowed_hosts entries must be host names, such as pi.example.com",
        )?;
        check(
            self.stack_size >= MIN_STACK,
            "stack_size must be at least 16 KiB",
        )?;
        check(
            !self.require_subprotocol || !self.subprotocols.is_empty(),
            "require_subprotocol needs at least one entry in subprotocols",
        )?;
        if let Some(deflate) = &self.deflate {
            check(
                cfg!(feature = "deflate"),
                "deflate needs the `deflate` cargo feature",
            )?;
            check(
                (1..=9).contains(&deflate.level),
                "deflate level must be 1 to 9",
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_pinned() {
        let c = Config::default();
        assert_eq!(c.max_message_size, 1024 * 1024);
        assert_eq!(c.max_frame_size, 1024 * 1024);
        assert_eq!(c.max_fragments, 1024);
        assert_eq!(c.handshake_timeout, Duration::from_secs(10));
        assert_eq!(c.ping_interval, Some(Duration::from_secs(30)));
        assert_eq!(c.ping_timeout, Duration::from_secs(30));
        assert_eq!(c.close_timeout, Duration::from_secs(5));
        assert_eq!(c.write_timeout, Duration::from_secs(5));
        assert_eq!(c.max_connections, 256);
        assert_eq!(c.max_handshakes, 64);
        assert_eq!(c.stack_size, 64 * 1024);
        assert_eq!(c.spare_threads, 8);
        assert!(c.allowed_origins.is_empty());
        assert!(!c.allow_any_origin);
        assert!(c.allowed_hosts.is_empty());
        assert!(c.trusted_proxies.is_empty());
        assert!(c.subprotocols.is_empty());
        assert!(!c.require_subprotocol);
        assert_eq!(c.deflate, None);
        assert!(c.validate().is_ok());
        let d = Deflate::default();
        assert!(!d.context_takeover);
        assert_eq!(d.level, 1);
        assert_eq!(d.threshold, 128);
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        let bad = [
            Config::default().max_message_size(0),
            Config::default().ping_interval(Some(Duration::from_secs(0))),
            Config::default().stack_size(1024),
            Config::default().max_connections(0),
            Config::default().max_handshakes(0),
            Config::default().allowed_hosts(vec!["http://pi.example.com".into()]),
            Config::default().allowed_hosts(vec!["pi.example.com/ws".into()]),
            Config::default().require_subprotocol(true),
            Config::default().close_timeout(Duration::MAX),
            Config::default().deflate(Some(Deflate::default().level(0))),
            Config::default().deflate(Some(Deflate::default().level(10))),
        ];
        for c in &bad {
            assert!(matches!(c.validate(), Err(Error::Config(_))), "{:?}", c);
        }
    }

    #[test]
    fn deflate_needs_its_feature() {
        let c = Config::default().deflate(Some(Deflate::default()));
        assert_eq!(c.validate().is_ok(), cfg!(feature = "deflate"));
    }
}
