//! `--static` and `--console`: plain HTTP on the WebSocket port, with every
//! way out of the directory refused.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{http_get, http_request, proc_io, proc_status_kb, Tinyws, TIMEOUT};

/// A scratch directory: `www/` to serve, and a secret beside it.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let base = std::env::temp_dir().join(format!("tinyws-{}-{}", name, std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let www = base.join("www");
        fs::create_dir_all(www.join("sub")).unwrap();
        fs::create_dir_all(www.join("empty")).unwrap();
        let files: [(&str, &[u8]); 14] = [
            ("index.html", b"<h1>home</h1>"),
            ("app.js", b"console.log(1)"),
            ("style.css", b"body{}"),
            ("data.json", b"{\"t\":21.5}"),
            ("pic.svg", b"<svg/>"),
            ("pic.png", b"\x89PNG\r\n\x1a\n"),
            ("note.txt", b"hello"),
            ("sub/index.html", b"<h1>sub</h1>"),
            ("doc.pdf", b"%PDF-1.4"),
            ("clip.mp4", b"...."),
            ("font.woff2", b"wOF2"),
            ("site.webmanifest", b"{}"),
            (".env", b"PASSWORD=hunter2"),
            (".git/config", b"[core] secret"),
        ];
        fs::create_dir_all(www.join(".git")).unwrap();
        for (name, data) in files {
            fs::write(www.join(name), data).unwrap();
        }
        fs::write(base.join("secret.txt"), b"TOP SECRET").unwrap();
        symlink(base.join("secret.txt"), www.join("escape")).unwrap();
        symlink("..", www.join("up")).unwrap();
        symlink("note.txt", www.join("inner")).unwrap();
        symlink(".env", www.join("visible")).unwrap();
        Scratch(base)
    }

    fn www(&self) -> String {
        self.0.join("www").to_str().unwrap().to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn files_with_their_content_types() {
    let dir = Scratch::new("static");
    let server = Tinyws::start(&["echo", "--addr", "127.0.0.1:0", "--static", &dir.www()]);
    for (path, body, ty) in [
        ("/", &b"<h1>home</h1>"[..], "text/html; charset=utf-8"),
        ("/index.html", b"<h1>home</h1>", "text/html; charset=utf-8"),
        ("/sub/", b"<h1>sub</h1>", "text/html; charset=utf-8"),
        (
            "/app.js?v=2",
            b"console.log(1)",
            "text/javascript; charset=utf-8",
        ),
        ("/style.css", b"body{}", "text/css; charset=utf-8"),
        ("/data.json", b"{\"t\":21.5}", "application/json"),
        ("/pic.svg", b"<svg/>", "image/svg+xml"),
        ("/pic.png", b"\x89PNG\r\n\x1a\n", "image/png"),
        ("/note.txt", b"hello", "text/plain; charset=utf-8"),
        ("/%6Eote.txt", b"hello", "text/plain; charset=utf-8"),
        // A symlink inside the directory is followed; the target names the type.
        ("/inner", b"hello", "text/plain; charset=utf-8"),
    ] {
        let reply = http_get(server.addr, path);
        assert_eq!(reply.status, 200, "{}: {:?}", path, reply);
        assert_eq!(reply.body, body, "{}", path);
        assert_eq!(reply.header("content-type"), Some(ty), "{}", path);
    }
    for missing in ["/missing.html", "/empty/", "/sub/nope/", "//etc/passwd"] {
        assert_eq!(http_get(server.addr, missing).status, 404, "{}", missing);
    }
    // The WebSocket endpoint still works on the same port.
    let mut client = server.connect("/");
    client.send_text("still a websocket");
    assert_eq!(client.read_text(), "still a websocket");
}

#[test]
fn every_way_out_of_the_directory_is_refused() {
    let dir = Scratch::new("traversal");
    let server = Tinyws::start(&["echo", "--addr", "127.0.0.1:0", "--static", &dir.www()]);
    for (target, status) in [
        ("/../secret.txt", 403),
        ("/sub/../../secret.txt", 403),
        ("/%2e%2e/secret.txt", 403),
        ("/%2E%2E%2Fsecret.txt", 403),
        ("/sub/..%2f..%2fsecret.txt", 403),
        ("/escape", 403),
        ("/up/secret.txt", 403),
        // A symlink out and back in lands inside: allowed.
        ("/up/www/note.txt", 200),
        ("/%00", 400),
        ("/%zz", 400),
        // An absolute-form target's authority is the host checked: not
        // this device's name (issue 16, item 3).
        ("http://example.com/secret.txt", 421),
    ] {
        let reply = http_get(server.addr, target);
        assert_eq!(reply.status, status, "{}: {:?}", target, reply);
        assert!(
            !String::from_utf8_lossy(&reply.body).contains("SECRET"),
            "{} leaked the secret",
            target
        );
    }
}

#[test]
fn console_page_at_the_root() {
    let dir = Scratch::new("console");
    let server = Tinyws::start(&[
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--console",
        "--static",
        &dir.www(),
        "--",
        "cat",
    ]);
    let page = http_get(server.addr, "/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("new WebSocket("), "{}", html);
    assert!(html.contains("<input"), "{}", html);
    // Other files still come from --static.
    assert_eq!(http_get(server.addr, "/note.txt").body, b"hello");
    // The page is same-origin, so a browser on it may connect.
    let origin = format!("Origin: http://{}", server.addr);
    let mut client = common::Client::connect(server.addr, "/", &[origin.as_str()]);
    client.send_text("from the console");
    assert_eq!(client.read_text(), "from the console");
}

#[test]
fn without_static_or_console_a_page_request_gets_426() {
    let server = Tinyws::start(&["echo", "--addr", "127.0.0.1:0"]);
    assert_eq!(http_get(server.addr, "/").status, 426);
}

#[test]
fn head_gets_the_get_headers_and_reads_no_file() {
    let dir = Scratch::new("head");
    // 20 MiB, sparse: over the old 16 MiB limit, and no disk to speak of.
    let big = fs::File::create(dir.0.join("www/big.bin")).unwrap();
    big.set_len(20 << 20).unwrap();
    drop(big);
    let server = Tinyws::start(&["echo", "--addr", "127.0.0.1:0", "--static", &dir.www()]);
    for path in ["/note.txt", "/", "/data.json"] {
        let get = http_get(server.addr, path);
        let head = http_request(server.addr, "HEAD", path, &[]);
        assert_eq!(head.status, 200, "{}: {:?}", path, head);
        assert!(head.body.is_empty(), "{}: {:?}", path, head);
        for name in ["content-length", "content-type", "etag", "last-modified"] {
            assert!(get.header(name).is_some(), "{}: {:?}", name, get);
            assert_eq!(head.header(name), get.header(name), "{} {}", path, name);
        }
        assert_eq!(
            head.header("content-length"),
            Some(get.body.len().to_string().as_str())
        );
    }
    let read_before = proc_io(server.pid(), "rchar");
    let head = http_request(server.addr, "HEAD", "/big.bin", &[]);
    assert_eq!(head.status, 200, "{:?}", head);
    assert_eq!(head.header("content-length"), Some("20971520"));
    assert!(head.body.is_empty());
    let read = proc_io(server.pid(), "rchar") - read_before;
    assert!(read < 1 << 20, "a HEAD read {} bytes", read);
    // And a GET sends all of it.
    let get = http_get(server.addr, "/big.bin");
    assert_eq!(get.body.len(), 20 << 20);
    assert!(get.body.iter().all(|b| *b == 0));
}

/// Sends a GET for `path` and waits for the first byte of the answer,
/// reading nothing more.
fn stalled_get(server: &Tinyws, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(stream, "GET {} HTTP/1.1\r\nHost: localhost\r\n\r\n", path).unwrap();
    let mut first = [0u8; 1];
    assert_eq!(stream.peek(&mut first).unwrap(), 1);
    stream
}

#[test]
fn files_go_out_in_bounded_memory_to_clients_that_do_not_read() {
    let dir = Scratch::new("bounded");
    // 15 MiB of a pattern: under the old 16 MiB limit, which read it whole.
    const SIZE: usize = 15 << 20;
    let data: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    fs::write(dir.0.join("www/big.bin"), &data).unwrap();
    let server = Tinyws::start(&["echo", "--addr", "127.0.0.1:0", "--static", &dir.www()]);
    assert_eq!(http_get(server.addr, "/note.txt").status, 200);
    let before = proc_status_kb(server.pid(), "VmRSS");
    // Four clients ask for the file and read nothing: each answer is stuck
    // behind full socket buffers, with whatever the server holds for it.
    let stalled: Vec<TcpStream> = (0..4).map(|_| stalled_get(&server, "/big.bin")).collect();
    let grown = proc_status_kb(server.pid(), "VmRSS").saturating_sub(before);
    assert!(
        grown < 4 * 1024,
        "RSS grew by {} KiB for 4 stalled 15 MiB downloads",
        grown
    );
    // A client that does read gets every byte, in order.
    let mut reader = stalled.into_iter().next().unwrap();
    let mut all = Vec::new();
    reader.read_to_end(&mut all).unwrap();
    let body = &all[all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
    assert_eq!(body.len(), SIZE);
    assert!(body == &data[..], "the body differs from the file");
}

#[test]
fn directories_redirect_and_copies_revalidate() {
    let dir = Scratch::new("polish");
    let server = Tinyws::start(&["echo", "--addr", "127.0.0.1:0", "--static", &dir.www()]);
    for (target, location) in [
        ("/sub", "/sub/"),
        ("/sub?x=1", "/sub/?x=1"),
        ("/up/www/sub", "/up/www/sub/"),
        // Never a redirect to another site.
        ("//sub", "/sub/"),
    ] {
        let reply = http_get(server.addr, target);
        assert_eq!(reply.status, 301, "{}: {:?}", target, reply);
        assert_eq!(reply.header("location"), Some(location), "{}", target);
    }
    let first = http_get(server.addr, "/note.txt");
    let etag = first.header("etag").expect("an ETag").to_owned();
    let modified = first
        .header("last-modified")
        .expect("Last-Modified")
        .to_owned();
    assert!(modified.ends_with(" GMT"), "{}", modified);
    let if_none_match = format!("If-None-Match: \"nope\", {}", etag);
    let if_modified_since = format!("If-Modified-Since: {}", modified);
    for extra in [
        &if_none_match,
        &format!("If-None-Match: W/{}", etag),
        &if_modified_since,
    ] {
        let again = http_request(server.addr, "GET", "/note.txt", &[extra.as_str()]);
        assert_eq!(again.status, 304, "{}: {:?}", extra, again);
        assert!(again.body.is_empty());
        assert_eq!(again.header("content-length"), None, "{:?}", again);
        assert_eq!(again.header("etag"), Some(etag.as_str()));
    }
    for extra in [
        "If-None-Match: \"other\"",
        "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT",
        "If-Modified-Since: not a date",
    ] {
        let again = http_request(server.addr, "GET", "/note.txt", &[extra]);
        assert_eq!(again.status, 200, "{}: {:?}", extra, again);
        assert_eq!(again.body, b"hello");
    }
    // A changed file gets a new ETag.
    fs::write(dir.0.join("www/note.txt"), b"hello again").unwrap();
    let changed = http_request(server.addr, "GET", "/note.txt", &[if_none_match.as_str()]);
    assert_eq!(changed.status, 200);
    assert_eq!(changed.body, b"hello again");

    for (path, ty) in [
        ("/doc.pdf", "application/pdf"),
        ("/clip.mp4", "video/mp4"),
        ("/font.woff2", "font/woff2"),
        ("/site.webmanifest", "application/manifest+json"),
    ] {
        assert_eq!(http_get(server.addr, path).header("content-type"), Some(ty));
    }
}

#[test]
fn dotfiles_are_not_served_unless_asked() {
    let dir = Scratch::new("dotfiles");
    let server = Tinyws::start(&["echo", "--addr", "127.0.0.1:0", "--static", &dir.www()]);
    for path in ["/.env", "/%2eenv", "/.git/config", "/.git/", "/visible"] {
        let reply = http_get(server.addr, path);
        assert_eq!(reply.status, 404, "{}: {:?}", path, reply);
        let body = String::from_utf8_lossy(&reply.body);
        assert!(
            !body.contains("hunter2") && !body.contains("secret"),
            "{}",
            path
        );
    }
    let open = Tinyws::start(&[
        "echo",
        "--addr",
        "127.0.0.1:0",
        "--static",
        &dir.www(),
        "--dotfiles",
    ]);
    assert_eq!(http_get(open.addr, "/.env").body, b"PASSWORD=hunter2");
    assert_eq!(http_get(open.addr, "/visible").body, b"PASSWORD=hunter2");
}
