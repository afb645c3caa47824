//! The client: [`connect`] for one connection, and [`Client`] for one that
//! reconnects by itself, with backoff, until it is stopped.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::backoff::{Backoff, Decision, Schedule};
use crate::config::Config;
use crate::dial;
use crate::error::{Error, Result};
use crate::handshake::client::Offer;
use crate::handshake::url::Url;
use crate::message::{Message, Outgoing, Payload};
use crate::proto::close::CloseCode;
use crate::proto::mask::MaskKeys;
use crate::proto::Role;
use crate::sender::Sender;
use crate::socket::Socket;
use crate::stream::{Io, Stream};
use crate::tls::TlsConfig;
use crate::websocket::WebSocket;
use crate::writer::Writer;

/// How long name resolution, and then each resolved address, may take by
/// default.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages kept while disconnected, by default.
const QUEUE: usize = 16;

/// Opens a client connection to a `ws://` URL with the default [`Config`],
/// and returns the same [`WebSocket`] a server handler gets, in the client
/// role: it masks what it sends and refuses masked frames.
///
/// ```no_run
/// # fn main() -> tinyws::Result<()> {
/// let mut ws = tinyws::connect("ws://127.0.0.1:9001/echo")?;
/// ws.send("hello")?;
/// println!("{:?}", ws.read()?);
/// ws.close(tinyws::CloseCode::NORMAL, "")?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`Error::InvalidUrl`] for a URL that is not `ws://` or `wss://`;
/// [`Error::Unsupported`] for `wss://` in a build without the `tls`
/// feature; for `wss://`, [`Error::Io`] when no system trust roots are
/// found or the server's certificate does not verify (the TLS library's
/// reason);
/// [`Error::Timeout`] when name resolution, every address or the handshake
/// took too long; [`Error::Io`] with the operating system's message when no
/// address accepted; [`Error::Refused`] when the server answered with an
/// HTTP status other than 101; [`Error::Protocol`] for a 101 that fails RFC
/// 6455's checks.
pub fn connect(url: &str) -> Result<WebSocket> {
    Client::new(url).connect()
}

/// A client connection with options, and with reconnection: the counterpart
/// of [`Server`](crate::Server).
///
/// [`connect`](Client::connect) opens one connection.
/// [`run`](Client::run) keeps one open: it connects, calls the handler with
/// the connection, and when the handler returns (the connection ended),
/// waits per the [`Backoff`] and connects again, until
/// [`ClientHandle::stop`] or an error that retrying cannot fix.
///
/// ```no_run
/// use tinyws::{Client, Message};
///
/// fn main() -> tinyws::Result<()> {
///     let client = Client::new("ws://relay.example:8080/publish?token=SECRET");
///     let handle = client.handle();
///     std::thread::spawn(move || loop {
///         // Queued while disconnected, sent after the reconnect.
///         let _ = handle.send("21.5");
///         std::thread::sleep(std::time::Duration::from_secs(1));
///     });
///     client.run(|ws| {
///         while let Ok(msg) = ws.read() {
///             if let Message::Close(_) = msg {
///                 break;
///             }
///         }
///     })
/// }
/// ```
///
/// # Retries
/// Network errors, timeouts, a bad 101 and HTTP 5xx, 408 and 429 are
/// retried, after the server's Retry-After when it sent one; other 4xx
/// refusals end the run with [`Error::Refused`] unless
/// [`Backoff::retry_client_errors`] is set. A connection that ends is
/// reconnected; after a Close with 1001 (going away) or 1012 (restart), within
/// the first delay. Each attempt is logged at `info` with its cause and the
/// delay before the next.
///
/// # Messages sent while disconnected
/// [`ClientHandle::send`] sends at once while connected. While disconnected,
/// it puts the message in a queue of [`queue`](Client::queue) messages (16
/// by default), sent in order right after the next connect (after the
/// [`on_connect`](Client::on_connect) hook). When the queue is full the
/// oldest message is dropped. With a queue of 0, sending while
/// disconnected fails with [`Error::Closed`].
pub struct Client {
    url: String,
    config: Config,
    offer: Offer,
    connect_timeout: Duration,
    backoff: Backoff,
    on_connect: Option<Hook>,
    /// For `wss://`; `None` trusts the system's roots.
    tls: Option<TlsConfig>,
    shared: Arc<Shared>,
}

