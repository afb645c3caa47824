//! `tinyws broadcast`: one source to every client through the library's hub,
//! replay for newcomers, and CMD's exit ending the server.

mod common;

use std::io::Write;
use std::path::PathBuf;

use common::{exists, Tinyws};

#[test]
fn stdin_lines_reach_three_clients_and_newcomers_get_the_replay() {
    let mut server = Tinyws::start(&["broadcast", "--addr", "127.0.0.1:0", "--replay", "2"]);
    let mut stdin = server.stdin.take().unwrap();
    writeln!(stdin, "first").unwrap();
    // Whether a client subscribes before or after "first" is broadcast, it
    // gets it exactly once: live, or from the replay. After that, it is
    // subscribed.
    let mut clients: Vec<_> = (0..3).map(|_| server.connect("/")).collect();
    for client in &mut clients {
        assert_eq!(client.read_text(), "first");
    }
    write!(stdin, "second\nthird\n").unwrap();
    stdin.flush().unwrap();
    for client in &mut clients {
        assert_eq!(client.read_text(), "second");
        assert_eq!(client.read_text(), "third");
    }
    // A newcomer gets the last two lines, then live ones.
    let mut late = server.connect("/");
    assert_eq!(late.read_text(), "second");
    assert_eq!(late.read_text(), "third");
    writeln!(stdin, "fourth").unwrap();
    for client in clients.iter_mut().chain(Some(&mut late)) {
        assert_eq!(client.read_text(), "fourth");
    }
    // The end of stdin ends the broadcast: clients see 1001, exit status 0.
    drop(stdin);
    for client in clients.iter_mut().chain(Some(&mut late)) {
        assert_eq!(client.read_close(), Some(1001));
    }
    assert_eq!(server.wait().code(), Some(0));
}

fn flag_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("tinyws-{}-{}", name, std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn cmd_exit_closes_clients_with_1001_and_gives_its_status() {
    let flag = flag_path("exit-flag");
    let mut server = Tinyws::start(&[
        "broadcast",
        "--addr",
        "127.0.0.1:0",
        "--replay",
        "1",
        "--",
        "sh",
        "-c",
        r#"echo "pid $$"; while [ ! -e "$0" ]; do sleep 0.01; done; echo done; exit 3"#,
        flag.to_str().unwrap(),
    ]);
    let mut clients: Vec<_> = (0..3).map(|_| server.connect("/")).collect();
    let mut pid = 0;
    for client in &mut clients {
        let line = client.read_text();
        pid = line.strip_prefix("pid ").unwrap().parse().unwrap();
    }
    assert_eq!(server.children(), [pid]);
    std::fs::write(&flag, b"").unwrap();
    for client in &mut clients {
        assert_eq!(client.read_text(), "done");
        assert_eq!(client.read_close(), Some(1001));
    }
    assert_eq!(server.wait().code(), Some(3));
    assert!(!exists(pid));
    assert!(
        server.log().iter().any(|l| l.contains("exited")),
        "{:?}",
        server.log()
    );
    let _ = std::fs::remove_file(&flag);
}

#[test]
fn binary_broadcast_sends_raw_chunks() {
    let mut server = Tinyws::start(&[
        "broadcast",
        "--addr",
        "127.0.0.1:0",
        "--binary",
        "--replay",
        "8",
    ]);
    let mut stdin = server.stdin.take().unwrap();
    stdin.write_all(&[0, 159, 146, 150, 10]).unwrap();
    stdin.flush().unwrap();
    let mut client = server.connect("/");
    let mut got = Vec::new();
    while got.len() < 5 {
        let frame = client.read_data();
        assert_eq!(frame.opcode, 0x2);
        got.extend(frame.payload);
    }
    assert_eq!(got, [0, 159, 146, 150, 10]);
}

#[test]
fn long_lines_split_between_characters() {
    let mut server = Tinyws::start(&[
        "broadcast",
        "--addr",
        "127.0.0.1:0",
        "--max-message",
        "10",
        "--replay",
        "8",
    ]);
    let mut stdin = server.stdin.take().unwrap();
    writeln!(stdin, "€€€€€€€").unwrap();
    writeln!(stdin, "end").unwrap();
    stdin.flush().unwrap();
    let mut client = server.connect("/");
    for expected in ["€€€", "€€€", "€", "end"] {
        assert_eq!(client.read_text(), expected);
    }
}

#[test]
fn newcomers_that_do_not_read_their_replay_do_not_hold_up_the_feed() {
    // 40 lines of 256 KiB: a 10 MiB replay, far more than the socket
    // buffers of a client that reads nothing can take.
    const LINES: usize = 40;
    let line = |i: usize| format!("{:03}{}", i, "x".repeat(256 * 1024 - 3));
    let mut server = Tinyws::start(&[
        "broadcast",
        "--addr",
        "127.0.0.1:0",
        "--replay",
        &LINES.to_string(),
    ]);
    let mut stdin = server.stdin.take().unwrap();
    let mut reader = server.connect("/");
    // One at a time, so the reader is never the stalled subscriber.
    for i in 0..LINES {
        writeln!(stdin, "{}", line(i)).unwrap();
        stdin.flush().unwrap();
        assert_eq!(reader.read_text(), line(i));
    }
    // Five newcomers that read nothing: each one's replay is under way
    // (its first bytes have arrived) and then stuck behind full buffers.
    let mut newcomers: Vec<_> = (0..5).map(|_| server.connect("/")).collect();
    for newcomer in &newcomers {
        let mut first = [0u8; 1];
        assert_eq!(newcomer.stream.peek(&mut first).unwrap(), 1);
    }
    // The live feed goes on meanwhile: the reader gets the next line at once,
    // not after the newcomers' writes time out (5 s each, one after another,
    // when the replay was written under the feed's lock).
    writeln!(stdin, "live").unwrap();
    stdin.flush().unwrap();
    assert_eq!(reader.read_text(), "live");
    // A newcomer that starts reading gets the whole replay, then live lines,
    // with no gap and no repeat.
    let newcomer = &mut newcomers[0];
    for i in 0..LINES {
        assert_eq!(newcomer.read_text(), line(i), "replayed line {}", i);
    }
    assert_eq!(newcomer.read_text(), "live");
    writeln!(stdin, "after").unwrap();
    stdin.flush().unwrap();
    assert_eq!(newcomer.read_text(), "after");
    assert_eq!(reader.read_text(), "after");
}
