//! The client for the Autobahn|Testsuite fuzzingserver
//! (`scripts/autobahn-client.sh`): reads the case count, runs each case by
//! echoing every message until the server closes, then asks for the report.
//! Limits are raised to the suite's 16 MiB messages, fragments uncapped.
//!
//! ```text
//! cargo run --release --example autobahn_client [BASE_URL] [AGENT]
//! ```
//! BASE_URL defaults to ws://127.0.0.1:9001, AGENT to tinyws.

use tinyws::{Client, Config, Message, WebSocket};

fn config() -> Config {
    Config::default()
        .max_message_size(64 << 20)
        .max_frame_size(64 << 20)
        .max_fragments(usize::MAX)
}

fn open(url: &str) -> tinyws::Result<WebSocket> {
    Client::new(url).config(config()).connect()
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let agent = args.next().unwrap_or_else(|| "tinyws".to_owned());
    if let Err(e) = run(&base, &agent) {
        eprintln!("autobahn_client: {}", e);
        std::process::exit(1);
    }
}

fn run(base: &str, agent: &str) -> tinyws::Result<()> {
    let mut ws = open(&format!("{}/getCaseCount", base))?;
    let count: u32 = match ws.read()? {
        Message::Text(n) => n.trim().parse().unwrap_or(0),
        _ => 0,
    };
    drop(ws);
    println!("{} cases", count);
    for case in 1..=count {
        let url = format!("{}/runCase?case={}&agent={}", base, case, agent);
        match open(&url) {
            Ok(mut ws) => echo(&mut ws),
            Err(e) => eprintln!("case {}: {}", case, e),
        }
    }
    let mut ws = open(&format!("{}/updateReports?agent={}", base, agent))?;
    while !matches!(ws.read(), Ok(Message::Close(_)) | Err(_)) {}
    Ok(())
}

/// Echoes data messages until the connection ends; the suite judges how.
fn echo(ws: &mut WebSocket) {
    loop {
        match ws.read() {
            Ok(msg) if msg.is_data() => {
                if ws.send(msg).is_err() {
                    return;
                }
            }
            Ok(Message::Close(_)) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