type Hook = Box<dyn FnMut(&mut WebSocket) -> Result<()> + Send>;

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            // The query often carries a token.
            .field("url", &self.url.split('?').next().unwrap_or(""))
            .field("connect_timeout", &self.connect_timeout)
            .field("backoff", &self.backoff)
            .finish()
    }
}

impl Client {
    /// A client for `url` with the default [`Config`], connect timeout (10
    /// s), [`Backoff`] and queue (16). The URL is checked when connecting.
    pub fn new(url: impl Into<String>) -> Client {
        Client {
            url: url.into(),
            config: Config::default(),
            offer: Offer::default(),
            connect_timeout: CONNECT_TIMEOUT,
            backoff: Backoff::default(),
            on_connect: None,
            tls: None,
            shared: Arc::new(Shared::new(QUEUE)),
        }
    }

    /// Limits and timeouts, as for a server's connections;
    /// [`Config::handshake_timeout`] bounds the opening handshake.
    #[must_use]
    pub fn config(mut self, config: Config) -> Client {
        self.config = config;
        self
    }

    /// Adds a header to the opening request, such as `Authorization`. The
    /// headers tinyws writes itself (Host, Upgrade, Connection, Origin,
    /// Sec-WebSocket-*) are refused with [`Error::InvalidInput`] when
    /// connecting.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Client {
        self.offer.headers.push((name.into(), value.into()));
        self
    }

    /// Sends this Origin header, for servers that check it.
    #[must_use]
    pub fn origin(mut self, origin: impl Into<String>) -> Client {
        self.offer.origin = Some(origin.into());
        self
    }

    /// Offers a subprotocol; call again for more, in order of preference.
    /// The one the server chose is [`WebSocket::subprotocol`].
    #[must_use]
    pub fn subprotocol(mut self, name: impl Into<String>) -> Client {
        self.offer.subprotocols.push(name.into());
        self
    }

    /// How long name resolution may take, and then each resolved address's
    /// TCP connect, before the next is tried. Defaults to 10 s.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Client {
        self.connect_timeout = timeout;
        self
    }

    /// The TLS configuration for a `wss://` URL, such as
    /// [`TlsConfig::client_with_ca`] for a device with a private CA. Without
    /// it, `wss://` verifies the server against the system's roots
    /// ([`TlsConfig::client`]). The URL's host is sent in SNI and checked
    /// against the certificate. Needs the `tls` feature.
    #[must_use]
    pub fn tls(mut self, tls: TlsConfig) -> Client {
        self.tls = Some(tls);
        self
    }

    /// How [`run`](Client::run) waits between attempts.
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Client {
        self.backoff = backoff;
        self
    }

    /// How many messages [`ClientHandle::send`] keeps while disconnected;
    /// 0 refuses them. Defaults to 16.
    #[must_use]
    pub fn queue(self, capacity: usize) -> Client {
        self.shared.lock().capacity = capacity;
        self
    }

    /// Runs on every new connection made by [`run`](Client::run), before
    /// the queued messages are sent and before the handler: re-subscribe,
    /// say hello or send the current state here. An error drops this
    /// connection, and the next attempt follows the backoff.
    #[must_use]
    pub fn on_connect<F>(mut self, hook: F) -> Client
    where
        F: FnMut(&mut WebSocket) -> Result<()> + Send + 'static,
    {
        self.on_connect = Some(Box::new(hook));
        self
    }

    /// A handle to send through, and to stop [`run`](Client::run) from any
    /// thread.
    pub fn handle(&self) -> ClientHandle {
        ClientHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Checks the URL, the options and the configuration once.
    fn validate(&self) -> Result<Url> {
        let url = Url::parse(&self.url).map_err(|e| Error::InvalidUrl(e.0))?;
        self.offer.validate()?;
        self.config.validate()?;
        self.backoff.validate()?;
        if self.connect_timeout == Duration::from_secs(0) {
            return Err(Error::Config("connect_timeout must be above zero"));
        }
        Ok(url)
    }

    /// Opens one connection: resolve, connect, handshake. No retries.
    ///
    /// # Errors
    /// As for [`connect`].
    pub fn connect(&self) -> Result<WebSocket> {
        let url = self.validate()?;
        let tls = self.tls_for(&url)?;
        self.open(&url, tls.as_ref())
    }

    /// The TLS configuration a `wss://` URL needs: the one given, else the
    /// system's roots (which fails in a build without the `tls` feature,
    /// saying how to get it).
    fn tls_for(&self, url: &Url) -> Result<Option<TlsConfig>> {
        match (&self.tls, url.secure) {
            (_, false) => Ok(None),
            (Some(tls), true) => Ok(Some(tls.clone())),
            (None, true) => TlsConfig::client().map(Some),
        }
    }

    fn open(&self, url: &Url, tls: Option<&TlsConfig>) -> Result<WebSocket> {
        let addrs = dial::resolve(&url.host, url.port, self.connect_timeout)?;
        let tcp = dial::connect(&addrs, self.connect_timeout)?;
        // One deadline for the TLS handshake and the HTTP exchange.
        let deadline = Instant::now()
            .checked_add(self.config.handshake_timeout)
            .unwrap_or_else(Instant::now);
        let socket = match tls {
            Some(tls) => {
                let socket = Socket::tls_client(tcp, tls, &url.host)?;
                socket.tls_handshake(deadline)?;
                socket
            }
            None => Socket::from(tcp),
        };
        let mut stream = Io::new(socket);
        let key = crate::handshake::client::new_key();
        let mut request = Vec::with_capacity(256);
        let offer = Offer {
            deflate: self.config.deflate.clone(),
            ..self.offer.clone()
        };
        crate::handshake::client::write_request(&mut request, url, &key, &offer);
        let (mut response, rest) =
            crate::handshake::client::exchange(&mut stream, &request, deadline)?;
        crate::handshake::client::check(&mut response, &key, &offer)?;
        stream.set_write_timeout(Some(self.config.write_timeout))?;
        let subprotocol = response.subprotocol().map(str::to_owned);
        let writer = Writer::new(Role::Client);
        writer.set_deflate(response.deflate(), &self.config);
        let mut ws = *WebSocket::boxed(stream, &self.config, writer, None, subprotocol, &rest);
        ws.set_response(response);
        Ok(ws)
    }

    /// Connects, hands each connection to `handler`, and reconnects when it
    /// returns, until [`ClientHandle::stop`]. See [Retries](#retries).
    ///
    /// # Errors
    /// [`Error::InvalidUrl`], [`Error::Config`] or [`Error::InvalidInput`]
    /// at once for bad options; [`Error::Refused`] when a 4xx ended the run.
    /// `Ok(())` after [`ClientHandle::stop`].
    pub fn run<F>(mut self, mut handler: F) -> Result<()>
    where
        F: FnMut(&mut WebSocket),
    {
        let url = self.validate()?;
        let tls = self.tls_for(&url)?;
        let mut schedule = Schedule::new(self.backoff.clone());
        let mut attempt: u32 = 0;
        loop {
            if self.shared.lock().stopped {
                return Ok(());
            }
            attempt += 1;
            let delay = match self.open(&url, tls.as_ref()) {
                Ok(ws) => {
                    attempt = 0;
                    let opened = Instant::now();
                    let code = self.session(&url, ws, &mut handler);
                    if self.shared.lock().stopped {
                        return Ok(());
                    }
                    let delay = schedule.after_session(opened.elapsed(), code, random());
                    log::info!(
                        "connection to {} ended after {:.1?} (close code {}); reconnecting in {:.1?}",
                        url,
                        opened.elapsed(),
                        code.map_or_else(|| "none".to_owned(), |c| c.0.to_string()),
                        delay
                    );
                    delay
                }
                Err(e) => match schedule.after_failure(&e, random()) {
                    Decision::Stop => {
                        log::warn!("connecting to {}: {}; not retrying", url, e);
                        return Err(e);
                    }
                    Decision::Retry(delay) => {
                        log::info!(
                            "attempt {} to connect to {} failed: {}; retrying in {:.1?}",
                            attempt,
                            url,
                            e,
                            delay
                        );
                        delay
                    }
                },
            };
            if !self.shared.sleep(delay) {
                return Ok(());
            }
        }
    }

    /// One connection's life: the hook, the queue, the handler. Returns the
    /// close code the server sent, if any.
    fn session<F>(&mut self, url: &Url, mut ws: WebSocket, handler: &mut F) -> Option<CloseCode>
    where
        F: FnMut(&mut WebSocket),
    {
        log::info!("connected to {}", url);
        if let Some(hook) = &mut self.on_connect {
            if let Err(e) = hook(&mut ws) {
                log::info!("on_connect hook failed: {}; dropping the connection", e);
                return ws.peer_close_code();
            }
        }
        let sender = match ws.sender() {
            Ok(sender) => sender,
            Err(e) => {
                log::warn!("no sender for the client connection: {}", e);
                return None;
            }
        };
        if !self.shared.attach(&sender) {
            // Stopped meanwhile: dropping `ws` closes it.
            return None;
        }
        handler(&mut ws);
        self.shared.detach();
        if !ws.is_closed() {
            let _ = ws.close(CloseCode::NORMAL, "");
        }
        ws.peer_close_code()
    }
}

