//! `--host` and `--trusted-proxy`: the tool's side of the library's DNS
//! rebinding and reverse-proxy rules (issue 16, items 1 and 6).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use common::{eventually, Client, Tinyws, TIMEOUT};

/// Sends an upgrade request for `host` and returns the status line.
fn status_for_host(addr: SocketAddr, host: &str) -> String {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        host
    )
    .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    String::from_utf8_lossy(&head).into_owned()
}

#[test]
fn host_adds_a_name_to_the_ones_answered() {
    let plain = Tinyws::start(&["echo", "--addr", "127.0.0.1:0"]);
    assert_eq!(
        status_for_host(plain.addr, "pi.example.com"),
        "HTTP/1.1 421"
    );
    let named = Tinyws::start(&["echo", "--addr", "127.0.0.1:0", "--host", "pi.example.com"]);
    assert_eq!(
        status_for_host(named.addr, "pi.example.com"),
        "HTTP/1.1 101"
    );
    assert_eq!(status_for_host(named.addr, "other.example"), "HTTP/1.1 421");
}

/// Runs `tinyws serve -- env` and returns the environment CMD got.
fn cgi_env(
    extra: &[&str],
    headers: &[&str],
) -> (Tinyws, std::collections::BTreeMap<String, String>) {
    let mut args = vec!["serve", "--addr", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "env"]);
    let server = Tinyws::start(&args);
    let mut client = Client::connect(server.addr, "/", headers);
    let mut env = std::collections::BTreeMap::new();
    loop {
        let frame = client.read_frame();
        match frame.opcode {
            0x1 => {
                let line = String::from_utf8(frame.payload).unwrap();
                if let Some((k, v)) = line.split_once('=') {
                    env.insert(k.to_owned(), v.to_owned());
                }
            }
            0x8 => break,
            _ => {}
        }
    }
    (server, env)
}

#[test]
fn remote_addr_is_the_client_behind_a_trusted_proxy_only() {
    let forwarded = ["X-Forwarded-For: 198.51.100.1, 203.0.113.9"];
    let (server, env) = cgi_env(&["--trusted-proxy", "127.0.0.1"], &forwarded);
    assert_eq!(
        env.get("REMOTE_ADDR").map(String::as_str),
        Some("203.0.113.9")
    );
    assert_eq!(
        env.get("REMOTE_PORT"),
        None,
        "the proxy's port is not the client's"
    );
    eventually("the log names the client", || {
        server
            .log()
            .iter()
            .any(|l| l.contains("203.0.113.9 via 127.0.0.1:") && l.contains("started"))
    });
    // Without --trusted-proxy the header is the client's word, not believed.
    let (_, env) = cgi_env(&[], &forwarded);
    assert_eq!(
        env.get("REMOTE_ADDR").map(String::as_str),
        Some("127.0.0.1")
    );
    assert!(env.contains_key("REMOTE_PORT"));
}

#[test]
fn bad_values_are_refused_at_start_up() {
    for args in [
        &["echo", "--host", "http://pi.example.com"][..],
        &["echo", "--host", "pi.example.com/ws"],
        &["echo", "--trusted-proxy", "nginx.local"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tinyws"))
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{:?}", args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(args[1]), "{:?}: {}", args, stderr);
    }
}
