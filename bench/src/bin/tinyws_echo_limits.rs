//! `examples/echo` with its limits and thread stack taken from the
//! environment, to tell apart what the 1 MiB comparison between
//! `examples/echo` (default Config) and `examples/autobahn_server` (raised
//! limits, 256 KiB stack) depends on.
//!
//! usage: TINYWS_MAX_MESSAGE=BYTES TINYWS_STACK=BYTES tinyws_echo_limits ADDR
//! Either variable may be left out for the default.

use tinyws::{Config, Server};

fn env(name: &str) -> Option<usize> {
    std::env::var(name).ok().map(|v| v.parse().expect(name))
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9005".into());
    let mut config = Config::default();
    if let Some(max) = env("TINYWS_MAX_MESSAGE") {
        config = config.max_message_size(max).max_frame_size(max);
    }
    if let Some(stack) = env("TINYWS_STACK") {
        config = config.stack_size(stack);
    }
    let server = Server::bind(&addr, &config).expect("bind");
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