/// A random `u64` for the backoff's jitter, from the same generator as the
/// masking keys.
fn random() -> u64 {
    let keys = MaskKeys::new();
    let (a, b) = (keys.next_key(), keys.next_key());
    u64::from_ne_bytes([a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]])
}

/// Sends through a [`Client`]'s current connection, queues while it is
/// down, and stops [`Client::run`]. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct ClientHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for ClientHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("ClientHandle")
            .field("connected", &state.current.is_some())
            .field("queued", &state.queue.len())
            .field("stopped", &state.stopped)
            .finish()
    }
}

impl ClientHandle {
    /// Sends on the current connection, or queues while there is none (see
    /// [Messages sent while disconnected](Client#messages-sent-while-disconnected)).
    ///
    /// # Errors
    /// [`Error::Closed`] after [`stop`](Self::stop), or while disconnected
    /// with a queue of 0; [`Error::InvalidInput`] for a control payload over
    /// 125 bytes; otherwise as for [`Sender::send`], except that a
    /// connection found closed queues the message instead.
    pub fn send(&self, message: impl Payload) -> Result<()> {
        let outgoing = message.outgoing();
        let mut state = self.shared.lock();
        if state.stopped || state.finishing {
            return Err(Error::Closed);
        }
        // Sent under the lock, so nothing overtakes the queue's flush.
        if let Some(sender) = &state.current {
            match sender.writer.send(None, outgoing) {
                Err(Error::Closed) | Err(Error::Disconnected) => state.current = None,
                other => return other,
            }
        }
        let owned = match outgoing {
            Outgoing::Text(t) => Message::Text(String::from_utf8_lossy(t).into_owned()),
            Outgoing::Binary(b) => Message::Binary(b.to_vec()),
            // A Ping or Close is about one connection: nothing to keep.
            _ => return Err(Error::Closed),
        };
        state.enqueue(owned)
    }

