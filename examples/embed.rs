//! Adding a WebSocket endpoint to a program that already has its own main
//! loop.
//!
//! ```text
//! cargo run --example embed [ADDR] [SECONDS]
//! ```
//!
//! ADDR defaults to `127.0.0.1:9002`; SECONDS, if given, ends the program
//! after that long, shutting the server down cleanly. Watch the updates with
//! any WebSocket client, for example `websocat ws://127.0.0.1:9002/`.
//!
//! The program is the point here, not the server: `main` samples a "sensor",
//! keeps a running average and prints a line, as it did before it had a
//! WebSocket endpoint. The endpoint lives on a background thread. Its
//! handler only subscribes each connection to a [`Hub`] and keeps it open,
//! and greets it with the latest update through its [`Sender`]; it owns
//! nothing of the program. The main loop pushes each update with
//! [`Hub::broadcast`], which never blocks it for longer than the hub's stall
//! timeout, however slow a client is.
//!
//! [`Sender`]: tinyws::Sender

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tinyws::{Config, Hub, Server};

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9002".to_owned());
    let run_for = args
        .next()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs);
    if let Err(e) = run(&addr, run_for) {
        eprintln!("embed: {}: {}", addr, e);
        std::process::exit(1);
    }
}

fn run(addr: &str, run_for: Option<Duration>) -> tinyws::Result<()> {
    // --- The endpoint: three values shared with the program, one thread. ---
    let hub = Hub::new(Duration::from_millis(250));
    let latest: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let server = Server::bind(addr, &Config::default())?;
    println!("updates on ws://{}/", server.local_addr()?);
    let handle = server.handle();
    let server_thread = {
        let hub = hub.clone();
        let latest = Arc::clone(&latest);
        thread::spawn(move || {
            server.serve(move |mut ws| {
                let sender = match ws.sender() {
                    Ok(sender) => sender,
                    Err(_) => return,
                };
                // A newcomer sees the current state at once, not after the
                // next update.
                let greeting = latest.lock().ok().and_then(|l| l.clone());
                if let Some(text) = greeting {
                    let _ = sender.send(text);
                }
                if hub.subscribe(sender).is_ok() {
                    // Reading answers Pings and notices the close.
                    while ws.read().is_ok() {}
                }
            })
        })
    };

    // --- The program as it was: sample, compute, print. ---
    let started = Instant::now();
    let mut sensor = FakeSensor::default();
    let mut average = RunningAverage::new(10);
    let mut tick: u64 = 0;
    while run_for.map_or(true, |limit| started.elapsed() < limit) {
        let sample = sensor.sample();
        let mean = average.push(sample);
        tick += 1;
        let update = format!(
            r#"{{"tick":{},"sample":{:.3},"mean":{:.3}}}"#,
            tick, sample, mean
        );
        // The only line the endpoint added to the loop, plus remembering
        // the update for newcomers.
        let reached = hub.broadcast(update.as_str());
        if let Ok(mut l) = latest.lock() {
            *l = Some(update);
        }
        if tick % 10 == 0 {
            println!(
                "tick {:>5}  sample {:7.3}  mean {:7.3}  clients {}",
                tick, sample, mean, reached
            );
        }
        thread::sleep(Duration::from_millis(100));
    }

    // --- Leaving: Close 1001 to every client, then join. ---
    handle.shutdown();
    match server_thread.join() {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}

/// Stands in for whatever the program measured before: a reading with
/// drift and noise.
#[derive(Default)]
struct FakeSensor {
    step: u32,
    noise: u32,
}

impl FakeSensor {
    fn sample(&mut self) -> f64 {
        self.step += 1;
        // A linear congruential generator: noise without a dependency.
        self.noise = self
            .noise
            .wrapping_mul(1_664_525)
            .wrapping_add(1_013_904_223);
        let noise = f64::from(self.noise >> 16) / 65536.0 - 0.5;
        1013.0 + (f64::from(self.step) / 50.0).sin() * 4.0 + noise
    }
}

/// The mean of the last `n` samples.
struct RunningAverage {
    window: Vec<f64>,
    next: usize,
    n: usize,
}

impl RunningAverage {
    fn new(n: usize) -> RunningAverage {
        RunningAverage {
            window: Vec::with_capacity(n),
            next: 0,
            n,
        }
    }

    fn push(&mut self, value: f64) -> f64 {
        if self.window.len() < self.n {
            self.window.push(value);
        } else {
            self.window[self.next] = value;
            self.next = (self.next + 1) % self.n;
        }
        self.window.iter().sum::<f64>() / self.window.len() as f64
    }
}
