//! Echo server on tungstenite's blocking API: one thread per connection,
//! tungstenite's default configuration and the default thread stack.
//!
//! usage: tung_echo ADDR

use std::net::TcpListener;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".into());
    let listener = TcpListener::bind(&addr).expect("bind");
    println!("tungstenite echo on {}", listener.local_addr().unwrap());
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        // Same socket option tinyws sets: each frame leaves at once.
        let _ = stream.set_nodelay(true);
        std::thread::spawn(move || {
            let Ok(mut ws) = tungstenite::accept(stream) else {
                return;
            };
            loop {
                match ws.read() {
                    Ok(msg) if msg.is_text() || msg.is_binary() => {
                        if ws.send(msg).is_err() {
                            break;
                        }
                    }
                    // Pings are answered and a Close is replied to on the
                    // next read, which then ends the loop.
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
    }
}
