//! The tinyws client against other libraries' echo servers
//! (`scripts/interop.sh`, with `scripts/interop/peer.py` and `peer.js`).
//!
//! ```text
//! cargo run --features tls,deflate --example interop_client URL [--deflate] [--ca FILE]
//! ```
//! Connects to URL (wss:// trusting only the CA certificates in FILE with
//! `--ca`), checks the server's `Sec-WebSocket-Extensions` (permessage-deflate
//! with `--deflate`, none without), echoes text and binary messages below
//! and above the 128-byte deflate threshold, up to 300 KiB, checks each echo
//! byte for byte, and closes with 1000. Around each message it asks the peer
//! how many bytes it has read ("?wire"), so that with deflate a compressible
//! message must reach the peer in under a quarter of its size: it was sent
//! compressed. Exits 1 with what differed, 3 when the server's certificate
//! was rejected.

use std::time::Duration;

use tinyws::{Client, CloseCode, Config, Deflate, Error, Message, TlsConfig, WebSocket};

const BIG: usize = 300 * 1024;

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let deflate = args.iter().any(|a| a == "--deflate");
    let ca = args
        .iter()
        .position(|a| a == "--ca")
        .and_then(|i| args.get(i + 1));
    let url = match args
        .iter()
        .find(|a| a.starts_with("ws://") || a.starts_with("wss://"))
    {
        Some(url) => url,
        None => {
            eprintln!("usage: interop_client URL [--deflate] [--ca FILE]");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(url, deflate, ca.map(String::as_str)) {
        let rejected = matches!(&e, Error::Io(io) if io.to_string().contains("certificate"));
        eprintln!("interop_client: FAILED: {}", e);
        std::process::exit(if rejected { 3 } else { 1 });
    }
}

fn run(url: &str, deflate: bool, ca: Option<&str>) -> Result<(), Error> {
    let config = Config::default()
        .max_message_size(16 << 20)
        .max_frame_size(16 << 20)
        .deflate(if deflate {
            Some(Deflate::default())
        } else {
            None
        });
    let mut client = Client::new(url).config(config);
    if let Some(ca) = ca {
        client = client.tls(TlsConfig::client_with_ca(ca)?);
    }
    let mut ws = client.connect()?;
    let ext = ws
        .response()
        .and_then(|r| r.header("sec-websocket-extensions"))
        .map(str::to_owned);
    println!("tinyws client: {} negotiated {:?}", url, ext);
    match (&ext, deflate) {
        (Some(ext), true) if ext.split(';').next().map(str::trim) == Some("permessage-deflate") => {
        }
        (None, false) => {}
        _ => return Err(fail(format!("unexpected extension answer {:?}", ext))),
    }
    for (name, message, compressible) in messages() {
        let size = message.as_bytes().len() as u64;
        let before = wire(&mut ws)?;
        ws.send(message.clone())?;
        let echo = next_data(&mut ws)?;
        let on_wire = wire(&mut ws)? - before;
        if echo != message {
            return Err(fail(format!("{} came back different", name)));
        }
        // The peer read our message and our "?wire" (5 bytes, 11 framed).
        println!(
            "tinyws client: {} echoed, {} B reached the peer",
            name, on_wire
        );
        if deflate && compressible && on_wire * 4 > size {
            return Err(fail(format!(
                "{}: {} B reached the peer, not compressed",
                name, on_wire
            )));
        }
        if !deflate && on_wire < size {
            return Err(fail(format!(
                "{}: {} B reached the peer without deflate",
                name, on_wire
            )));
        }
    }
    ws.close(CloseCode::NORMAL, "")?;
    println!("tinyws client: closed with 1000");
    Ok(())
}

/// The peer's count of bytes read on this connection so far.
fn wire(ws: &mut WebSocket) -> Result<u64, Error> {
    ws.send("?wire")?;
    match next_data(ws)? {
        Message::Text(n) => n
            .parse()
            .map_err(|_| fail(format!("the peer answered ?wire with {:?}", n))),
        other => Err(fail(format!("the peer answered ?wire with {:?}", other))),
    }
}

fn next_data(ws: &mut WebSocket) -> Result<Message, Error> {
    loop {
        match ws.read_timeout(Duration::from_secs(30))? {
            None => return Err(fail("no answer in 30 s".into())),
            Some(msg) if msg.is_data() => return Ok(msg),
            Some(Message::Close(frame)) => {
                return Err(fail(format!("the peer closed: {:?}", frame)))
            }
            _ => {}
        }
    }
}

fn fail(what: String) -> Error {
    Error::Io(std::io::Error::new(std::io::ErrorKind::Other, what))
}

/// (name, message, compressible): the same set as the peers send.
fn messages() -> Vec<(String, Message, bool)> {
    let line =
        "{\"sensor\":\"t\u{e9}mp\u{e9}rature \u{2103}\",\"value\":21.5,\"unit\":\"\u{1F321}\"}\n";
    let mut big = line.repeat(BIG / line.len() + 1);
    while big.len() > BIG {
        big.pop();
    }
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let random: Vec<u8> = (0..BIG)
        .map(|_| {
            // xorshift64: incompressible, and no dependency for it.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    vec![
        ("text 64 B".into(), Message::Text("x".repeat(64)), false),
        (
            "binary 64 B".into(),
            Message::Binary((0..64).collect()),
            false,
        ),
        (
            "text 4 KiB".into(),
            Message::Text(line.chars().cycle().take(4096).collect()),
            true,
        ),
        (
            "binary 4 KiB".into(),
            Message::Binary((0..4096).map(|i| (i % 7) as u8).collect()),
            true,
        ),
        (format!("text {} B", big.len()), Message::Text(big), true),
        (
            "binary 300 KiB".into(),
            Message::Binary((0..BIG).map(|i| (i * i % 13) as u8).collect()),
            true,
        ),
        (
            "random binary 300 KiB".into(),
            Message::Binary(random),
            false,
        ),
    ]
}
