//! A server that speaks raw bytes, for testing tinyws's client: it answers
//! each connection with whatever the test scripts (a good 101, a bad one, a
//! refusal, nothing at all) and reads the client's frames with its own
//! decoder, so that client and server cannot share a symmetric bug.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use super::TIMEOUT;

/// Accepts `connections` connections on its own thread, one after the
/// other, and runs the script on each: `script(index, peer)`.
pub struct RawServer {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl RawServer {
    pub fn start<F>(connections: usize, script: F) -> RawServer
    where
        F: Fn(usize, Peer) + Send + 'static,
    {
        super::init_log();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        let thread = std::thread::spawn(move || {
            for i in 0..connections {
                let (stream, _) = match listener.accept() {
                    Ok(s) => s,
                    Err(_) => return,
                };
                count.fetch_add(1, Ordering::SeqCst);
                stream.set_read_timeout(Some(TIMEOUT)).unwrap();
                stream.set_write_timeout(Some(TIMEOUT)).unwrap();
                script(i, Peer::read_request(stream));
            }
        });
        RawServer {
            addr,
            accepted,
            thread: Some(thread),
        }
    }

    /// `ws://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits for the scripts to finish; a panic in one fails the test.
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            t.join().expect("a raw server script panicked");
        }
    }
}

/// One connection to the raw server, its request head already read.
pub struct Peer {
    pub stream: TcpStream,
    pub request: String,
    pub at: Instant,
    buf: Vec<u8>,
}

/// A frame from the client, unmasked, with the key it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFrame {
    pub fin: bool,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub payload: Vec<u8>,
}

impl Peer {
    fn read_request(stream: TcpStream) -> Peer {
        let mut peer = Peer {
            stream,
            request: String::new(),
            at: Instant::now(),
            buf: Vec::new(),
        };
        let end = loop {
            if let Some(i) = peer.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if !peer.more() {
                break peer.buf.len();
            }
        };
        peer.request = String::from_utf8_lossy(&peer.buf[..end]).into_owned();
        peer.buf.drain(..end);
        peer
    }

    fn more(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// A request header's value (names matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.request.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            if n.trim().eq_ignore_ascii_case(name) {
                Some(v.trim())
            } else {
                None
            }
        })
    }

    /// The request line: `GET /path HTTP/1.1`.
    pub fn request_line(&self) -> &str {
        self.request.lines().next().unwrap_or("")
    }

    /// The Sec-WebSocket-Accept that answers this request's key.
    pub fn accept(&self) -> String {
        tinyws::accept_key(self.header("sec-websocket-key").unwrap_or(""))
    }

    /// Writes raw bytes; a client that already left is not an error here.
    pub fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// A correct 101, with `extra` header lines (each ending in CRLF).
    pub fn accept_upgrade(&mut self, extra: &str) {
        let head = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n{}\r\n",
            self.accept(),
            extra
        );
        self.send(head.as_bytes());
    }

    /// A server frame: unmasked unless a key is given.
    pub fn send_frame(&mut self, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) {
        self.send(&super::frame_with(true, opcode, payload, mask));
    }

    /// The next frame from the client, or `None` when it closed TCP.
    pub fn read_frame(&mut self) -> Option<ClientFrame> {
        while self.buf.len() < 2 {
            if !self.more() {
                return None;
            }
        }
        let masked = self.buf[1] & 0x80 != 0;
        let (len, mut at) = match self.buf[1] & 0x7F {
            126 => {
                self.need(4)?;
                (
                    usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]])),
                    4,
                )
            }
            127 => {
                self.need(10)?;
                let mut be = [0u8; 8];
                be.copy_from_slice(&self.buf[2..10]);
                (u64::from_be_bytes(be) as usize, 10)
            }
            n => (usize::from(n), 2),
        };
        let mask = if masked {
            self.need(at + 4)?;
            let key = [
                self.buf[at],
                self.buf[at + 1],
                self.buf[at + 2],
                self.buf[at + 3],
            ];
            at += 4;
            Some(key)
        } else {
            None
        };
        self.need(at + len)?;
        let mut payload = self.buf[at..at + len].to_vec();
        if let Some(key) = mask {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        let frame = ClientFrame {
            fin: self.buf[0] & 0x80 != 0,
            opcode: self.buf[0] & 0x0F,
            mask,
            payload,
        };
        self.buf.drain(..at + len);
        Some(frame)
    }

    fn need(&mut self, n: usize) -> Option<()> {
        while self.buf.len() < n {
            if !self.more() {
                return None;
            }
        }
        Some(())
    }

    /// Reads frames until the client's Close and returns its code.
    pub fn read_close_code(&mut self) -> Option<u16> {
        loop {
            let f = self.read_frame()?;
            if f.opcode == 8 {
                return if f.payload.len() >= 2 {
                    Some(u16::from_be_bytes([f.payload[0], f.payload[1]]))
                } else {
                    None
                };
            }
        }
    }

    /// Whether the client closed TCP (read returns end of stream) before
    /// the test's timeout.
    pub fn client_closed_tcp(&mut self) -> bool {
        loop {
            let mut chunk = [0u8; 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// A listener that never accepts, its accept queue filled so that the
/// kernel drops further SYNs: connecting to it hangs until a timeout.
pub fn full_listener() -> (TcpListener, Vec<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..4096 {
        match TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200)) {
            Ok(s) => held.push(s),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) =>
            {
                return (listener, held)
            }
            Err(e) => panic!("filling the accept queue: {}", e),
        }
    }
    panic!("the accept queue never filled");
}
