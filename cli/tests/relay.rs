//! `tinyws broadcast --publish PATH --publish-token SECRET`: publishers with
//! the token reach every viewer, others get 403, viewers cannot publish.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use common::{Client, Tinyws, TIMEOUT};
use rustix::process::Signal;

const TOKEN: &str = "s3cret-token_0123456789";

fn relay(extra: &[&str]) -> Tinyws {
    let mut args = vec![
        "broadcast",
        "--addr",
        "127.0.0.1:0",
        "--publish",
        "/publish",
        "--publish-token",
        TOKEN,
    ];
    args.extend_from_slice(extra);
    Tinyws::start(&args)
}

/// The status line's code for an upgrade request to `target`.
fn upgrade_status(addr: SocketAddr, target: &str, extra: &str) -> u16 {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        stream,
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{}\r\n",
        target, addr, extra
    )
    .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap()
}

#[test]
fn publishers_without_the_token_get_403() {
    let server = relay(&[]);
    let wrong = format!("/publish?token={}x", TOKEN);
    for (target, header) in [
        ("/publish", ""),
        ("/publish?token=", ""),
        (wrong.as_str(), ""),
        ("/publish", "Authorization: Bearer nope\r\n"),
    ] {
        assert_eq!(
            upgrade_status(server.addr, target, header),
            403,
            "{} {}",
            target,
            header
        );
    }
    let good = format!("/publish?token={}", TOKEN);
    assert_eq!(upgrade_status(server.addr, &good, ""), 101);
    let bearer = format!("Authorization: Bearer {}\r\n", TOKEN);
    assert_eq!(upgrade_status(server.addr, "/publish", &bearer), 101);
    // Viewers need no token.
    assert_eq!(upgrade_status(server.addr, "/", ""), 101);
}

#[test]
fn publishers_reach_every_viewer_and_viewers_cannot_publish() {
    let mut server = relay(&["--replay", "2"]);
    // The relay does not read stdin: its end must not stop it.
    drop(server.stdin.take());
    let mut viewers: Vec<Client> = (0..2).map(|_| server.connect("/")).collect();
    let publish = format!("/publish?token={}", TOKEN);
    let mut first = server.connect(&publish);
    let bearer = format!("Authorization: Bearer {}", TOKEN);
    let mut second = Client::connect(server.addr, "/publish", &[&bearer]);
    // A viewer's message goes nowhere; the next one each viewer reads is
    // the publisher's.
    viewers[0].send_text("spoofed");
    first.send_text("one");
    for viewer in &mut viewers {
        assert_eq!(viewer.read_text(), "one");
    }
    second.send_text("two");
    second.send(0x2, &[0, 1, 2]).unwrap();
    for viewer in &mut viewers {
        assert_eq!(viewer.read_text(), "two");
        let frame = viewer.read_data();
        assert_eq!((frame.opcode, frame.payload), (0x2, vec![0, 1, 2]));
    }
    // --replay applies to viewers: a late one gets the last two.
    let mut late = server.connect("/");
    assert_eq!(late.read_text(), "two");
    assert_eq!(late.read_data().payload, vec![0, 1, 2]);
    // One publisher leaving does not stop the other.
    assert_eq!(first.close(), Some(1000));
    second.send_text("three");
    for viewer in viewers.iter_mut().chain(Some(&mut late)) {
        assert_eq!(viewer.read_text(), "three");
    }
    server.signal(Signal::Term);
    for viewer in viewers.iter_mut().chain(Some(&mut late)) {
        assert_eq!(viewer.read_close(), Some(1001));
    }
    assert_eq!(server.wait().code(), Some(0));
}

#[test]
fn publish_options_are_checked() {
    for (args, why) in [
        (&["echo", "--publish", "/p"][..], "only for broadcast"),
        (&["broadcast", "--publish", "/p"][..], "go together"),
        (
            &["broadcast", "--publish", "/p", "--publish-token", "short"][..],
            "at least 16",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tinyws"))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{:?}", args);
        assert!(stderr.contains(why), "{:?}: {}", args, stderr);
    }
}
