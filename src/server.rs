//! The listener: one OS thread per connection, a connection cap, the
//! handshake hook, and graceful shutdown.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::{Error, HandshakeError, Result};
use crate::handshake::{self, write_refusal, Hook, Outcome};
use crate::proto::close::CloseCode;
use crate::proto::Role;
use crate::request::{Action, Request};
use crate::socket::Socket;
use crate::stream::Io;
use crate::tls::TlsConfig;
use crate::websocket::WebSocket;
use crate::writer::Writer;

/// A WebSocket server: a blocking `TcpListener` that runs each connection on
/// its own thread.
///
/// ```no_run
/// use tinyws::{Config, Server};
/// let server = Server::bind("0.0.0.0:9001", &Config::default())?;
/// server.serve(|mut ws| {
///     while let Ok(msg) = ws.read() {
///         if msg.is_data() && ws.send(msg).is_err() {
///             break;
///         }
///     }
/// })?;
/// # Ok::<(), tinyws::Error>(())
/// ```
pub struct Server {
    listener: TcpListener,
    config: Arc<Config>,
    hook: Option<Arc<Hook>>,
    /// Set: every connection speaks TLS (wss://, and https:// pages).
    tls: Option<TlsConfig>,
    state: Arc<State>,
}

/// Controls a running [`Server`] from any thread: count its connections or
/// shut it down.
#[derive(Clone)]
pub struct ServerHandle {
    state: Arc<State>,
}

struct State {
    shutting_down: AtomicBool,
    /// Connection threads alive, including those still in their handshake.
    open: AtomicUsize,
    /// Of those, the connections past their handshake: their request was
    /// accepted. The rest count against `max_handshakes`.
    answered: AtomicUsize,
    registry: Mutex<Registry>,
    changed: Condvar,
    wake_addr: SocketAddr,
    spares: Mutex<Spares>,
    /// Wakes a spare thread: a connection is waiting for it, or shutdown.
    spare_ready: Condvar,
    /// The device's host name, read once at start-up, for the handshake's
    /// DNS-rebinding check.
    host_name: Option<String>,
}

/// Connection threads whose connection is over, waiting for the next one.
#[derive(Default)]
struct Spares {
    waiting: usize,
    /// Handed over by the accept loop, never more than `waiting`.
    jobs: Vec<Connection>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    /// Every connection thread's write path; `true` once upgraded.
    live: HashMap<u64, (Arc<Writer>, bool)>,
    /// Connections whose request was accepted, from just before the 101 is
    /// written: past their handshake, never cut to make room.
    answered: HashSet<u64>,
    threads: Vec<JoinHandle<()>>,
}

impl State {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    fn spares(&self) -> MutexGuard<'_, Spares> {
        self.spares
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Cuts the handshake that has waited longest, to make room for a new
    /// client; its thread ends at once. `None` if no handshake is left to cut.
    fn cut_oldest_handshake(&self) -> Option<u64> {
        let registry = self.lock();
        // Ids grow with time, so the smallest is the oldest.
        let (id, shared) = registry
            .live
            .iter()
            .filter(|(id, (shared, _))| !registry.answered.contains(id) && !shared.is_finished())
            .min_by_key(|(id, _)| **id)
            .map(|(id, (shared, _))| (*id, Arc::clone(shared)))?;
        // Cut under the lock that `accepted` also takes, so a handshake
        // cannot be answered between being chosen and being cut. The cut
        // never waits (it only tries the write lock).
        shared.shutdown_stream();
        drop(registry);
        Some(id)
    }

    /// Whether a new client may start a handshake: within the connection
    /// cap and the handshake budget, or once the oldest handshake has been
    /// cut to make room (DESIGN.md, "Handshakes have their own budget").
    fn admit(&self, config: &Config, peer: SocketAddr) -> bool {
        let open = self.open.load(Ordering::Acquire);
        let handshakes = open.saturating_sub(self.answered.load(Ordering::Acquire));
        if open < config.max_connections && handshakes < config.max_handshakes {
            return true;
        }
        if handshakes > 0 && self.cut_oldest_handshake().is_some() {
            log::info!(
                "{} admitted: cut the oldest of {} handshakes ({} connections open)",
                peer,
                handshakes,
                open
            );
            return true;
        }
        false
    }

