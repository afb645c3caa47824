//! The shortest path through the library: handshake, echo, close.

mod support;

use support::{Client, TestServer};
use tinyws::Config;

#[test]
fn echo_and_close() {
    let server = TestServer::echo(Config::default());
    let mut c = Client::open(server.addr);
    c.send_text("hello");
    let f = c.read_frame();
    assert_eq!(
        (f.fin, f.opcode, f.payload.as_slice()),
        (true, 1, &b"hello"[..])
    );
    c.send_frame(true, 8, &1000u16.to_be_bytes());
    assert_eq!(c.read_close().close_code(), Some(1000));
    c.expect_eof();
    server.stop().unwrap();
}
