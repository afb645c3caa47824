//! Runs the real `tinyws` binary and talks to it with a small raw WebSocket
//! client. Every socket and every wait has a time limit, so a bug fails the
//! test instead of hanging it; the binary's address is read from its first
//! stderr line, so no test sleeps waiting for start-up.

#![allow(dead_code)] // each test file uses a different part of this module

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long anything may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A running `tinyws`, stopped and reaped on drop.
pub struct Tinyws {
    pub child: Child,
    pub addr: SocketAddr,
    pub stdin: Option<ChildStdin>,
    /// Every stderr line so far, for assertions and failure messages.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Tinyws {
    /// Starts `tinyws ARGS` (ARGS should hold `--addr 127.0.0.1:0`) and
    /// waits for it to print the address it listens on.
    pub fn start(args: &[&str]) -> Tinyws {
        Tinyws::start_with(args, &[])
    }

    /// As [`start`](Self::start), with extra environment variables.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Tinyws {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tinyws"))
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "debug")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tinyws");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let lines = Arc::clone(&log);
        // Drains stderr for the whole run, so tinyws never blocks on a log line.
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let line = match line {
                    Ok(line) => line,
                    Err(_) => break,
                };
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = tx.send(rest.trim().to_owned());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(TIMEOUT) {
            Ok(addr) => addr.parse().expect("address"),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tinyws did not start: {:?}", log.lock().unwrap());
            }
        };
        let stdin = child.stdin.take();
        Tinyws {
            child,
            addr,
            stdin,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, signal).expect("signal tinyws");
    }

    /// Waits for tinyws to exit by itself.
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "tinyws did not exit: {:?}",
                self.log()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn connect(&self, path: &str) -> Client {
        Client::connect(self.addr, path, &[])
    }

    /// The children of the tinyws process, live or zombie.
    pub fn children(&self) -> Vec<u32> {
        children_of(self.pid())
    }
}

impl Drop for Tinyws {
    /// SIGTERM first, so tinyws stops and reaps its own processes; SIGKILL
    /// only if it does not exit in time.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let pid = rustix::process::Pid::from_child(&self.child);
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::Term);
            let deadline = Instant::now() + TIMEOUT;
            while let Ok(None) = self.child.try_wait() {
                if Instant::now() >= deadline {
                    let _ = self.child.kill();
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.wait();
    }
}

/// The processes whose parent is `pid`, zombies included, from /proc.
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let stat = match std::fs::read_to_string(entry.path().join("stat")) {
            Ok(stat) => stat,
            Err(_) => continue,
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let after = match stat.rfind(')') {
            Some(i) => &stat[i + 1..],
            None => continue,
        };
        let ppid = after.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        if ppid == Some(pid) {
            found.extend(stat.split(' ').next().and_then(|p| p.parse::<u32>().ok()));
        }
    }
    found
}

/// Whether `pid` still exists, as a live process or as a zombie.
pub fn exists(pid: u32) -> bool {
    PathBuf::from(format!("/proc/{}", pid)).exists()
}

/// Polls `condition` until it holds, failing the test after [`TIMEOUT`].
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {}", what);
        thread::sleep(Duration::from_millis(10));
    }
}

