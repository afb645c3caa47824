//! `examples/echo` with one change: `max_connections` raised so that 1,000
//! and 10,000 idle connections can be held. Every other setting, the thread
//! stack included, is the default Config.
//!
//! usage: tinyws_echo_many ADDR

use tinyws::{Config, Server};

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let server = Server::bind(&addr, &Config::default().max_connections(20_000)).expect("bind");
    println!("echo server on ws://{}", server.local_addr().unwrap());
    server
        .serve(|mut ws| {
            while let Ok(msg) = ws.read() {
                if msg.is_data() && ws.send(msg).is_err() {
                    break;
                }
            }
        })
        .expect("serve");
}
