//! `--tls-cert` and `--tls-key`: wss:// from the real binary when it is
//! built with the `tls` feature, and a clear answer when it is not.

mod common;

use std::process::Command;

fn cert(name: &str) -> String {
    format!("{}/../tests/certs/{}", env!("CARGO_MANIFEST_DIR"), name)
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

    use super::{cert, Command};
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
}
