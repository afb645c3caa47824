//! `tinyws connect`: stdin to messages and messages to stdout, exit codes,
//! `-- CMD`, and `--reconnect` through a relay restart. The other ends are
//! the real tinyws binary and the library's client.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{Tinyws, TIMEOUT};
use rustix::process::Signal;
use tinyws::{Message, WebSocket};

const TOKEN: &str = "s3cret-token_0123456789";

/// A running `tinyws connect`, its stdout lines delivered on a channel.
struct Connect {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Connect {
    fn start(args: &[&str]) -> Connect {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tinyws"))
            .arg("connect")
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tinyws connect");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(line) => {
                        let _ = tx.send(line);
                    }
                    Err(_) => break,
                }
            }
        });
        let stdin = child.stdin.take();
        Connect {
            child,
            stdin,
            lines,
        }
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(TIMEOUT)
            .expect("a line from tinyws connect")
    }

    fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{}", line).unwrap();
        stdin.flush().unwrap();
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "tinyws connect did not exit");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Connect {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn echo() -> Tinyws {
    Tinyws::start(&["echo", "--addr", "127.0.0.1:0"])
}

/// Long enough for a reconnect that met the old relay's 503 (Retry-After 5
/// plus jitter) while it shut down.
const RECONNECT: Duration = Duration::from_secs(30);

fn read(ws: &mut WebSocket) -> Message {
    loop {
        match ws.read_timeout(RECONNECT) {
            Ok(Some(m)) if m.is_data() => return m,
            Ok(Some(_)) => {}
            Ok(None) => panic!("no message in time"),
            Err(e) => panic!("read: {}", e),
        }
    }
}

#[test]
fn stdin_lines_are_echoed_and_the_end_of_stdin_closes_cleanly() {
    let server = echo();
    let mut c = Connect::start(&[&format!("ws://{}/", server.addr)]);
    c.send_line("a");
    c.send_line("b");
    drop(c.stdin.take());
    assert_eq!(c.line(), "a");
    assert_eq!(c.line(), "b");
    assert_eq!(c.wait().code(), Some(0));
}

/// The tool offers permessage-deflate by default (the server logs the
/// agreement at debug) and `--no-deflate` takes the offer away; a line long
/// enough to be compressed comes back whole either way.
#[test]
fn deflate_is_offered_unless_no_deflate() {
    let long = "reading ".repeat(64);
    for (args, agreed) in [(&[][..], true), (&["--no-deflate"][..], false)] {
        let server = echo();
        let url = format!("ws://{}/", server.addr);
        let mut all = args.to_vec();
        all.push(&url);
        let mut c = Connect::start(&all);
        c.send_line(&long);
        drop(c.stdin.take());
        assert_eq!(c.line(), long);
        assert_eq!(c.wait().code(), Some(0));
        let said = server
            .log()
            .iter()
            .any(|l| l.contains("agreed to permessage-deflate"));
        assert_eq!(said, agreed, "{:?}: {:?}", args, server.log());
    }
}

#[test]
fn exit_codes_tell_failures_apart() {
    let server = echo();
    let free = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let cases = [
        (vec![format!("ws://{}/", free)], 3),
        (
            vec![
                "--origin".to_owned(),
                "http://elsewhere.example".to_owned(),
                format!("ws://{}/", server.addr),
            ],
            4,
        ),
        (vec!["http://example.com/".to_owned()], 2),
        (vec!["--bogus".to_owned()], 2),
    ];
    for (args, code) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut c = Connect::start(&args);
        drop(c.stdin.take());
        assert_eq!(c.wait().code(), Some(code), "{:?}", args);
    }
}

#[test]
fn closed_by_the_server_exits_5() {
    let mut server = Tinyws::start(&["broadcast", "--addr", "127.0.0.1:0"]);
    let mut c = Connect::start(&[&format!("ws://{}/", server.addr)]);
    let mut source = server.stdin.take().unwrap();
    // Once the client is subscribed, a line reaches it; then the end of the
    // broadcast's stdin closes every client with 1001.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        writeln!(source, "ping").unwrap();
        if let Ok(line) = c.lines.recv_timeout(Duration::from_millis(100)) {
            assert_eq!(line, "ping");
            break;
        }
        assert!(Instant::now() < deadline, "no line reached the client");
    }
    drop(source);
    assert_eq!(c.wait().code(), Some(5));
    assert_eq!(server.wait().code(), Some(0));
}

#[test]
fn a_command_takes_the_place_of_stdin_and_stdout() {
    let server = echo();
    let out = std::env::temp_dir().join(format!("tinyws-connect-cmd-{}", std::process::id()));
    let script = format!(
        "echo one; echo two; read a; read b; echo \"$a $b\" > {}; exit 3",
        out.display()
    );
    let mut c = Connect::start(&[&format!("ws://{}/", server.addr), "--", "sh", "-c", &script]);
    // CMD's exit ends the input: Close, the server's Close, and CMD's status.
    assert_eq!(c.wait().code(), Some(3));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "one two\n");
    let _ = std::fs::remove_file(out);
}

#[test]
fn a_pi_pushes_through_a_relay_that_restarts() {
    let relay_args = |addr: &str| {
        vec![
            "broadcast".to_owned(),
            "--addr".to_owned(),
            addr.to_owned(),
            "--replay".to_owned(),
            "10".to_owned(),
            "--publish".to_owned(),
            "/publish".to_owned(),
            "--publish-token".to_owned(),
            TOKEN.to_owned(),
        ]
    };
    let start = |addr: &str| {
        let args = relay_args(addr);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Tinyws::start(&args)
    };
    let relay = start("127.0.0.1:0");
    let addr = relay.addr;
    let mut pi = Connect::start(&[
        "--log-level",
        "debug",
        "--reconnect",
        &format!("ws://{}/publish?token={}", addr, TOKEN),
    ]);
    let mut viewer = tinyws::connect(&format!("ws://{}/", addr)).unwrap();
    pi.send_line("21.5");
    assert_eq!(read(&mut viewer), Message::Text("21.5".into()));
    // The relay restarts on the same port (its 1001 reaches the Pi first);
    // the Pi reconnects by itself, and readings taken before it has are
    // queued and delivered.
    relay.signal(Signal::Term);
    drop(relay);
    let relay = start(&addr.to_string());
    pi.send_line("21.7");
    pi.send_line("21.9");
    let mut viewer = tinyws::connect(&format!("ws://{}/", addr)).unwrap();
    assert_eq!(read(&mut viewer), Message::Text("21.7".into()));
    assert_eq!(read(&mut viewer), Message::Text("21.9".into()));
    // The end of the Pi's input closes cleanly.
    drop(pi.stdin.take());
    assert_eq!(pi.wait().code(), Some(0));
    drop(relay);
}