    /// Hands `job` to a spare thread, or gives it back if none is waiting.
    fn hand_over(&self, job: Connection) -> Option<Connection> {
        let mut spares = self.spares();
        if spares.waiting > spares.jobs.len() {
            spares.jobs.push(job);
            drop(spares);
            self.spare_ready.notify_one();
            None
        } else {
            Some(job)
        }
    }

    /// Waits as a spare thread for the next connection, unless `max` are
    /// waiting already, SPARE_WAIT passes or the server shuts down.
    fn next_job(&self, max: usize) -> Option<Connection> {
        let mut spares = self.spares();
        if spares.waiting >= max || self.is_shutting_down() {
            return None;
        }
        spares.waiting += 1;
        let deadline = Instant::now() + SPARE_WAIT;
        let job = loop {
            // A job handed over is always taken, shutdown or not: the accept
            // loop counted on this thread.
            if let Some(job) = spares.jobs.pop() {
                break Some(job);
            }
            let now = Instant::now();
            if now >= deadline || self.is_shutting_down() {
                break None;
            }
            spares = self
                .spare_ready
                .wait_timeout(spares, deadline - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        };
        spares.waiting -= 1;
        job
    }
}

/// The handler type, shared by every connection thread.
type Handler = dyn Fn(WebSocket) + Send + Sync;

impl Server {
    /// Binds the listener. Use port 0 to let the OS choose, then read it
    /// back with [`local_addr`](Self::local_addr).
    ///
    /// # Errors
    /// [`Error::Config`] for a bad `config`; I/O errors from binding.
    pub fn bind(addr: impl ToSocketAddrs, config: &Config) -> Result<Server> {
        config.validate()?;
        Server::from_listener(TcpListener::bind(addr)?, config)
    }

    /// A server on a listener you already have, such as one that systemd
    /// passed in (socket activation: `std::os::unix::io::FromRawFd` on
    /// descriptor 3).
    ///
    /// # Errors
    /// [`Error::Config`] for a bad `config`; I/O errors from the listener.
    pub fn from_listener(listener: TcpListener, config: &Config) -> Result<Server> {
        config.validate()?;
        let local = listener.local_addr()?;
        // Shutdown wakes the accept loop by connecting to it.
        let wake_ip = match local.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => std::net::Ipv4Addr::LOCALHOST.into(),
            ip if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
            ip => ip,
        };
        Ok(Server {
            listener,
            config: Arc::new(config.clone()),
            hook: None,
            tls: None,
            state: Arc::new(State {
                shutting_down: AtomicBool::new(false),
                open: AtomicUsize::new(0),
                answered: AtomicUsize::new(0),
                registry: Mutex::new(Registry::default()),
                changed: Condvar::new(),
                wake_addr: SocketAddr::new(wake_ip, local.port()),
                spares: Mutex::new(Spares::default()),
                spare_ready: Condvar::new(),
                host_name: handshake::this_host_name(),
            }),
        })
    }

