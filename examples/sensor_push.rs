//! Pushes a sensor reading every second to a server elsewhere, and rides
//! out Wi-Fi drops and server restarts: readings taken while disconnected
//! wait in a small queue (the oldest dropped first) and go out on
//! reconnect.
//!
//! ```text
//! cargo run --example sensor_push 'ws://relay:8080/publish?token=SECRET'
//! ```

use std::time::Duration;
use std::{fs, thread};

use tinyws::Client;

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:8080/".to_owned());
    let client = Client::new(url);
    let handle = client.handle();
    thread::spawn(move || loop {
        let _ = handle.send(reading());
        thread::sleep(Duration::from_secs(1));
    });
    // Messages from the server are read (answering its pings) and ignored.
    let result = client.run(|ws| while ws.read().is_ok() {});
    if let Err(e) = result {
        eprintln!("sensor_push: {}", e);
        std::process::exit(1);
    }
}

/// The SoC temperature in °C, as Linux reports it on a Raspberry Pi.
fn reading() -> String {
    fs::read_to_string("/sys/class/thermal/thermal_zone0/temp")
        .ok()
        .and_then(|t| t.trim().parse::<f64>().ok())
        .map_or_else(|| "no sensor".to_owned(), |m| format!("{:.1}", m / 1000.0))
}