    /// Stops [`Client::run`]: a backoff wait ends at once, and an open
    /// connection is sent Close (1000), so the handler's `read` returns
    /// [`Message::Close`] once the server answers. `run` then returns
    /// `Ok(())`. Queued messages are dropped (see [`finish`](Self::finish)).
    /// Returns at once unless another thread is inside [`send`](Self::send)
    /// to a peer that stopped reading: then it waits for that write, at most
    /// [`Config::write_timeout`]. Bounds: a connection attempt under way finishes first
    /// (at most the connect and handshake timeouts); a server that never
    /// answers the Close holds the handler's `read` until the close timeout
    /// has passed at its next wake-up, which is at the latest the next
    /// keepalive tick ([`Config::ping_interval`]).
    pub fn stop(&self) {
        let mut state = self.shared.lock();
        state.stopped = true;
        if let Some(sender) = state.current.take() {
            let _ = sender.close(CloseCode::NORMAL, "");
        }
        state.queue.clear();
        self.shared.wake.notify_all();
    }

    /// Ends [`Client::run`] once every queued message is sent: on the
    /// current connection, or on the next one if there is none (so `run`
    /// keeps reconnecting until the queue is out). That connection is then
    /// closed with 1000, and `run` returns `Ok(())` after the server's
    /// Close. Sending afterwards fails with [`Error::Closed`].
    pub fn finish(&self) {
        let mut state = self.shared.lock();
        state.finishing = true;
        // While connected the queue is empty: sends go straight out.
        if let Some(sender) = state.current.take() {
            state.stopped = true;
            let _ = sender.close(CloseCode::NORMAL, "");
        }
        self.shared.wake.notify_all();
    }