    /// The address the server listens on.
    ///
    /// # Errors
    /// I/O errors from the OS.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Sets the handshake hook. It runs on the connection's thread for every
    /// request, before any upgrade: it sees the method, path, query, headers
    /// and peer address, and decides.
    ///
    /// - For an upgrade request (already checked against RFC 6455 and the
    ///   Origin policy), [`Action::Upgrade`] goes ahead, optionally choosing
    ///   a subprotocol and adding headers; [`Action::Respond`] refuses with
    ///   its status and body.
    /// - For a plain HTTP request, [`Action::Respond`] answers it, so a page
    ///   can be served from the same port; [`Action::Upgrade`] gets 426.
    ///
    /// Without a hook, a plain GET gets 426 and a short body saying this is
    /// a WebSocket endpoint.
    ///
    /// ```no_run
    /// use tinyws::{Action, Config, Reply, Server, Upgrade};
    /// let server = Server::bind("0.0.0.0:9001", &Config::default())?
    ///     .on_request(|req| {
    ///         if !req.is_upgrade() {
    ///             return Reply::html("<h1>dashboard</h1>").into();
    ///         }
    ///         match req.query() {
    ///             Some("token=secret") => Upgrade::new().into(),
    ///             _ => Reply::text(401, "token required").into(),
    ///         }
    ///     });
    /// # Ok::<(), tinyws::Error>(())
    /// ```
    #[must_use]
    pub fn on_request<F>(mut self, hook: F) -> Server
    where
        F: Fn(&Request) -> Action + Send + Sync + 'static,
    {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Serves every connection over TLS: wss://, and https:// for pages
    /// the hook answers. Needs the `tls` feature, without which no
    /// [`TlsConfig`] can be made.
    ///
    /// The TLS handshake and the HTTP request share
    /// [`Config::handshake_timeout`]. A plain-HTTP request gets `400` "this
    /// port speaks TLS: use https:// or wss://". Over
    /// [`Config::max_connections`] and during shutdown, a newcomer gets a
    /// TLS `internal_error` alert instead of the plaintext 503 (which its
    /// TLS library would read as garbage), and the connection is closed.
    /// New connections pick up a renewed certificate (see
    /// [`TlsConfig::server`]).
    ///
    /// ```no_run
    /// use tinyws::{Config, Server, TlsConfig};
    /// let tls = TlsConfig::server("/etc/tinyws/cert.pem", "/etc/tinyws/key.pem")?;
    /// let server = Server::bind("0.0.0.0:9443", &Config::default())?.tls(tls)?;
    /// # Ok::<(), tinyws::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a client configuration.
    pub fn tls(mut self, tls: TlsConfig) -> Result<Server> {
        if !tls.is_server() {
            return Err(Error::InvalidInput(
                "Server::tls needs a server TlsConfig (TlsConfig::server)",
            ));
        }
        self.tls = Some(tls);
        Ok(self)
    }

    /// Refuses a newcomer from the accept loop, never blocking it: HTTP
    /// `status` on a plain port, a TLS alert on a TLS one.
    fn refuse(&self, stream: TcpStream, status: u16, reason: &'static str) {
        match &self.tls {
            Some(tls) => tls.refuse(stream),
            None => refuse(stream, status, reason),
        }
    }

    /// A handle for counting connections and shutting down from any thread.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            state: Arc::clone(&self.state),
        }
    }

    /// Accepts connections until shut down, running `handler` on each
    /// upgraded connection in its own thread.
    ///
    /// Beyond [`Config::max_connections`] new clients get HTTP 503 with
    /// Retry-After, unless a handshake is in progress: then the oldest one is
    /// cut to make room, as it is beyond [`Config::max_handshakes`]. Accept errors (such as running out of file descriptors)
    /// are logged and retried with a growing pause. A panic in `handler`
    /// closes that connection with 1011 and is logged; the server keeps
    /// serving. After [`ServerHandle::shutdown`], returns once every
    /// connection thread has been joined.
    ///
    /// # Errors
    /// I/O errors from the listener itself during shutdown.
    pub fn serve<F>(self, handler: F) -> Result<()>
    where
        F: Fn(WebSocket) + Send + Sync + 'static,
    {
        let handler: Arc<Handler> = Arc::new(handler);
        let scheme = if self.tls.is_some() { " (TLS)" } else { "" };
        log::info!("listening on {}{}", self.local_addr()?, scheme);
        let mut backoff = MIN_BACKOFF;
        loop {
            let (stream, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if self.state.is_shutting_down() => {
                    log::debug!("accept during shutdown: {}", e);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("accept failed: {}; retrying in {:?}", e, backoff);
                    thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            backoff = MIN_BACKOFF;
            if self.state.is_shutting_down() {
                self.refuse(stream, 503, "server is shutting down");
                break;
            }
            if !self.state.admit(&self.config, peer) {
                log::warn!(
                    "{} refused: {} connections open",
                    peer,
                    self.config.max_connections
                );
                self.refuse(stream, 503, "too many connections");
                continue;
            }
            self.spawn(stream, peer, &handler);
        }
        self.drain()
    }

    fn spawn(&self, stream: TcpStream, peer: SocketAddr, handler: &Arc<Handler>) {
        self.state.open.fetch_add(1, Ordering::AcqRel);
        // Kept here so a failed spawn can still answer 503.
        let slot = Arc::new(Mutex::new(Some(stream)));
        let job = Connection {
            slot: Arc::clone(&slot),
            peer,
            config: Arc::clone(&self.config),
            hook: self.hook.clone(),
            tls: self.tls.clone(),
            handler: Arc::clone(handler),
            state: Arc::clone(&self.state),
        };
        let job = match self.state.hand_over(job) {
            None => return,
            Some(job) => job,
        };
        let state = Arc::clone(&self.state);
        let spare_threads = self.config.spare_threads;
        let spawned = thread::Builder::new()
            .name("tinyws-conn".into())
            .stack_size(self.config.stack_size)
            .spawn(move || {
                // Creating and ending a thread costs more than a handshake:
                // a thread whose connection is over may take the next one.
                let mut job = job;
                loop {
                    job.run();
                    job = match state.next_job(spare_threads) {
                        Some(next) => next,
                        None => return,
                    };
                }
            });
        match spawned {
            Ok(thread) => {
                let mut registry = self.state.lock();
                // Only more handles than connections and spares can include
                // finished threads (whose stacks a handle keeps until it is
                // dropped), so the scan is skipped while every thread is busy.
                let busy = self
                    .state
                    .open
                    .load(Ordering::Acquire)
                    .saturating_add(self.config.spare_threads);
                if registry.threads.len() > busy {
                    registry.threads.retain(|t| !t.is_finished());
                }
                registry.threads.push(thread);
            }
            Err(e) => {
                self.state.open.fetch_sub(1, Ordering::AcqRel);
                log::error!("{} refused: cannot start a thread: {}", peer, e);
                let stream = slot.lock().ok().and_then(|mut s| s.take());
                if let Some(stream) = stream {
                    self.refuse(stream, 503, "server cannot start a thread");
                }
            }
        }
    }

    /// Graceful shutdown: Close 1001 to every open connection, 503 to new
    /// ones, force-close what is left at the deadline, then join.
    fn drain(&self) -> Result<()> {
        let deadline = Instant::now() + self.config.close_timeout;
        let accepting = match self.listener.set_nonblocking(true) {
            Ok(()) => true,
            Err(e) => {
                log::warn!("cannot answer newcomers with 503 during shutdown: {}", e);
                false
            }
        };
        log::info!(
            "shutting down: closing {} connections",
            self.state.open.load(Ordering::Acquire)
        );
        // Connections whose 1001 went out (or which ended); the rest are
        // retried each tick, because a connection busy writing must not hold
        // up the others.
        let mut closed: HashSet<u64> = HashSet::new();
        let mut cut: HashSet<u64> = HashSet::new();
        loop {
            if accepting {
                while let Ok((stream, _)) = self.listener.accept() {
                    self.refuse(stream, 503, "server is shutting down");
                }
            }
            if self.state.open.load(Ordering::Acquire) == 0 {
                break;
            }
            let past_deadline = Instant::now() >= deadline;
            // Act outside the registry lock: the lock is only for bookkeeping.
            let live: Vec<(u64, Arc<Writer>, bool)> = self
                .state
                .lock()
                .live
                .iter()
                .map(|(id, (s, up))| (*id, Arc::clone(s), *up))
                .collect();
            for (id, shared, upgraded) in &live {
                if past_deadline {
                    if cut.insert(*id) {
                        shared.shutdown_stream();
                    }
                } else if *upgraded && !closed.contains(id) {
                    if let Some(result) =
                        shared.try_send_close(CloseCode::GOING_AWAY, "server shutting down")
                    {
                        if let Err(e) = result {
                            log::debug!("no 1001 sent: {}", e);
                        }
                        closed.insert(*id);
                    }
                }
            }
            // Woken when a connection ends; the timeout keeps 503s flowing.
            let registry = self.state.lock();
            if self.state.open.load(Ordering::Acquire) == 0 {
                break;
            }
            let _ = self.state.changed.wait_timeout(registry, DRAIN_TICK);
        }
        // Spare threads see the shutdown and end.
        drop(self.state.spares());
        self.state.spare_ready.notify_all();
        let threads = std::mem::take(&mut self.state.lock().threads);
        for thread in threads {
            let _ = thread.join();
        }
        log::info!("server stopped");
        Ok(())
    }
}

const MIN_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
const DRAIN_TICK: Duration = Duration::from_millis(20);
/// How long a spare thread waits for a connection before it ends.
const SPARE_WAIT: Duration = Duration::from_secs(30);

impl ServerHandle {
    /// Starts graceful shutdown and returns at once: the server stops
    /// accepting, sends Close 1001 to every connection, answers newcomers
    /// with 503, waits up to [`Config::close_timeout`] for the close
    /// handshakes, cuts what is left, joins every connection thread, and
    /// then [`Server::serve`] returns. Safe to call from a handler.
    pub fn shutdown(&self) {
        if !self.state.shutting_down.swap(true, Ordering::AcqRel) {
            // Wake the blocking accept(); the connection is refused at once.
            let _ = TcpStream::connect_timeout(&self.state.wake_addr, Duration::from_secs(1));
        }
    }

    /// Whether shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.state.is_shutting_down()
    }

    /// Connections open now, including those still in their handshake.
    pub fn connections(&self) -> usize {
        self.state.open.load(Ordering::Acquire)
    }
}

