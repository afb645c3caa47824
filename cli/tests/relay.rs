//! `tinyws broadcast --publish PATH --publish-token SECRET`: publishers with
//! the token reach every viewer, others get 403, viewers cannot publish. The
//! publishers and viewers are the library's client.

mod common;

use common::{Tinyws, TIMEOUT};
use rustix::process::Signal;
use tinyws::{Client, CloseCode, Error, Message, WebSocket};

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

fn url(server: &Tinyws, target: &str) -> String {
    format!("ws://{}{}", server.addr, target)
}

/// The next data message, answering pings on the way.
fn read(ws: &mut WebSocket) -> Message {
    loop {
        match ws.read_timeout(TIMEOUT) {
            Ok(Some(m)) if m.is_data() => return m,
            Ok(Some(m)) => assert!(!matches!(m, Message::Close(_)), "closed: {:?}", m),
            Ok(None) => panic!("no message in time"),
            Err(e) => panic!("read: {}", e),
        }
    }
}

#[test]
fn publishers_without_the_token_get_403() {
    let server = relay(&[]);
    let wrong = format!("/publish?token={}x", TOKEN);
    let refused = [
        Client::new(url(&server, "/publish")),
        Client::new(url(&server, "/publish?token=")),
        Client::new(url(&server, &wrong)),
        Client::new(url(&server, "/publish")).header("Authorization", "Bearer nope"),
    ];
    for client in &refused {
        match client.connect() {
            Err(Error::Refused(r)) => assert_eq!(r.status(), 403, "{:?}", client),
            other => panic!("{:?}: {:?}", client, other.map(|_| ())),
        }
    }
    let good = format!("/publish?token={}", TOKEN);
    assert!(tinyws::connect(&url(&server, &good)).is_ok());
    let bearer =
        Client::new(url(&server, "/publish")).header("Authorization", format!("Bearer {}", TOKEN));
    assert!(bearer.connect().is_ok());
    // Viewers need no token.
    assert!(tinyws::connect(&url(&server, "/")).is_ok());
}

#[test]
fn publishers_reach_every_viewer_and_viewers_cannot_publish() {
    let mut server = relay(&["--replay", "2"]);
    // The relay does not read stdin: its end must not stop it.
    drop(server.stdin.take());
    let mut viewers: Vec<WebSocket> = (0..2)
        .map(|_| tinyws::connect(&url(&server, "/")).unwrap())
        .collect();
    let mut first = tinyws::connect(&url(&server, &format!("/publish?token={}", TOKEN))).unwrap();
    let mut second = Client::new(url(&server, "/publish"))
        .header("Authorization", format!("Bearer {}", TOKEN))
        .connect()
        .unwrap();
    // A viewer's message goes nowhere; the next one each viewer reads is
    // the publisher's.
    viewers[0].send("spoofed").unwrap();
    first.send("one").unwrap();
    for viewer in &mut viewers {
        assert_eq!(read(viewer), Message::Text("one".into()));
    }
    second.send("two").unwrap();
    second.send(&[0u8, 1, 2][..]).unwrap();
    for viewer in &mut viewers {
        assert_eq!(read(viewer), Message::Text("two".into()));
        assert_eq!(read(viewer), Message::Binary(vec![0, 1, 2]));
    }
    // --replay applies to viewers: a late one gets the last two.
    let mut late = tinyws::connect(&url(&server, "/")).unwrap();
    assert_eq!(read(&mut late), Message::Text("two".into()));
    assert_eq!(read(&mut late), Message::Binary(vec![0, 1, 2]));
    // One publisher leaving does not stop the other.
    first.close(CloseCode::NORMAL, "").unwrap();
    second.send("three").unwrap();
    for viewer in viewers.iter_mut().chain(Some(&mut late)) {
        assert_eq!(read(viewer), Message::Text("three".into()));
    }
    // A connection that does not read holds the shutdown for the close
    // timeout: the publisher leaves first.
    second.close(CloseCode::NORMAL, "").unwrap();
    server.signal(Signal::Term);
    for viewer in viewers.iter_mut().chain(Some(&mut late)) {
        match viewer.read_timeout(TIMEOUT) {
            Ok(Some(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::GOING_AWAY),
            other => panic!("{:?}", other),
        }
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
