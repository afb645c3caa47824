//! wss:// echo server on tungstenite's blocking API over a rustls
//! `StreamOwned`, as a tungstenite user writes it: one thread per
//! connection, the default thread stack, tungstenite's and rustls's default
//! configurations (the same rustls and ring as tinyws, the same
//! certificate, ALPN `http/1.1`). For scripts/tls-bench.sh.
//!
//! usage: tls_tung_echo ADDR CERT KEY

use std::net::TcpListener;
use std::sync::Arc;

#[path = "../tls_common.rs"]
mod tls_common;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = tls_common::server_config(&args[1], &args[2]);
    let listener = TcpListener::bind(&args[0]).expect("bind");
    println!(
        "tungstenite+rustls echo on {}",
        listener.local_addr().unwrap()
    );
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        let config = Arc::clone(&config);
        std::thread::spawn(move || {
            let Ok(session) = rustls::ServerConnection::new(config) else {
                return;
            };
            let tls = rustls::StreamOwned::new(session, stream);
            let Ok(mut ws) = tungstenite::accept(tls) else {
                return;
            };
            loop {
                match ws.read() {
                    Ok(msg) if msg.is_text() || msg.is_binary() => {
                        if ws.send(msg).is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
    }
}