/// One frame as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// A minimal WebSocket client: masked frames out, unfragmented frames in.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    /// Connects, sends the upgrade request with `extra` header lines, and
    /// checks for 101.
    pub fn connect(addr: SocketAddr, path: &str, extra: &[&str]) -> Client {
        let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        let mut request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
            path, addr
        );
        for line in extra {
            request.push_str(line);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut client = Client {
            stream,
            buf: Vec::new(),
        };
        let head = client.read_head();
        assert!(
            head.starts_with("HTTP/1.1 101"),
            "upgrade refused: {}",
            head
        );
        assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{}", head);
        client
    }

    fn read_head(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 4);
                return head;
            }
            self.fill();
        }
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).expect("read (timed out?)");
        assert!(n > 0, "connection closed by the server");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            self.fill();
        }
        self.buf.drain(..n).collect()
    }

    /// The next frame from the server.
    pub fn read_frame(&mut self) -> Frame {
        let head = self.take(2);
        assert_eq!(head[0] & 0x80, 0x80, "fragmented frames are not expected");
        assert_eq!(head[1] & 0x80, 0, "server frames are never masked");
        let len = match head[1] & 0x7f {
            126 => u16::from_be_bytes(self.take(2).try_into().unwrap()) as usize,
            127 => u64::from_be_bytes(self.take(8).try_into().unwrap()) as usize,
            n => n as usize,
        };
        Frame {
            opcode: head[0] & 0x0f,
            payload: self.take(len),
        }
    }

    /// The next data frame, skipping pings and pongs.
    pub fn read_data(&mut self) -> Frame {
        loop {
            let frame = self.read_frame();
            match frame.opcode {
                0x9 | 0xA => continue,
                0x8 => panic!("closed instead: {:?}", close_code(&frame.payload)),
                _ => return frame,
            }
        }
    }

    /// The next text message.
    pub fn read_text(&mut self) -> String {
        let frame = self.read_data();
        assert_eq!(frame.opcode, 0x1, "expected text, got {:?}", frame);
        String::from_utf8(frame.payload).unwrap()
    }

    /// Reads until the server's Close, answers it, and returns its code.
    pub fn read_close(&mut self) -> Option<u16> {
        loop {
            let frame = self.read_frame();
            if frame.opcode == 0x8 {
                let code = close_code(&frame.payload);
                let _ = self.send(0x8, &frame.payload[..frame.payload.len().min(2)]);
                return code;
            }
        }
    }

    pub fn send(&mut self, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&out)
    }

    pub fn send_text(&mut self, text: &str) {
        self.send(0x1, text.as_bytes()).expect("send");
    }

    /// Starts the close handshake with 1000 and waits for the reply.
    pub fn close(&mut self) -> Option<u16> {
        self.send(0x8, &1000u16.to_be_bytes()).expect("send close");
        loop {
            let frame = self.read_frame();
            if frame.opcode == 0x8 {
                return close_code(&frame.payload);
            }
        }
    }
}

pub fn close_code(payload: &[u8]) -> Option<u16> {
    if payload.len() >= 2 {
        Some(u16::from_be_bytes([payload[0], payload[1]]))
    } else {
        None
    }
}

/// A plain HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            if n.trim().eq_ignore_ascii_case(name) {
                Some(v.trim())
            } else {
                None
            }
        })
    }
}

/// Sends `GET target` as written (no normalisation) and reads the reply.
pub fn http_get(addr: SocketAddr, target: &str) -> Reply {
    http_request(addr, "GET", target, &[])
}

/// Sends `METHOD target` with `extra` header lines and reads the reply.
pub fn http_request(addr: SocketAddr, method: &str, target: &str, extra: &[&str]) -> Reply {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut request = format!("{} {} HTTP/1.1\r\nHost: {}\r\n", method, target, addr);
    for line in extra {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut all = Vec::new();
    stream.read_to_end(&mut all).expect("read reply");
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8_lossy(&all[..end]).into_owned();
    let status = head[9..12].parse().unwrap();
    Reply {
        status,
        head,
        body: all[end + 4..].to_vec(),
    }
}

/// A field of `/proc/PID/status` in kB, such as `VmRSS`.
pub fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid)).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {} in /proc/{}/status", field, pid))
}

/// A counter of `/proc/PID/io`, such as `rchar` (bytes read by any read call).
pub fn proc_io(pid: u32, field: &str) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{}/io", pid)).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {} in /proc/{}/io", field, pid))
}

/// The names of the threads of `pid`.
pub fn thread_names(pid: u32) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", pid)) {
        for task in tasks.flatten() {
            if let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) {
                names.push(comm.trim().to_owned());
            }
        }
    }
    names
}

/// How many file descriptors `pid` has open.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", pid))
        .unwrap()
        .count()
}
