//! Echoes every text and binary message, with the default Config.
//!
//! ```text
//! RUST_LOG=info cargo run --release --example echo [ADDR]
//! ```
//! ADDR defaults to 127.0.0.1:9001.

use tinyws::{Config, Server};

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    if let Err(e) = run(&addr) {
        eprintln!("echo: {}: {}", addr, e);
        std::process::exit(1);
    }
}

fn run(addr: &str) -> tinyws::Result<()> {
    let server = Server::bind(addr, &Config::default())?;
    println!("echo server on ws://{}", server.local_addr()?);
    server.serve(|mut ws| {
        while let Ok(msg) = ws.read() {
            if msg.is_data() && ws.send(msg).is_err() {
                break;
            }
        }
    })
}
