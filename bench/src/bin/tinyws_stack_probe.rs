//! The Autobahn server's configuration (raised size limits, any Origin) with
//! the thread stack size taken from the command line, to find how small a
//! stack the connection threads survive on.
//!
//! usage: tinyws_stack_probe ADDR STACK_BYTES

use tinyws::{Config, Server};

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9004".into());
    let stack: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64 * 1024);
    let config = Config::default()
        .max_message_size(64 << 20)
        .max_frame_size(64 << 20)
        .max_fragments(usize::MAX)
        .max_connections(20_000)
        .allow_any_origin(true)
        .stack_size(stack);
    let server = Server::bind(&addr, &config).expect("bind");
    println!(
        "stack probe on ws://{} stack={}",
        server.local_addr().unwrap(),
        stack
    );
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
