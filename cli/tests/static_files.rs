//! `--static` and `--console`: plain HTTP on the WebSocket port, with every
//! way out of the directory refused.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use common::{http_get, Tinyws};

/// A scratch directory: `www/` to serve, and a secret beside it.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let base = std::env::temp_dir().join(format!("tinyws-{}-{}", name, std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let www = base.join("www");
        fs::create_dir_all(www.join("sub")).unwrap();
        fs::create_dir_all(www.join("empty")).unwrap();
        let files: [(&str, &[u8]); 8] = [
            ("index.html", b"<h1>home</h1>"),
            ("app.js", b"console.log(1)"),
            ("style.css", b"body{}"),
            ("data.json", b"{\"t\":21.5}"),
            ("pic.svg", b"<svg/>"),
            ("pic.png", b"\x89PNG\r\n\x1a\n"),
            ("note.txt", b"hello"),
            ("sub/index.html", b"<h1>sub</h1>"),
        ];
        for (name, data) in files {
            fs::write(www.join(name), data).unwrap();
        }
        fs::write(base.join("secret.txt"), b"TOP SECRET").unwrap();
        symlink(base.join("secret.txt"), www.join("escape")).unwrap();
        symlink("..", www.join("up")).unwrap();
        symlink("note.txt", www.join("inner")).unwrap();
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
        ("/sub", b"<h1>sub</h1>", "text/html; charset=utf-8"),
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
