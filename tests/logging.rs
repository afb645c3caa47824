//! Observability (issue 3, item 9): connect and disconnect at info with the
//! peer, path, close code, who closed and the duration; protocol errors at
//! debug with the reason; frames at trace.

mod support;

use std::sync::{Mutex, Once};

use log::{Level, LevelFilter, Log, Metadata, Record};
use support::{frame_with, wait_until, Client, TestServer};
use tinyws::Config;

struct Capture;

static LINES: Mutex<Vec<(Level, String)>> = Mutex::new(Vec::new());
static LOGGER: Capture = Capture;

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &Record<'_>) {
        if record.target().starts_with("tinyws") {
            let line = record.args().to_string();
            LINES.lock().unwrap().push((record.level(), line));
        }
    }
    fn flush(&self) {}
}

fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&LOGGER).unwrap();
        log::set_max_level(LevelFilter::Trace);
    });
}

/// Lines at `level` that contain every one of `parts`.
fn lines(level: Level, parts: &[&str]) -> Vec<String> {
    LINES
        .lock()
        .unwrap()
        .iter()
        .filter(|(l, line)| *l == level && parts.iter().all(|p| line.contains(p)))
        .map(|(_, line)| line.clone())
        .collect()
}

#[test]
fn connect_and_disconnect_are_logged_at_info() {
    install();
    let server = TestServer::echo(Config::default());
    let mut c = Client::connect(server.addr);
    c.send(support::upgrade_request("/feed?x=1").as_bytes());
    assert_eq!(c.read_response().status, 101);
    let peer = c.stream.local_addr().unwrap().to_string();
    c.send_frame(true, 8, &4321u16.to_be_bytes());
    c.expect_close(4321);
    drop(c);
    wait_until("the disconnect is logged", || {
        !lines(Level::Info, &[&peer, "disconnected"]).is_empty()
    });
    assert_eq!(
        lines(Level::Info, &[&format!("{} connected /feed", peer)]).len(),
        1,
        "no connect line"
    );
    let bye = lines(Level::Info, &[&peer, "disconnected"]).remove(0);
    for part in ["/feed", "4321", "peer", "after"] {
        assert!(bye.contains(part), "{:?} lacks {:?}", bye, part);
    }
}

#[test]
fn protocol_errors_at_debug_and_frames_at_trace() {
    install();
    let server = TestServer::echo(Config::default());
    let mut c = Client::open(server.addr);
    let peer = c.stream.local_addr().unwrap().to_string();
    c.send_text("traced");
    assert_eq!(c.read_frame().payload, b"traced");
    c.send(&frame_with(true, 2, b"naked", None));
    c.expect_close(1002);
    drop(c);
    wait_until("the disconnect is logged", || {
        !lines(Level::Info, &[&peer, "disconnected"]).is_empty()
    });
    assert!(!lines(Level::Debug, &["1002", "unmasked"]).is_empty());
    assert!(!lines(Level::Trace, &["Text"]).is_empty(), "no frame trace");
    let bye = lines(Level::Info, &[&peer, "disconnected"]).remove(0);
    assert!(bye.contains("1002"), "{:?}", bye);
}

/// A query often carries a token: refusals log the path and `?…`, never
/// the query itself.
#[test]
fn refusals_do_not_log_the_query() {
    install();
    let server = TestServer::echo(Config::default());
    let request = support::upgrade_request("/publish?token=s3cr3t-token")
        .replace("Host: localhost", "Host: rebinding.example");
    let (_c, r) = Client::request(server.addr, &request);
    assert_eq!(r.status, 421);
    wait_until("the refusal is logged", || {
        !lines(Level::Info, &["/publish?…", "421"]).is_empty()
    });
    let all = LINES.lock().unwrap();
    assert!(
        all.iter().all(|(_, line)| !line.contains("s3cr3t")),
        "a token reached the log"
    );
}