/// Answers 503 (or another refusal) without ever blocking the accept loop:
/// the socket is non-blocking and the answer fits any send buffer.
fn refuse(mut stream: TcpStream, status: u16, reason: &'static str) {
    let _ = stream.set_nonblocking(true);
    // Read what has arrived, so closing does not reset the connection
    // before the client reads the answer.
    let mut sink = [0u8; 1024];
    for _ in 0..8 {
        match stream.read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    let mut out = Vec::with_capacity(160);
    write_refusal(&mut out, &HandshakeError::new(status, reason));
    let _ = stream.write_all(&out);
    let _ = stream.shutdown(Shutdown::Write);
}

/// One connection thread's work.
struct Connection {
    slot: Arc<Mutex<Option<TcpStream>>>,
    peer: SocketAddr,
    config: Arc<Config>,
    hook: Option<Arc<Hook>>,
    tls: Option<TlsConfig>,
    handler: Arc<Handler>,
    state: Arc<State>,
}

/// Ends the connection's bookkeeping however the thread ends.
struct Registration {
    state: Arc<State>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut registry = self.state.lock();
        registry.live.remove(&self.id);
        if registry.answered.remove(&self.id) {
            self.state.answered.fetch_sub(1, Ordering::AcqRel);
        }
        self.state.open.fetch_sub(1, Ordering::AcqRel);
        drop(registry);
        // Only the drain waits on it; a wake-up is a system call.
        if self.state.is_shutting_down() {
            self.state.changed.notify_all();
        }
    }
}

