//! A full server-side connection fed arbitrary bytes: reassembly, UTF-8,
//! control frames, close and limits. When the first byte is odd the handler
//! echoes data and starts the close itself on an empty Pong. Whatever
//! arrives, the connection ends in an error without panicking, and
//! everything it wrote back is a well-formed server frame with an allowed
//! close code, with nothing after the Close.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyws::{CloseCode, Config, Message, Role, WebSocket};
use tinyws_fuzz::{check_server_output, MemStream};

fuzz_target!(|data: &[u8]| {
    // Small limits, so the fuzzer reaches every one of them.
    let config = Config::default()
        .max_message_size(256)
        .max_frame_size(128)
        .max_fragments(8)
        .ping_interval(None);
    let echo = data.first().map_or(false, |b| b & 1 == 1);
    let mut ws = WebSocket::from_raw(MemStream::from_fuzz(data), Role::Server, &config).unwrap();
    // Each Ok consumes at least one frame header, so the input bounds the loop.
    let mut closes = 0;
    while let Ok(msg) = ws.read() {
        match &msg {
            Message::Text(t) => assert!(t.len() <= 256),
            Message::Binary(b) => assert!(b.len() <= 256),
            Message::Ping(p) | Message::Pong(p) => assert!(p.len() <= 125),
            Message::Close(_) => closes += 1,
            _ => {}
        }
        if echo {
            match msg {
                Message::Pong(p) if p.is_empty() => {
                    let _ = ws.close(CloseCode::NORMAL, "bye");
                }
                m if m.is_data() => {
                    let _ = ws.send(&m);
                }
                _ => {}
            }
        }
    }
    assert!(closes <= 1, "Close returned twice");
    assert!(ws.is_closed());
    check_server_output(&ws.get_ref().output);
});
