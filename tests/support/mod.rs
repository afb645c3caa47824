//! A raw-bytes WebSocket client and server helpers for integration tests.
//!
//! Every test socket has a read timeout, so a bug fails fast instead of
//! hanging; servers bind port 0 before their thread starts, so no test
//! sleeps waiting for start-up.

#![allow(dead_code)] // each test file uses a different part of this module

pub mod logs;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{mpsc, Arc, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tinyws::{Config, Server, ServerHandle, WebSocket};

pub mod raw_server;

/// How long any test socket waits before failing the test.
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

pub fn init_log() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = env_logger::builder().is_test(true).try_init();
    });
}

/// A server running on its own thread, shut down and joined on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    thread: Option<JoinHandle<tinyws::Result<()>>>,
}

impl TestServer {
    /// Starts `server` with `handler`.
    pub fn start<F>(server: Server, handler: F) -> TestServer
    where
        F: Fn(WebSocket) + Send + Sync + 'static,
    {
        init_log();
        let addr = server.local_addr().unwrap();
        let handle = server.handle();
        let thread = std::thread::spawn(move || server.serve(handler));
        TestServer {
            addr,
            handle,
            thread: Some(thread),
        }
    }

    /// An echo server with this config.
    pub fn echo(config: Config) -> TestServer {
        let server = Server::bind("127.0.0.1:0", &config).unwrap();
        TestServer::start(server, echo_handler)
    }

    /// Shuts down and waits for `serve` to return.
    pub fn stop(mut self) -> tinyws::Result<()> {
        self.handle.shutdown();
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.handle.shutdown();
            let _ = thread.join();
        }
    }
}

pub fn echo_handler(mut ws: WebSocket) {
    while let Ok(msg) = ws.read() {
        if msg.is_data() && ws.send(msg).is_err() {
            break;
        }
    }
}

/// The upgrade request a well-behaved client sends.
pub fn upgrade_request(path: &str) -> String {
    format!(
        "GET {} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        path, KEY
    )
}

/// An upgrade request with `extra` header lines (each ending in `\r\n`)
/// added after the usual ones.
pub fn upgrade_request_with(path: &str, extra: &str) -> String {
    let base = upgrade_request(path);
    format!("{}{}\r\n", &base[..base.len() - 2], extra)
}

/// Polls `cond` until it holds, failing the test after [`TIMEOUT`]. For
/// waiting on something the server does after the client has seen the
/// last byte, such as a thread ending.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {}",
            what
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A channel whose sending half a `Fn + Sync` handler can use, for
/// reporting what happened on the server side.
pub fn report<T: Send + 'static>() -> (Reporter<T>, mpsc::Receiver<T>) {
    let (tx, rx) = mpsc::channel();
    (Reporter(Arc::new(Mutex::new(tx))), rx)
}

/// The sending half of [`report`].
pub struct Reporter<T>(Arc<Mutex<mpsc::Sender<T>>>);

impl<T> Clone for Reporter<T> {
    fn clone(&self) -> Self {
        Reporter(Arc::clone(&self.0))
    }
}

impl<T> Reporter<T> {
    pub fn send(&self, value: T) {
        let _ = self.0.lock().unwrap().send(value);
    }
}

/// Receives a report, failing the test after [`TIMEOUT`].
pub fn recv<T>(rx: &mpsc::Receiver<T>) -> T {
    rx.recv_timeout(TIMEOUT)
        .expect("the server side never reported")
}

/// A masked frame header announcing `len` payload bytes, for sending a
/// header without (all of) its payload.
pub fn frame_header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(&MASK);
    out
}

/// The mask every [`frame`] uses.
pub const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

/// A client frame: masked, with the given FIN, opcode and payload.
pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame_with(fin, opcode, payload, Some(MASK))
}

/// A frame with an optional mask (None makes an illegal unmasked frame).
pub fn frame_with(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xFFFF {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A frame read from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    /// RSV1, RSV2 and RSV3 where they sit in the first byte.
    pub rsv: u8,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The close code of a Close frame, if it has one.
    pub fn close_code(&self) -> Option<u16> {
        assert_eq!(self.opcode, 8, "not a close frame: {:?}", self);
        if self.payload.len() >= 2 {
            Some(u16::from_be_bytes([self.payload[0], self.payload[1]]))
        } else {
            None
        }
    }
}

/// An HTTP response read from the server.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            if n.trim().eq_ignore_ascii_case(name) {
                Some(v.trim())
            } else {
                None
            }
        })
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client that speaks raw bytes.
pub struct Client {
    pub stream: TcpStream,
    /// Bytes read past the last thing parsed.
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// Connects, sends `request` and reads the HTTP answer.
    pub fn request(addr: SocketAddr, request: &str) -> (Client, HttpResponse) {
        let mut c = Client::connect(addr);
        c.send(request.as_bytes());
        let r = c.read_response();
        (c, r)
    }

