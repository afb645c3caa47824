//! The tinyws server of `scripts/deflate-bench.sh`: an echo on every path,
//! and a broadcast on two: each message read on `/pub` goes through one
//! [`Hub`] to every connection open on `/sub`. `max_connections` is raised
//! for the 1,000-connection runs; every other setting is the default
//! Config.
//!
//! usage: tinyws_deflate_echo ADDR [plain | deflate | takeover]
//!                            [--level N] [--threshold N]
//!
//! `deflate` is the default `Deflate` (no context takeover), `takeover` the
//! same with `context_takeover`; `plain` declines every offer.

use std::time::Duration;

use tinyws::{Config, Deflate, Hub, Server};

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9001".into());
    let mut mode = "deflate".to_owned();
    let mut deflate = Deflate::default();
    while let Some(a) = args.next() {
        let mut number = || -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{a} needs a number"))
        };
        match a.as_str() {
            "--level" => deflate = deflate.level(number() as u8),
            "--threshold" => deflate = deflate.threshold(number()),
            "plain" | "deflate" | "takeover" => mode = a.clone(),
            _ => panic!("unknown argument {a}"),
        }
    }
    let deflate = match mode.as_str() {
        "plain" => None,
        "takeover" => Some(deflate.context_takeover(true)),
        _ => Some(deflate),
    };
    let config = Config::default().max_connections(20_000).deflate(deflate);
    let server = Server::bind(&addr, &config).expect("bind");
    println!(
        "{mode} echo server on ws://{}",
        server.local_addr().unwrap()
    );
    let hub = Hub::new(Duration::from_secs(5));
    server
        .serve(move |mut ws| {
            let path = ws.request().map_or("/", |r| r.path()).to_owned();
            if path == "/sub" {
                if let Ok(sender) = ws.sender() {
                    let _ = hub.subscribe(sender);
                }
                while ws.read().is_ok() {}
                return;
            }
            while let Ok(msg) = ws.read() {
                if path == "/pub" {
                    if let Some(text) = msg.as_text() {
                        hub.broadcast(text);
                    }
                } else if msg.is_data() && ws.send(msg).is_err() {
                    break;
                }
            }
        })
        .expect("serve");
}