impl Connection {
    fn run(self) {
        let stream = match self.slot.lock().ok().and_then(|mut s| s.take()) {
            Some(stream) => stream,
            None => return,
        };
        let writer = Writer::new(Role::Server);
        // Counted from here (its drop ends the count however the thread
        // ends), listed for cutting only once the socket can be cut.
        let registration = {
            let mut registry = self.state.lock();
            let id = registry.next_id;
            registry.next_id += 1;
            Registration {
                state: Arc::clone(&self.state),
                id,
            }
        };
        let peer = self.peer;
        // One deadline for the TLS handshake and the HTTP request.
        let deadline = Instant::now()
            .checked_add(self.config.handshake_timeout)
            .unwrap_or_else(Instant::now);
        // Low latency for small frames: each frame is one write.
        if let Err(e) = stream.set_nodelay(true) {
            log::warn!("{} refused: cannot set up socket: {}", peer, e);
            match &self.tls {
                Some(tls) => tls.refuse(stream),
                None => refuse(stream, 503, "server is out of resources"),
            }
            return;
        }
        let socket = match &self.tls {
            Some(tls) => match Socket::tls_server(stream, tls) {
                Ok(socket) => socket,
                Err(e) => {
                    log::warn!("{} refused: {}", peer, e);
                    return;
                }
            },
            None => Socket::from(stream),
        };
        // Shared from the start, so that shutdown can cut a connection in
        // any state, its TLS handshake included, without a second file
        // descriptor.
        let stream = Io::new(socket);
        if let Some(handle) = stream.share() {
            writer.split(handle);
        }
        // Listed only now that the socket can be cut: a handshake chosen to
        // make room, or cut at shutdown's deadline, is always really cut.
        self.state
            .lock()
            .live
            .insert(registration.id, (Arc::clone(&writer), false));
        let ws = match self.open(stream, writer, registration.id, deadline) {
            Some(ws) => ws,
            None => return,
        };
        self.converse(ws, registration);
    }

