//! `Reply::file` over a real socket: the file in full, HEAD with the same
//! headers and no body, and 304 with neither body nor Content-Length.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use support::{TestServer, TIMEOUT};
use tinyws::{Config, Reply, Server, Upgrade};

/// Sends a request with `method` and reads the whole answer.
fn fetch(addr: SocketAddr, method: &str, path: &str) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        stream,
        "{} {} HTTP/1.1\r\nHost: localhost\r\n\r\n",
        method, path
    )
    .unwrap();
    let mut all = Vec::new();
    stream.read_to_end(&mut all).unwrap();
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(all[..end].to_vec()).unwrap();
    (head, all[end + 4..].to_vec())
}

#[test]
fn file_bodies_head_and_not_modified() {
    let path = std::env::temp_dir().join(format!("tinyws-reply-file-{}", std::process::id()));
    // Several chunks and a ragged end.
    let data: Vec<u8> = (0..100_003u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let served = path.clone();
    let server = Server::bind("127.0.0.1:0", &Config::default())
        .unwrap()
        .on_request(move |req| {
            if req.is_upgrade() {
                return Upgrade::new().into();
            }
            if req.path() == "/same" {
                return Reply::new(304).header("ETag", "\"1\"").into();
            }
            let file = std::fs::File::open(&served).unwrap();
            let len = file.metadata().unwrap().len();
            Reply::new(200)
                .header("Content-Type", "application/octet-stream")
                .file(file, len)
                .into()
        });
    let server = TestServer::start(server, |_| {});
    let (head, body) = fetch(server.addr, "GET", "/file");
    assert!(head.starts_with("HTTP/1.1 200"), "{}", head);
    assert!(head.contains("\r\nContent-Length: 100003\r\n"), "{}", head);
    assert!(body == data, "the body differs from the file");
    let (head_only, body) = fetch(server.addr, "HEAD", "/file");
    assert_eq!(head_only, head);
    assert!(body.is_empty(), "{} bytes after a HEAD", body.len());
    let (head, body) = fetch(server.addr, "GET", "/same");
    assert!(head.starts_with("HTTP/1.1 304"), "{}", head);
    assert!(!head.contains("Content-Length"), "{}", head);
    assert!(body.is_empty());
    let _ = std::fs::remove_file(&path);
}
