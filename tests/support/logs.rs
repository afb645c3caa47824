//! Captures tinyws's log lines, for tests that check what is logged.

use std::sync::{Mutex, Once};

use log::{Level, LevelFilter, Log, Metadata, Record};

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

/// Every test that reads the log calls this first, before any server
/// starts. Captures every level.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&LOGGER).unwrap();
        log::set_max_level(LevelFilter::Trace);
    });
}

/// Lines at `level` that contain every one of `parts`.
pub fn lines(level: Level, parts: &[&str]) -> Vec<String> {
    LINES
        .lock()
        .unwrap()
        .iter()
        .filter(|(l, line)| *l == level && parts.iter().all(|p| line.contains(p)))
        .map(|(_, line)| line.clone())
        .collect()
}

/// Whether any line, at any level, contains `part`.
pub fn any_contains(part: &str) -> bool {
    LINES
        .lock()
        .unwrap()
        .iter()
        .any(|(_, line)| line.contains(part))
}
