//! Raw TCP echo, one thread per connection, no framing: the ceiling of the
//! thread-per-connection model. Same thread stack as tinyws's default.
//!
//! usage: tcp_echo ADDR

use std::io::{Read, Write};
use std::net::TcpListener;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9003".into());
    let listener = TcpListener::bind(&addr).expect("bind");
    println!("tcp echo on {}", listener.local_addr().unwrap());
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        let spawned = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            eprintln!("tcp_echo: spawn: {e}");
        }
    }
}
