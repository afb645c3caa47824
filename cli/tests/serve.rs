//! `tinyws serve`: one process per connection, lines both ways, CGI-style
//! environment, close codes, and no process left behind.

mod common;

use common::{eventually, exists, Client, Tinyws};

const ADDR: [&str; 2] = ["--addr", "127.0.0.1:0"];

fn serve(extra: &[&str], command: &[&str]) -> Tinyws {
    serve_with(extra, command, &[])
}

fn serve_with(extra: &[&str], command: &[&str], env: &[(&str, &str)]) -> Tinyws {
    let mut args = vec!["serve"];
    args.extend_from_slice(&ADDR);
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(command);
    Tinyws::start_with(&args, env)
}

#[test]
fn lines_become_messages_and_messages_become_lines() {
    let server = serve(
        &[],
        &[
            "sh",
            "-c",
            r#"printf 'ready\r\ntwo\nlines\n'; while read -r line; do echo "got:$line"; done"#,
        ],
    );
    let mut client = server.connect("/");
    // CRLF and LF endings are both stripped; one write of two lines is two messages.
    assert_eq!(client.read_text(), "ready");
    assert_eq!(client.read_text(), "two");
    assert_eq!(client.read_text(), "lines");
    client.send_text("one");
    assert_eq!(client.read_text(), "got:one");
    client.send_text("two words");
    assert_eq!(client.read_text(), "got:two words");
    client.send_text("ünïcödé ✓");
    assert_eq!(client.read_text(), "got:ünïcödé ✓");
    // The client leaves: stdin closes, the loop ends, the process exits.
    assert_eq!(client.close(), Some(1000));
    eventually("the process to be reaped", || server.children().is_empty());
}

#[test]
fn binary_mode_passes_bytes_through() {
    let server = serve(&["--binary"], &["cat"]);
    let mut client = server.connect("/");
    let bytes = [0u8, 1, 2, b'\n', 0xff, 0xfe];
    client.send(0x2, &bytes).unwrap();
    let mut echoed = Vec::new();
    while echoed.len() < bytes.len() {
        let frame = client.read_data();
        assert_eq!(frame.opcode, 0x2);
        echoed.extend(frame.payload);
    }
    assert_eq!(echoed, bytes);
    assert_eq!(client.close(), Some(1000));
}

#[test]
fn process_exit_closes_with_1000() {
    let server = serve(&[], &["sh", "-c", "echo bye; exit 7"]);
    let mut client = server.connect("/");
    assert_eq!(client.read_text(), "bye");
    assert_eq!(client.read_close(), Some(1000));
    eventually("the process to be reaped", || server.children().is_empty());
}

#[test]
fn failure_to_start_closes_with_1011() {
    let server = serve(&[], &["/nonexistent/tinyws-test-program"]);
    let mut client = server.connect("/");
    assert_eq!(client.read_close(), Some(1011));
    // The server keeps serving.
    let mut again = server.connect("/");
    assert_eq!(again.read_close(), Some(1011));
}

#[test]
fn cgi_environment_and_nothing_else() {
    let server = serve_with(
        &["--passenv", "TINYWS_TEST_KEEP"],
        &["env"],
        &[
            ("TINYWS_TEST_KEEP", "kept"),
            ("TINYWS_TEST_SECRET", "must not leak"),
        ],
    );
    let mut client = Client::connect(
        server.addr,
        "/feed/a%20b?x=1&y=two",
        &[
            "X-Custom-Thing: hello",
            "Cookie: a=1",
            "Cookie: b=2",
            "Proxy: http://evil.example",
            // A proxy's header, and a client's forgery of it with `_`.
            "X-Forwarded-For: 192.0.2.7",
            "X_Forwarded_For: 203.0.113.66",
            "x_forwarded-for: 203.0.113.67",
        ],
    );
    let local_port = client.stream.local_addr().unwrap().port();
    let mut env = std::collections::BTreeMap::new();
    loop {
        let frame = client.read_frame();
        match frame.opcode {
            0x1 => {
                let line = String::from_utf8(frame.payload).unwrap();
                let (k, v) = line.split_once('=').expect("NAME=value");
                env.insert(k.to_owned(), v.to_owned());
            }
            0x8 => break,
            _ => {}
        }
    }
    let get = |k: &str| env.get(k).map(String::as_str);
    assert_eq!(get("REMOTE_ADDR"), Some("127.0.0.1"));
    assert_eq!(get("REMOTE_PORT"), Some(local_port.to_string().as_str()));
    assert_eq!(get("REQUEST_URI"), Some("/feed/a%20b?x=1&y=two"));
    assert_eq!(get("PATH_INFO"), Some("/feed/a%20b"));
    assert_eq!(get("QUERY_STRING"), Some("x=1&y=two"));
    assert_eq!(
        get("SERVER_PORT"),
        Some(server.addr.port().to_string().as_str())
    );
    assert_eq!(get("REQUEST_METHOD"), Some("GET"));
    assert_eq!(get("HTTP_X_CUSTOM_THING"), Some("hello"));
    assert_eq!(get("HTTP_COOKIE"), Some("a=1, b=2"));
    assert_eq!(get("HTTP_UPGRADE"), Some("websocket"));
    assert_eq!(get("HTTP_HOST"), Some(server.addr.to_string().as_str()));
    assert_eq!(get("TINYWS_TEST_KEEP"), Some("kept"));
    assert!(get("PATH").is_some());
    assert_eq!(get("HTTP_PROXY"), None, "httpoxy");
    assert_eq!(
        get("HTTP_X_FORWARDED_FOR"),
        Some("192.0.2.7"),
        "forged with _"
    );
    let expected = [
        "PATH",
        "TINYWS_TEST_KEEP",
        "GATEWAY_INTERFACE",
        "SERVER_PROTOCOL",
        "SERVER_SOFTWARE",
        "SERVER_PORT",
        "REMOTE_ADDR",
        "REMOTE_PORT",
        "REQUEST_METHOD",
        "REQUEST_URI",
        "PATH_INFO",
        "QUERY_STRING",
    ];
    for name in env.keys() {
        assert!(
            name.starts_with("HTTP_") || expected.contains(&name.as_str()),
            "{} leaked into the environment",
            name
        );
    }
}

