//! SIGTERM and SIGINT: stop accepting, Close 1001 to every client, stop and
//! reap every process, exit 0.

mod common;

use common::{eventually, exists, Tinyws};
use rustix::process::Signal;

#[test]
fn sigterm_closes_clients_with_1001_and_reaps_every_process() {
    let mut server = Tinyws::start(&[
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--grace",
        "200ms",
        "--",
        "sh",
        "-c",
        // Ignores its stdin closing, so tinyws has to terminate it.
        "echo $$; exec sleep 600",
    ]);
    let mut clients: Vec<_> = (0..3).map(|_| server.connect("/")).collect();
    let pids: Vec<u32> = clients
        .iter_mut()
        .map(|c| c.read_text().parse().unwrap())
        .collect();
    let mut children = server.children();
    children.sort_unstable();
    let mut expected = pids.clone();
    expected.sort_unstable();
    assert_eq!(children, expected);

    server.signal(Signal::Term);
    for client in &mut clients {
        assert_eq!(client.read_close(), Some(1001));
    }
    let status = server.wait();
    assert_eq!(status.code(), Some(0), "{:?}", server.log());
    for pid in pids {
        eventually("every process to be gone", || !exists(pid));
    }
}

#[test]
fn sigint_stops_a_broadcast_with_status_0_whatever_cmd_returns() {
    let mut server = Tinyws::start(&[
        "broadcast",
        "--addr",
        "127.0.0.1:0",
        "--replay",
        "1",
        "--grace",
        "200ms",
        "--",
        "sh",
        "-c",
        "echo $$; exec sleep 600",
    ]);
    let mut client = server.connect("/");
    let pid: u32 = client.read_text().parse().unwrap();
    assert!(exists(pid));
    server.signal(Signal::Int);
    assert_eq!(client.read_close(), Some(1001));
    assert_eq!(server.wait().code(), Some(0), "{:?}", server.log());
    assert!(!exists(pid), "the broadcast process outlived tinyws");
}
