//! The client for the Autobahn|Testsuite fuzzingserver
//! (`scripts/autobahn-client.sh`): reads the case count, runs each case by
//! echoing every message until the server closes, then asks for the report.
//! Limits are raised to the suite's 16 MiB messages, fragments uncapped.
//!
//! ```text
//! cargo run --release --example autobahn_client [BASE_URL] [AGENT]
//! cargo run --release --features deflate --example autobahn_client [BASE_URL] [AGENT] --deflate
//! cargo run --release --features tls --example autobahn_client wss://... [AGENT] --ca FILE
//! ```
//! BASE_URL defaults to ws://127.0.0.1:9001, AGENT to tinyws. `--deflate`
//! offers permessage-deflate with the default settings (no context
//! takeover, and never `client_max_window_bits`: the compressor's window is
//! fixed at 15 bits). `--ca FILE` trusts only the CA certificates in FILE
//! for a wss:// BASE_URL.

use tinyws::{Client, Config, Deflate, Message, TlsConfig, WebSocket};

fn open(url: &str, config: &Config, tls: Option<&TlsConfig>) -> tinyws::Result<WebSocket> {
    let client = Client::new(url).config(config.clone());
    match tls {
        Some(tls) => client.tls(tls.clone()).connect(),
        None => client.connect(),
    }
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let deflate = args.iter().any(|a| a == "--deflate");
    let ca = args.iter().position(|a| a == "--ca").map(|i| i + 1);
    let mut positional = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && Some(*i) != ca)
        .map(|(_, a)| a);
    let base = positional
        .next()
        .cloned()
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let agent = positional
        .next()
        .cloned()
        .unwrap_or_else(|| "tinyws".to_owned());
    let config = Config::default()
        .max_message_size(64 << 20)
        .max_frame_size(64 << 20)
        .max_fragments(usize::MAX)
        .deflate(if deflate {
            Some(Deflate::default())
        } else {
            None
        });
    let tls = match ca.map(|i| args.get(i).map(TlsConfig::client_with_ca)) {
        None => None,
        Some(Some(Ok(tls))) => Some(tls),
        Some(Some(Err(e))) => {
            eprintln!("autobahn_client: --ca: {}", e);
            std::process::exit(1);
        }
        Some(None) => {
            eprintln!("autobahn_client: --ca needs a FILE");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&base, &agent, &config, tls.as_ref()) {
        eprintln!("autobahn_client: {}", e);
        std::process::exit(1);
    }
}

fn run(base: &str, agent: &str, config: &Config, tls: Option<&TlsConfig>) -> tinyws::Result<()> {
    let mut ws = open(&format!("{}/getCaseCount", base), config, tls)?;
    let count: u32 = match ws.read()? {
        Message::Text(n) => n.trim().parse().unwrap_or(0),
        _ => 0,
    };
    drop(ws);
    println!("{} cases", count);
    for case in 1..=count {
        let url = format!("{}/runCase?case={}&agent={}", base, case, agent);
        match open(&url, config, tls) {
            Ok(mut ws) => echo(&mut ws),
            Err(e) => eprintln!("case {}: {}", case, e),
        }
    }
    let mut ws = open(
        &format!("{}/updateReports?agent={}", base, agent),
        config,
        tls,
    )?;
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