    /// The opening handshake, and the connection built into its box.
    /// Stack depth: DESIGN.md, "Memory".
    #[inline(never)]
    fn open(
        &self,
        mut stream: Io<Socket>,
        writer: Arc<Writer>,
        id: u64,
        deadline: Instant,
    ) -> Option<Box<WebSocket>> {
        let peer = self.peer;
        if let Err(e) = stream.0.tls_handshake(deadline) {
            match e {
                Error::Handshake(h) => {
                    log::info!("{} refused: {} {}", peer, h.status(), h.reason())
                }
                // The TLS library's reason is the I/O error's message.
                Error::Io(e) => log::info!("{} tls handshake failed: {}", peer, e),
                e => log::info!("{} tls handshake failed: {}", peer, e),
            }
            return None;
        }
        // Leaves the handshake budget before the 101 goes out, so that a
        // connection already answered is never cut to make room.
        let accepted = || {
            if self.state.lock().answered.insert(id) {
                self.state.answered.fetch_add(1, Ordering::AcqRel);
            }
        };
        match handshake::handshake_until(
            &mut stream,
            &self.config,
            self.hook.as_deref(),
            Some(peer),
            &accepted,
            deadline,
            self.state.host_name.as_deref(),
        ) {
            Ok(Outcome::Open(agreed)) => Some(WebSocket::boxed(
                stream,
                &self.config,
                {
                    writer.set_deflate(agreed.deflate, &self.config);
                    writer
                },
                Some(agreed.request),
                agreed.subprotocol,
                &agreed.rest,
            )),
            Ok(Outcome::Answered(req, status)) => {
                log::info!(
                    "{} {} {} -> {}",
                    handshake::who(&req),
                    req.method(),
                    req.logged_target(),
                    status
                );
                None
            }
            // Logged by the handshake, with what it compared.
            Err(Error::Handshake(_)) | Err(Error::Timeout(_)) => None,
            Err(e) => {
                log::info!("{} handshake failed: {}", peer, e);
                None
            }
        }
    }

    /// The upgraded connection's life: the handler, then the log line.
    /// Stack depth: DESIGN.md, "Memory".
    #[inline(never)]
    fn converse(&self, ws: Box<WebSocket>, registration: Registration) {
        let peer = self.peer;
        let shared = Arc::clone(ws.writer());
        let late = {
            let mut registry = self.state.lock();
            if let Some(entry) = registry.live.get_mut(&registration.id) {
                entry.1 = true;
            }
            // Decided under the lock the drain also takes, so none is missed.
            self.state.is_shutting_down()
        };
        if late {
            // Upgraded after the drain looked: close it here.
            let _ = shared.send_close(None, CloseCode::GOING_AWAY, "server shutting down");
        }
        // For the log lines, kept whatever the level is now: it may be
        // raised while the connection is open. `who` costs no heap.
        let path = ws
            .request()
            .map_or_else(String::new, |r| r.path().to_owned());
        let who = ws
            .request()
            .map_or_else(|| handshake::Who::peer(peer), handshake::who);
        log_connected(&who, &path);
        let started = Instant::now();
        let handler = &self.handler;
        // Unboxed only for the handler. Stack depth: DESIGN.md, "Memory".
        if let Err(panic) = panic::catch_unwind(AssertUnwindSafe(move || handler(*ws))) {
            log_panic(&who, &*panic);
        }
        ended(&who, &path, &shared, started);
        drop(registration);
    }
}

// The log lines around a handler live in functions of their own. Stack
// depth: DESIGN.md, "Memory".

#[inline(never)]
fn log_connected(peer: &handshake::Who, path: &str) {
    log::info!("{} connected {}", peer, path);
}

#[inline(never)]
fn log_panic(peer: &handshake::Who, panic: &(dyn std::any::Any + Send)) {
    let what = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    log::error!("{} handler panicked: {}; closed with 1011", peer, what);
}

/// Ends the connection if the handler let it escape, and logs how it ended.
#[inline(never)]
fn ended(peer: &handshake::Who, path: &str, shared: &Writer, started: Instant) {
    if !shared.is_finished() {
        // The handler moved the connection elsewhere and returned: the
        // connection ends with its handler, so that the connection cap,
        // shutdown and the logs stay true.
        log::warn!(
            "{} handler returned with the connection still open; closing it",
            peer
        );
        shared.shutdown_stream();
    }
    let ending = shared.ending();
    let (by, code, error) = match &ending {
        Some(e) => (
            e.by.describe(Role::Server),
            e.code.map(|c| c.0),
            e.error.as_deref(),
        ),
        None => ("handler", None, None),
    };
    log::info!(
        "{} disconnected {} code={} by={} after={:.1?}{}{}",
        peer,
        path,
        code.map_or_else(|| "none".to_owned(), |c| c.to_string()),
        by,
        started.elapsed(),
        if error.is_some() { " error=" } else { "" },
        error.unwrap_or("")
    );
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.listener.local_addr().ok())
            .field("hook", &self.hook.is_some())
            .field("config", &self.config)
            .finish()
    }
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("connections", &self.connections())
            .field("shutting_down", &self.is_shutting_down())
            .finish()
    }
}
