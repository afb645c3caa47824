//! The log level may be raised while connections are open (an operator
//! turning logging on to look at a live connection): their disconnect lines
//! still name the peer and the path. A binary of its own, because it sets
//! the process-wide level.

mod support;

use log::{Level, LevelFilter};
use support::{frame, logs, wait_until, Client, TestServer};
use tinyws::Config;

#[test]
fn raising_the_log_level_keeps_the_peer_in_the_disconnect_line() {
    logs::install();
    log::set_max_level(LevelFilter::Off);
    let server = TestServer::echo(Config::default());
    let mut c = Client::connect(server.addr);
    c.send(support::upgrade_request("/live").as_bytes());
    assert_eq!(c.read_response().status, 101);
    // The echo proves the handler runs, so the labels were made already.
    c.send(&frame(true, 1, b"hi"));
    assert_eq!(c.read_frame().payload, b"hi");
    log::set_max_level(LevelFilter::Info);
    let peer = c.stream.local_addr().unwrap().to_string();
    c.send(&frame(true, 8, &1000u16.to_be_bytes()));
    c.expect_close(1000);
    wait_until("a disconnect line", || {
        !logs::lines(Level::Info, &["disconnected"]).is_empty()
    });
    let lines = logs::lines(Level::Info, &["disconnected"]);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&peer) && l.contains("/live")),
        "no peer or path in {:?}",
        lines
    );
}
