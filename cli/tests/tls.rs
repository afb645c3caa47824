//! `--tls-cert` and `--tls-key`, and `tinyws connect wss://` with `--ca`
//! and `--insecure`: wss:// from the real binary when it is built with the
//! `tls` feature, and a clear answer when it is not.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::TIMEOUT;

fn cert(name: &str) -> String {
    format!("{}/../tests/certs/{}", env!("CARGO_MANIFEST_DIR"), name)
}

/// What a finished `tinyws connect` left behind.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `tinyws connect ARGS` with `input` on stdin, and waits (killing it
/// after TIMEOUT) for it to exit.
fn connect(args: &[&str], input: &str) -> Ran {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tinyws"))
        .arg("connect")
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tinyws connect");
    let drain = |mut from: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut text = String::new();
            let _ = from.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let mut stdin = child.stdin.take().unwrap();
    // It may exit before reading its input (a refused certificate).
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let ran = Ran {
        code: status.and_then(|s| s.code()),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    assert!(
        status.is_some(),
        "tinyws connect did not exit: {}",
        ran.stderr
    );
    ran
}

#[test]
fn tls_cert_and_tls_key_go_together() {
    for (flag, other) in [("--tls-cert", "--tls-key"), ("--tls-key", "--tls-cert")] {
        let out = Command::new(env!("CARGO_BIN_EXE_tinyws"))
            .args(["echo", "--addr", "127.0.0.1:0", flag, &cert("a.pem")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(other), "{}", err);
    }
}

#[test]
fn connect_tls_flags_are_for_wss_urls_and_exclude_each_other() {
    for (args, why) in [
        (
            &["--ca", "x.pem", "ws://127.0.0.1:1/"][..],
            "--ca is for wss:// URLs",
        ),
        (
            &["--insecure", "ws://127.0.0.1:1/"][..],
            "--insecure is for wss:// URLs",
        ),
        (
            &["--ca", "x.pem", "--insecure", "wss://127.0.0.1:1/"][..],
            "contradict each other",
        ),
    ] {
        let ran = connect(args, "");
        assert_eq!(ran.code, Some(2), "{:?}: {}", args, ran.stderr);
        assert!(ran.stderr.contains(why), "{:?}: {}", args, ran.stderr);
    }
}

#[cfg(not(feature = "tls"))]
#[test]
fn without_the_tls_feature_connect_says_how_to_build_it() {
    // Port 1: nothing may be tried before the answer.
    for args in [
        &["--ca", &cert("ca.pem"), "wss://127.0.0.1:1/"][..],
        &["--insecure", "wss://127.0.0.1:1/"],
        &["wss://127.0.0.1:1/"],
    ] {
        let ran = connect(args, "hello\n");
        assert_eq!(ran.code, Some(1), "{:?}: {}", args, ran.stderr);
        assert!(ran.stderr.contains("built without TLS"), "{}", ran.stderr);
        assert!(ran.stderr.contains("--features tls"), "{}", ran.stderr);
        assert!(ran.stdout.is_empty(), "{}", ran.stdout);
    }
}

#[cfg(not(feature = "tls"))]
#[test]
fn without_the_tls_feature_the_flags_say_how_to_build_it() {
    for mode in [&["echo"][..], &["broadcast"], &["serve", "--", "cat"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_tinyws"))
            .args(&mode[..1])
            .args(["--addr", "127.0.0.1:0"])
            .args(["--tls-cert", &cert("a.pem"), "--tls-key", &cert("a.key")])
            .args(&mode[1..])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{:?}", mode);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("built without TLS"), "{}", err);
        assert!(err.contains("--features tls"), "{}", err);
    }
}

#[cfg(feature = "tls")]
mod with_tls {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use super::{cert, connect, Command};
    use crate::common::{eventually, Tinyws, TIMEOUT};
    use tinyws::{Config, Message, Role, Socket, Stream, TlsConfig, WebSocket};

    fn wss(server: &Tinyws) -> WebSocket {
        let tcp = TcpStream::connect(server.addr).unwrap();
        let ca = TlsConfig::client_with_ca(cert("ca.pem")).unwrap();
        let mut socket = Socket::connect_tls(tcp, &ca, "localhost", TIMEOUT).unwrap();
        socket.set_read_timeout(Some(TIMEOUT)).unwrap();
        socket
            .write_all(
                b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                  Sec-WebSocket-Version: 13\r\n\r\n",
            )
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(socket.read(&mut byte).unwrap(), 1);
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{:?}",
            String::from_utf8_lossy(&head)
        );
        WebSocket::from_raw(socket, Role::Client, &Config::default()).unwrap()
    }

    #[test]
    fn wss_echo_and_sighup_reloads_the_certificate() {
        let server = Tinyws::start(&[
            "echo",
            "--addr",
            "127.0.0.1:0",
            "--tls-cert",
            &cert("a.pem"),
            "--tls-key",
            &cert("a.key"),
        ]);
        eventually("the wss:// address to be announced", || {
            server
                .log()
                .iter()
                .any(|l| l.contains("WebSocket at wss://"))
        });
        let mut ws = wss(&server);
        ws.send("over tls").unwrap();
        assert_eq!(ws.read().unwrap(), Message::Text("over tls".into()));
        ws.close(tinyws::CloseCode::NORMAL, "").unwrap();

        server.signal(rustix::process::Signal::Hup);
        eventually("the reload to be logged", || {
            server
                .log()
                .iter()
                .any(|l| l.contains("reloaded the certificate"))
        });
        // Still serving after SIGHUP.
        let mut ws = wss(&server);
        ws.send("still here").unwrap();
        assert_eq!(ws.read().unwrap(), Message::Text("still here".into()));
        ws.close(tinyws::CloseCode::NORMAL, "").unwrap();
    }

    #[test]
    fn a_missing_key_file_is_named() {
        let out = Command::new(env!("CARGO_BIN_EXE_tinyws"))
            .args([
                "echo",
                "--addr",
                "127.0.0.1:0",
                "--tls-cert",
                &cert("a.pem"),
            ])
            .args(["--tls-key", "/nonexistent/key.pem"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("/nonexistent/key.pem"), "{}", err);
    }

    fn wss_echo_server() -> Tinyws {
        Tinyws::start(&[
            "echo",
            "--addr",
            "127.0.0.1:0",
            "--tls-cert",
            &cert("a.pem"),
            "--tls-key",
            &cert("a.key"),
        ])
    }

    #[test]
    fn connect_echoes_over_wss_verified_against_the_ca() {
        let server = wss_echo_server();
        for host in ["localhost", "127.0.0.1"] {
            let url = format!("wss://{}:{}/", host, server.addr.port());
            let ran = connect(&["--ca", &cert("ca.pem"), &url], "one\ntwo\n");
            assert_eq!(ran.code, Some(0), "{}: {}", url, ran.stderr);
            assert_eq!(ran.stdout, "one\ntwo\n", "{}", ran.stderr);
            assert!(!ran.stderr.contains("NOT verified"), "{}", ran.stderr);
        }
    }

    #[test]
    fn connect_with_the_wrong_ca_fails_verification_and_says_so() {
        let server = wss_echo_server();
        let url = format!("wss://localhost:{}/", server.addr.port());
        let ran = connect(&["--ca", &cert("other-ca.pem"), &url], "one\n");
        assert_eq!(ran.code, Some(3), "{}", ran.stderr);
        assert!(
            ran.stderr.contains("certificate verification failed"),
            "{}",
            ran.stderr
        );
        assert!(ran.stderr.contains("--ca FILE"), "{}", ran.stderr);
        assert!(ran.stdout.is_empty(), "{}", ran.stdout);
    }

    #[test]
    fn connect_without_ca_checks_the_system_roots() {
        let server = wss_echo_server();
        let url = format!("wss://localhost:{}/", server.addr.port());
        let ran = connect(&[&url], "one\n");
        assert_eq!(ran.code, Some(3), "{}", ran.stderr);
        assert!(
            ran.stderr.contains("certificate verification failed")
                || ran.stderr.contains("no system trust roots"),
            "{}",
            ran.stderr
        );
    }

    #[test]
    fn connect_insecure_skips_verification_and_warns() {
        let server = wss_echo_server();
        let url = format!("wss://localhost:{}/", server.addr.port());
        let ran = connect(&["--insecure", &url], "one\n");
        assert_eq!(ran.code, Some(0), "{}", ran.stderr);
        assert_eq!(ran.stdout, "one\n");
        assert!(ran.stderr.contains("NOT verified"), "{}", ran.stderr);
        assert!(ran.stderr.contains("for tests only"), "{}", ran.stderr);
    }

    #[test]
    fn connect_names_a_ca_file_it_cannot_use() {
        let ran = connect(&["--ca", "/nonexistent/ca.pem", "wss://127.0.0.1:1/"], "");
        assert_eq!(ran.code, Some(1), "{}", ran.stderr);
        assert!(ran.stderr.contains("/nonexistent/ca.pem"), "{}", ran.stderr);
        // A key is not a certificate.
        let ran = connect(&["--ca", &cert("a.key"), "wss://127.0.0.1:1/"], "");
        assert_eq!(ran.code, Some(1), "{}", ran.stderr);
        assert!(ran.stderr.contains("a.key"), "{}", ran.stderr);
    }
}
