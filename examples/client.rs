//! Connects, sends a message, reads the answer and closes.
//!
//! ```text
//! cargo run --example echo &
//! cargo run --example client [URL]
//! ```
//! URL defaults to ws://127.0.0.1:9001/.

use tinyws::{CloseCode, Message};

fn main() {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001/".to_owned());
    if let Err(e) = run(&url) {
        eprintln!("client: {}: {}", url, e);
        std::process::exit(1);
    }
}

fn run(url: &str) -> tinyws::Result<()> {
    let mut ws = tinyws::connect(url)?;
    ws.send("hello")?;
    if let Message::Text(answer) = ws.read()? {
        println!("{}", answer);
    }
    // Sends Close and waits (bounded) for the server's.
    ws.close(CloseCode::NORMAL, "")
}
