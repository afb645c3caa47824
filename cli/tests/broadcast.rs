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