    /// Sets how long a read waits before failing the test.
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.stream.set_read_timeout(Some(timeout)).unwrap();
    }

    /// Connects and completes a good handshake.
    pub fn open(addr: SocketAddr) -> Client {
        let mut c = Client::connect(addr);
        c.send(upgrade_request("/").as_bytes());
        let r = c.read_response();
        assert_eq!(r.status, 101, "{}", r.head);
        assert_eq!(r.header("sec-websocket-accept"), Some(ACCEPT));
        c
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Like `send`, but a failure (the server already closed) is not fatal.
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    pub fn send_frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        self.send(&frame(fin, opcode, payload));
    }

    pub fn send_text(&mut self, text: &str) {
        self.send_frame(true, 1, text.as_bytes());
    }

    /// Reads more bytes into the buffer; false at end of stream.
    fn more(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
            Err(e) => panic!("read failed (timeout means the server hung): {}", e),
        }
    }

    fn need(&mut self, n: usize) {
        while self.buf.len() < n {
            assert!(
                self.more(),
                "connection closed with {} of {} bytes",
                self.buf.len(),
                n
            );
        }
    }

    /// Reads an HTTP response head and its Content-Length body.
    pub fn read_response(&mut self) -> HttpResponse {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(
                self.more(),
                "closed before a full response: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        };
        let head = String::from_utf8(self.buf[..end].to_vec()).unwrap();
        self.buf.drain(..end);
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut r = HttpResponse {
            status,
            head,
            body: Vec::new(),
        };
        let len: usize = r
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        self.need(len);
        r.body = self.buf.drain(..len).collect();
        r
    }

    /// Reads one server frame; server frames must be unmasked.
    pub fn read_frame(&mut self) -> Frame {
        self.try_read_frame()
            .expect("connection closed before a frame")
    }

    /// Reads one frame, or None if the stream ends cleanly first.
    pub fn try_read_frame(&mut self) -> Option<Frame> {
        while self.buf.len() < 2 {
            if !self.more() {
                assert!(self.buf.is_empty(), "stream ended inside a frame header");
                return None;
            }
        }
        assert_eq!(self.buf[1] & 0x80, 0, "server frames must not be masked");
        let (len, at) = match self.buf[1] & 0x7F {
            126 => {
                self.need(4);
                (u64::from(u16::from_be_bytes([self.buf[2], self.buf[3]])), 4)
            }
            127 => {
                self.need(10);
                let mut be = [0u8; 8];
                be.copy_from_slice(&self.buf[2..10]);
                (u64::from_be_bytes(be), 10)
            }
            n => (u64::from(n), 2),
        };
        let total = at + len as usize;
        self.need(total);
        let f = Frame {
            fin: self.buf[0] & 0x80 != 0,
            rsv: self.buf[0] & 0x70,
            opcode: self.buf[0] & 0x0F,
            payload: self.buf[at..total].to_vec(),
        };
        self.buf.drain(..total);
        Some(f)
    }

    /// Reads frames until a Close, skipping Pings and Pongs; returns it.
    pub fn read_close(&mut self) -> Frame {
        loop {
            let f = self.read_frame();
            match f.opcode {
                8 => return f,
                9 | 10 => {}
                _ => panic!("expected close, got {:?}", f),
            }
        }
    }

    /// Reads the next Text or Binary frame, answering Pings on the way.
    pub fn read_data(&mut self) -> Frame {
        loop {
            let f = self.read_frame();
            match f.opcode {
                9 => self.send_frame(true, 10, &f.payload),
                10 => {}
                _ => return f,
            }
        }
    }

    /// Reads a Close frame (skipping Pings and Pongs), checks its code, and
    /// checks the server then closes TCP.
    pub fn expect_close(&mut self, code: u16) {
        let f = self.read_close();
        assert_eq!(f.close_code(), Some(code), "close frame {:?}", f);
        self.expect_eof();
    }

    /// Asserts the server closes TCP (EOF or reset) with nothing more sent.
    pub fn expect_eof(&mut self) {
        assert!(self.buf.is_empty(), "unexpected bytes: {:?}", self.buf);
        assert!(!self.more(), "unexpected bytes after close: {:?}", self.buf);
    }

    /// Reads and returns everything until the server closes TCP.
    pub fn read_to_end(&mut self) -> Vec<u8> {
        while self.more() {}
        std::mem::take(&mut self.buf)
    }
}
