//! TLS echo with no WebSocket: rustls's `StreamOwned`, one thread per
//! connection, each read written straight back. The floor for
//! scripts/tls-bench.sh (same rustls, ring, certificate and ALPN).
//!
//! usage: tls_raw_echo ADDR CERT KEY

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

#[path = "../tls_common.rs"]
mod tls_common;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = tls_common::server_config(&args[1], &args[2]);
    let listener = TcpListener::bind(&args[0]).expect("bind");
    println!("raw rustls echo on {}", listener.local_addr().unwrap());
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        let config = Arc::clone(&config);
        std::thread::spawn(move || {
            let Ok(session) = rustls::ServerConnection::new(config) else {
                return;
            };
            let mut tls = rustls::StreamOwned::new(session, stream);
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match tls.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tls.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            tls.conn.send_close_notify();
            let _ = tls.flush();
        });
    }
}