/// The script prints its pid, so the test can look for it in /proc.
fn pid_of(client: &mut Client) -> u32 {
    client.read_text().parse().expect("a pid")
}

#[test]
fn no_process_left_after_a_client_leaves() {
    // Exits when its stdin closes.
    let polite = serve(&[], &["sh", "-c", "echo $$; exec cat"]);
    let mut client = polite.connect("/");
    let pid = pid_of(&mut client);
    assert!(exists(pid));
    assert_eq!(polite.children(), [pid]);
    assert_eq!(client.close(), Some(1000));
    eventually("the process to be reaped", || !exists(pid));
    assert!(polite.children().is_empty());
}

#[test]
fn a_process_ignoring_stdin_and_sigterm_is_killed() {
    let stubborn = serve(
        &["--grace", "100ms"],
        &[
            "sh",
            "-c",
            // An ignored signal stays ignored across exec; no grandchild is left.
            "trap '' TERM; echo $$; exec sleep 600",
        ],
    );
    let mut client = stubborn.connect("/");
    let pid = pid_of(&mut client);
    assert!(exists(pid));
    // An abrupt disconnect, without a Close.
    drop(client);
    eventually("the process to be killed and reaped", || !exists(pid));
    eventually("no children left", || stubborn.children().is_empty());
    assert!(
        stubborn.log().iter().any(|l| l.contains("SIGKILL")),
        "{:?}",
        stubborn.log()
    );
}

#[test]
fn a_process_not_reading_its_input_gets_the_client_cut_off_with_1008() {
    // The pipe holds 64 KiB, the queue 64 KiB more; nothing is read.
    let server = serve(
        &["--max-message", "1k", "--grace", "100ms"],
        &["sh", "-c", "echo $$; exec sleep 600"],
    );
    let mut client = server.connect("/");
    let pid = pid_of(&mut client);
    let line = "x".repeat(1000);
    for _ in 0..200 {
        if client.send(0x1, line.as_bytes()).is_err() {
            break;
        }
    }
    assert_eq!(client.read_close(), Some(1008));
    eventually("the process to be stopped and reaped", || !exists(pid));
}

#[test]
fn long_lines_split_between_characters() {
    let server = serve(
        &["--max-message", "10"],
        &["sh", "-c", "printf '€€€€€€€'; echo; echo 'ok'"],
    );
    let mut client = server.connect("/");
    // 21 bytes in messages of at most 10: a € (3 bytes) is never cut.
    assert_eq!(client.read_text(), "€€€");
    assert_eq!(client.read_text(), "€€€");
    assert_eq!(client.read_text(), "€");
    assert_eq!(client.read_text(), "ok");
}

/// Whether `pid` is running: it exists and is not a zombie.
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", pid)) {
        Ok(stat) => {
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next());
            state != Some("Z")
        }
        Err(_) => false,
    }
}

#[test]
fn background_children_holding_stdout_leave_no_thread_or_pipe_behind() {
    // CMD starts two background children that keep its stdout open, one
    // that SIGTERM stops and one that ignores it, prints their pids and
    // waits for its stdin to close.
    let server = serve(
        &["--grace", "100ms"],
        &[
            "sh",
            "-c",
            "sleep 60 & echo $!; (trap '' TERM; exec sleep 60) & echo $!; read x",
        ],
    );
    // Start-up is over (the signal thread's descriptors exist) before the
    // descriptors are counted.
    eventually("the signal thread", || {
        common::thread_names(server.pid()).contains(&"tinyws-signals".to_owned())
    });
    let fds_before = common::open_fds(server.pid());
    let mut stubborn = KillOnDrop(Vec::new());
    let mut polite = KillOnDrop(Vec::new());
    for _ in 0..5 {
        let mut client = server.connect("/");
        polite.0.push(pid_of(&mut client));
        stubborn.0.push(pid_of(&mut client));
        assert_eq!(client.close(), Some(1000));
    }
    let pumps = || {
        common::thread_names(server.pid())
            .iter()
            .filter(|n| n.starts_with("tinyws-out"))
            .count()
    };
    eventually("every output pump to end", || pumps() == 0);
    eventually("every pipe to be closed", || {
        common::open_fds(server.pid()) <= fds_before
    });
    // CMD's group was signalled: the children that heed SIGTERM are gone.
    eventually("background children to be stopped", || {
        !polite.0.iter().any(|pid| running(*pid))
    });
    drop(stubborn);
}

/// Processes the test started, through tinyws, and kills when it ends.
struct KillOnDrop(Vec<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for pid in &self.0 {
            if running(*pid) {
                let pid = rustix::process::Pid::from_raw(*pid as i32).unwrap();
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::Kill);
            }
        }
    }
}
