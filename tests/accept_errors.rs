//! Accept errors (issue 3, item 4): when the process runs out of file
//! descriptors, the accept loop logs the error and backs off instead of
//! spinning, and serves clients again once descriptors are free.
//!
//! Alone in its binary, because it lowers the whole process's descriptor
//! limit, with the `prlimit` tool from util-linux so no `unsafe` is needed.

#![cfg(target_os = "linux")]

mod support;

use std::fs::File;
use std::io::Read;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use log::{Level, LevelFilter, Log, Metadata, Record};
use support::{upgrade_request, wait_until, Client, TestServer};
use tinyws::Config;

static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static CHANGED: Condvar = Condvar::new();
static RELEASED: AtomicBool = AtomicBool::new(false);

/// Records warnings. A connection thread that could not set up its socket
/// is held inside its warning until the test releases it, so it keeps its
/// descriptor and the accept loop stays starved meanwhile.
struct Capture;

impl Log for Capture {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= Level::Warn
    }
    fn log(&self, record: &Record<'_>) {
        if record.level() > Level::Warn {
            return;
        }
        let line = record.args().to_string();
        let hold = line.contains("cannot set up socket");
        let mut warnings = WARNINGS.lock().unwrap();
        warnings.push(line);
        CHANGED.notify_all();
        if hold {
            let _ = CHANGED
                .wait_timeout_while(warnings, support::TIMEOUT, |_| {
                    !RELEASED.load(Ordering::Acquire)
                })
                .unwrap();
        }
    }
    fn flush(&self) {}
}

static LOGGER: Capture = Capture;

fn accept_failures() -> usize {
    WARNINGS
        .lock()
        .unwrap()
        .iter()
        .filter(|w| w.contains("accept failed"))
        .count()
}

/// Sets this process's soft limit on open files; false if `prlimit` is
/// missing.
fn set_soft_nofile(limit: u64) -> bool {
    Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={}:", limit))
        .status()
        .map_or(false, |s| s.success())
}

fn soft_nofile() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

#[test]
fn out_of_descriptors_is_logged_backed_off_and_survived() {
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(LevelFilter::Warn);
    let normal = soft_nofile();
    if !set_soft_nofile(normal) {
        eprintln!("prlimit is not available; skipping");
        return;
    }
    let server = TestServer::echo(Config::default());
    // Descriptors to give back before raising the limit again, so that
    // running prlimit cannot itself fail for want of one.
    let spare: Vec<File> = (0..8).map(|_| File::open("/dev/null").unwrap()).collect();
    assert!(set_soft_nofile(open_fds() + 16));
    let mut filler = Vec::new();
    while let Ok(f) = File::open("/dev/null") {
        filler.push(f);
    }
    assert!(!filler.is_empty());
    // One descriptor for the client; then none is left for the server.
    filler.pop();
    let mut starved = Client::connect(server.addr);
    starved.send(upgrade_request("/").as_bytes());
    wait_until("accept() fails", || accept_failures() >= 1);
    // Time passing is the point: the accept loop keeps failing meanwhile.
    std::thread::sleep(Duration::from_millis(400));
    let failures = accept_failures();
    assert!(failures >= 2, "accept() was not retried");
    // A loop without back-off would fail thousands of times in 400 ms.
    assert!(
        failures <= 50,
        "accept() retried {} times: no back-off",
        failures
    );

    drop(filler);
    drop(spare);
    assert!(set_soft_nofile(normal));
    RELEASED.store(true, Ordering::Release);
    CHANGED.notify_all();
    // The starved client is either served late or dropped, never left
    // hanging...
    let mut head = [0u8; 12];
    let n = starved.stream.read(&mut head).unwrap_or(0);
    assert!(n == 0 || head.starts_with(b"HTTP/1.1 "), "{:?}", &head[..n]);
    // ...and the server serves again.
    let mut c = Client::open(server.addr);
    c.send_text("survived");
    assert_eq!(c.read_frame().payload, b"survived");
}