    /// Whether a connection is open now.
    pub fn is_connected(&self) -> bool {
        self.shared
            .lock()
            .current
            .as_ref()
            .map_or(false, |s| !s.is_closed())
    }

    /// Messages waiting for the next connection.
    pub fn queued(&self) -> usize {
        self.shared.lock().queue.len()
    }
}

/// What a [`Client`] and its handles share.
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

struct State {
    stopped: bool,
    /// [`ClientHandle::finish`]: stop once the queue is out.
    finishing: bool,
    current: Option<Sender>,
    queue: VecDeque<Message>,
    capacity: usize,
    dropped: u64,
}

impl State {
    fn enqueue(&mut self, message: Message) -> Result<()> {
        if self.capacity == 0 {
            return Err(Error::Closed);
        }
        if self.queue.len() >= self.capacity {
            self.queue.pop_front();
            self.dropped += 1;
            log::debug!(
                "send queue full: dropped the oldest message ({} so far)",
                self.dropped
            );
        }
        self.queue.push_back(message);
        Ok(())
    }
}

impl Shared {
    fn new(capacity: usize) -> Shared {
        Shared {
            state: Mutex::new(State {
                stopped: false,
                finishing: false,
                current: None,
                queue: VecDeque::new(),
                capacity,
                dropped: 0,
            }),
            wake: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Flushes the queue through `sender` and makes it the current
    /// connection, under one lock so no message overtakes the queue.
    /// `false` if stopped.
    fn attach(&self, sender: &Sender) -> bool {
        let mut state = self.lock();
        if state.stopped {
            return false;
        }
        while let Some(message) = state.queue.front() {
            if let Err(e) = sender.send(message) {
                log::info!("sending a queued message: {}", e);
                return true;
            }
            state.queue.pop_front();
        }
        if state.finishing {
            // Everything is out: close, and let the handler read the reply.
            state.stopped = true;
            let _ = sender.close(CloseCode::NORMAL, "");
            return true;
        }
        state.current = Some(sender.clone());
        true
    }

    fn detach(&self) {
        self.lock().current = None;
    }

    /// Waits `delay` unless stopped first; `false` if stopped.
    fn sleep(&self, delay: Duration) -> bool {
        let deadline = Instant::now().checked_add(delay);
        let mut state = self.lock();
        loop {
            if state.stopped {
                return false;
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if left > Duration::from_secs(0) => left,
                    _ => return true,
                },
                None => Duration::from_secs(24 * 3600),
            };
            state = self
                .wake
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}
