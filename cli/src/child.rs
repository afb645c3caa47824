//! Starting CMD with a clean environment, reading its output as messages, and
//! stopping and reaping it.

use std::ffi::{OsStr, OsString};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, Signal, WaitId, WaitidOptions};
use tinyws::{Message, Request};

/// PATH when tinyws itself has none, as a login shell would set it.
const FALLBACK_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// How often a stopping process is checked on.
const POLL: Duration = Duration::from_millis(10);
/// The largest binary chunk read from CMD at once.
const MAX_CHUNK: usize = 64 * 1024;

/// The variables CMD inherits: PATH and those named with `--passenv`.
pub(crate) fn inherited_env(passenv: &[String]) -> Vec<(OsString, OsString)> {
    let mut env = vec![(
        OsString::from("PATH"),
        std::env::var_os("PATH").unwrap_or_else(|| FALLBACK_PATH.into()),
    )];
    for name in passenv {
        if let Some(value) = std::env::var_os(name) {
            env.push((name.into(), value));
        }
    }
    env
}

/// CGI/1.1-style variables (RFC 3875) describing the WebSocket request.
pub(crate) fn cgi_env(request: Option<&Request>, server_port: u16) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = Vec::new();
    let mut set = |k: &str, v: OsString| env.push((k.into(), v));
    set("GATEWAY_INTERFACE", "CGI/1.1".into());
    set("SERVER_PROTOCOL", "HTTP/1.1".into());
    set(
        "SERVER_SOFTWARE",
        concat!("tinyws/", env!("CARGO_PKG_VERSION")).into(),
    );
    set("SERVER_PORT", server_port.to_string().into());
    let request = match request {
        Some(r) => r,
        None => return env,
    };
    // Behind a trusted proxy, the client's address; its port is not known.
    if let Some(client) = request.client_addr() {
        set("REMOTE_ADDR", client.to_string().into());
    }
    if let Some(peer) = request
        .peer_addr()
        .filter(|p| Some(p.ip()) == request.client_addr())
    {
        set("REMOTE_PORT", peer.port().to_string().into());
    }
    set("REQUEST_METHOD", request.method().into());
    set("REQUEST_URI", request.uri().into());
    set("PATH_INFO", request.path().into());
    set("QUERY_STRING", request.query().unwrap_or("").into());
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, value) in request.headers() {
        // `X_Forwarded_For` would become the same variable as the
        // `X-Forwarded-For` a proxy sets, so a client could forge it: names
        // with `_` are dropped, as CGI servers do.
        if name.contains('_') {
            continue;
        }
        let key = format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_"));
        // HTTP_PROXY would tell many HTTP clients in CMD to use a proxy the
        // client chose ("httpoxy"); names a shell cannot use are skipped.
        if key == "HTTP_PROXY" || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        match headers.iter_mut().find(|(k, _)| *k == key) {
            // Repeated headers are joined as one, as RFC 9110 section 5.3 allows.
            Some((_, joined)) => {
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(value);
            }
            None => headers.push((key, value.to_vec())),
        }
    }
    for (key, value) in headers {
        env.push((key.into(), OsString::from_vec(value)));
    }
    env
}

/// The first argument that makes tinyws put itself in a new process group
/// and exec the rest: how CMD gets a group of its own. (std's
/// `CommandExt::process_group` needs Rust 1.64, and `pre_exec` needs
/// `unsafe`.) Not an option for users; `--help` does not list it.
pub(crate) const NEW_GROUP: &str = "--exec-in-new-process-group";

/// Starts `command` in a process group of its own, with only `env` for its
/// environment, stdout piped and stderr shared with tinyws (so it reaches
/// the terminal or the journal). The group lets [`stop`] signal whatever
/// CMD started in the background along with CMD.
pub(crate) fn spawn(
    command: &[OsString],
    env: Vec<(OsString, OsString)>,
    stdin: fn() -> Stdio,
) -> io::Result<Child> {
    let program = match command.first() {
        Some(program) => program,
        None => return Err(io::Error::new(io::ErrorKind::InvalidInput, "no command")),
    };
    // Checked here, since the exec happens in the trampoline, where a
    // failure could only show as exit status 127.
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    find_program(program, path)?;
    spawn_in_group(program, command, env, stdin)
}

/// `program` with `args`, only `env`, the given stdin, stdout piped and
/// stderr shared with tinyws.
fn command(
    program: &OsStr,
    args: &[OsString],
    env: &[(OsString, OsString)],
    stdin: fn() -> Stdio,
) -> Command {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(env.iter().cloned())
        .stdin(stdin())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// Rust 1.64 and later: std puts the child in its own group.
#[cfg(tinyws_process_group)]
#[allow(clippy::incompatible_msrv)] // compiled only by 1.64 or later (build.rs)
fn spawn_in_group(
    program: &OsString,
    args: &[OsString],
    env: Vec<(OsString, OsString)>,
    stdin: fn() -> Stdio,
) -> io::Result<Child> {
    use std::os::unix::process::CommandExt as _;
    command(program, &args[1..], &env, stdin)
        .process_group(0)
        .spawn()
}

/// Rust 1.63: tinyws starts itself as a trampoline that makes the group and
/// execs CMD.
#[cfg(not(tinyws_process_group))]
fn spawn_in_group(
    program: &OsString,
    args: &[OsString],
    env: Vec<(OsString, OsString)>,
    stdin: fn() -> Stdio,
) -> io::Result<Child> {
    let mut trampoline = vec![OsString::from(NEW_GROUP)];
    trampoline.extend(args.iter().cloned());
    let group = std::env::current_exe()
        .and_then(|exe| command(exe.as_os_str(), &trampoline, &env, stdin).spawn());
    match group {
        Ok(child) => Ok(child),
        Err(e) => {
            // tinyws cannot start itself: CMD then runs without a group of
            // its own, and only CMD itself is signalled.
            log::warn!(
                "cannot start CMD in its own process group ({}); its background processes will not be signalled",
                e
            );
            command(program, &args[1..], &env, stdin).spawn()
        }
    }
}

/// The trampoline: runs in the child started by [`spawn`], becomes the
/// leader of a new process group and execs `command`, keeping the pid,
/// environment and descriptors. Returns only on failure, with the status.
pub(crate) fn exec_in_new_group(command: &[OsString]) -> i32 {
    let (program, args) = match command.split_first() {
        Some(parts) => parts,
        None => return 127,
    };
    if let Err(e) = rustix::process::setpgid(None, None) {
        eprintln!("tinyws: cannot make a process group: {}", e);
        return 127;
    }
    // std restores SIGPIPE and the signal mask for the new program.
    let e = Command::new(program).args(args).exec();
    eprintln!("tinyws: cannot start {}: {}", program.to_string_lossy(), e);
    127
}

/// Whether `program` can be started: a path to an executable file, or a
/// name found in `path` as execvp would search it.
fn find_program(program: &OsStr, path: Option<&OsStr>) -> io::Result<()> {
    let executable = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    let program = Path::new(program);
    if program.as_os_str().is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "empty command"));
    }
    if program.components().count() > 1 || program.is_absolute() {
        return match program.metadata() {
            Err(e) => Err(e),
            Ok(_) if executable(program) => Ok(()),
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "not an executable file",
            )),
        };
    }
    let path = path.unwrap_or_else(|| OsStr::new(FALLBACK_PATH));
    if std::env::split_paths(path).any(|dir| executable(&dir.join(program))) {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            "not found in PATH (give its full path, or its directory with --passenv PATH)",
        ))
    }
}

/// Stops a child whose stdin is already closed, and its process group, and
/// reaps it: it gets `grace` to exit by itself, then the group gets SIGTERM
/// and `grace` again, then SIGKILL. When CMD exits by itself, what it left
/// running in its group (`sleep 60 &`) gets SIGTERM. Returns CMD's exit
/// status; no zombie is left.
pub(crate) fn stop(child: &mut Child, grace: Duration) -> io::Result<ExitStatus> {
    // CMD is not reaped until the end, so its pid, which is also its
    // group's id, cannot have been reused by then.
    let pid = Pid::from_child(child);
    if exited_within(pid, grace)? {
        signal_group(pid, Signal::Term);
    } else {
        log::debug!(
            "process {} still running: SIGTERM to its group",
            pid.as_raw_nonzero()
        );
        signal_group(pid, Signal::Term);
        if !exited_within(pid, grace)? {
            log::warn!("process {} ignored SIGTERM: SIGKILL", pid.as_raw_nonzero());
            signal_group(pid, Signal::Kill);
        }
    }
    child.wait()
}

/// Signals CMD's group; CMD alone if the group is gone.
fn signal_group(pid: Pid, signal: Signal) {
    if rustix::process::kill_process_group(pid, signal).is_err() {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// Whether the child exits within `limit`, without reaping it (`WNOWAIT`).
fn exited_within(pid: Pid, limit: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + limit;
    let options = WaitidOptions::EXITED | WaitidOptions::NOHANG | WaitidOptions::NOWAIT;
    loop {
        match rustix::process::waitid(WaitId::Pid(pid), options) {
            Ok(Some(_)) => return Ok(true),
            Ok(None) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        thread::sleep(POLL.min(deadline - now));
    }
}

/// CMD's output, read until it ends or until the other end of `wake` is
/// dropped (the connection is over), whichever comes first. Without it, a
/// background child of CMD that keeps CMD's stdout open would keep the
/// reading thread, and the pipe, for as long as it lives.
#[derive(Debug)]
pub(crate) struct UntilWoken<R> {
    source: R,
    wake: UnixStream,
}

impl<R> UntilWoken<R> {
    /// The source, and the end whose drop stops the reading.
    pub(crate) fn new(source: R) -> io::Result<(UntilWoken<R>, UnixStream)> {
        let (wake, waker) = UnixStream::pair()?;
        Ok((UntilWoken { source, wake }, waker))
    }
}

impl<R: Read + AsFd> Read for UntilWoken<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut fds = [
                PollFd::new(&self.source, PollFlags::IN),
                PollFd::new(&self.wake, PollFlags::IN),
            ];
            match rustix::event::poll(&mut fds, -1) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            if !fds[1].revents().is_empty() {
                // Nothing is ever written to `wake`: this is its other end
                // closing. The output counts as ended.
                return Ok(0);
            }
            if !fds[0].revents().is_empty() {
                return self.source.read(buf);
            }
        }
    }
}

/// The exit code a shell would report: the status, or 128 + the signal.
pub(crate) fn exit_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 1,
    }
}

/// Shows a command the way a user typed it, for log lines.
pub(crate) fn display(command: &[OsString]) -> String {
    command
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// How CMD's output becomes messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// One text message per line, without its line ending.
    Lines,
    /// Raw chunks as binary messages, as they arrive.
    Binary,
}

/// Reads CMD's output (or tinyws's stdin) as a sequence of messages.
pub(crate) struct Output<R> {
    reader: BufReader<R>,
    framing: Framing,
    max: usize,
    /// The start of a character that a split line cut off: the beginning of
    /// the next message.
    carry: Vec<u8>,
}

impl<R: Read> Output<R> {
    /// Lines longer than `max` bytes are split into messages of `max` bytes.
    pub(crate) fn new(source: R, framing: Framing, max: usize) -> Output<R> {
        let max = max.max(1);
        let capacity = match framing {
            Framing::Lines => 8 * 1024,
            Framing::Binary => max.min(MAX_CHUNK),
        };
        Output {
            reader: BufReader::with_capacity(capacity, source),
            framing,
            max,
            carry: Vec::new(),
        }
    }

    /// The next message, or `None` at the end of the output.
    ///
    /// # Errors
    /// Read errors other than interruption.
    pub(crate) fn next_message(&mut self) -> io::Result<Option<Message>> {
        match self.framing {
            Framing::Binary => {
                let chunk = loop {
                    match self.reader.fill_buf() {
                        Ok(buf) => break buf,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                };
                if chunk.is_empty() {
                    return Ok(None);
                }
                let take = chunk.len().min(self.max);
                let message = Message::Binary(chunk[..take].to_vec());
                self.reader.consume(take);
                Ok(Some(message))
            }
            Framing::Lines => Ok(self.next_line()?.map(|line| {
                Message::Text(
                    String::from_utf8(line)
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                )
            })),
        }
    }

    fn next_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut line = std::mem::take(&mut self.carry);
        loop {
            let available = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(if line.is_empty() { None } else { Some(line) });
            }
            let room = self.max - line.len();
            // A line of exactly `max` bytes still ends at its own newline.
            match available.iter().take(room + 1).position(|b| *b == b'\n') {
                Some(i) => {
                    line.extend_from_slice(&available[..i]);
                    self.reader.consume(i + 1);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    return Ok(Some(line));
                }
                None => {
                    let take = available.len().min(room);
                    line.extend_from_slice(&available[..take]);
                    self.reader.consume(take);
                    if line.len() == self.max {
                        // Split before a character cut in two, not inside it.
                        let keep = complete_prefix(&line);
                        if keep > 0 {
                            self.carry = line.split_off(keep);
                        }
                        return Ok(Some(line));
                    }
                }
            }
        }
    }
}

/// How much of `bytes` to send so that it does not end inside a UTF-8
/// character: all of it, or up to the start of an unfinished character at
/// its end. Invalid bytes are left as they are (they become U+FFFD).
fn complete_prefix(bytes: &[u8]) -> usize {
    let len = bytes.len();
    // A character is at most 4 bytes, so its start is among the last 3.
    for start in (len.saturating_sub(3)..len).rev() {
        if bytes[start] & 0xC0 != 0x80 {
            return match std::str::from_utf8(&bytes[start..]) {
                // Valid so far, but cut short.
                Err(e) if e.error_len().is_none() => start,
                _ => len,
            };
        }
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(input: &[u8], framing: Framing, max: usize) -> Vec<Message> {
        let mut out = Output::new(input, framing, max);
        let mut all = Vec::new();
        while let Some(m) = out.next_message().unwrap() {
            all.push(m);
        }
        all
    }

    fn texts(input: &[u8], max: usize) -> Vec<String> {
        messages(input, Framing::Lines, max)
            .into_iter()
            .map(|m| match m {
                Message::Text(s) => s,
                other => panic!("{:?}", other),
            })
            .collect()
    }

    #[test]
    fn lines_become_messages() {
        assert_eq!(texts(b"a\nbb\r\n\nlast", 100), ["a", "bb", "", "last"]);
        assert_eq!(texts(b"", 100), Vec::<String>::new());
        assert_eq!(texts(b"bad \xff byte\n", 100), ["bad \u{fffd} byte"]);
        // A line longer than the limit is split, never buffered without bound.
        assert_eq!(texts(b"abcdefg\nhi\n", 3), ["abc", "def", "g", "hi"]);
        assert_eq!(texts(b"abc\nd\n", 3), ["abc", "d"]);
    }

    #[test]
    fn long_lines_split_between_characters() {
        // One character of each length, and invalid bytes, at every offset
        // and every limit from 4 bytes (the longest character) up.
        let text = "a€ü😀b€€€€€€€\u{7ff}\u{800}\u{ffff}\u{10000}z";
        for skew in 0..4 {
            let line = format!("{}{}", &"xyz"[..skew], text);
            for max in 4..=line.len() + 1 {
                let got = texts(format!("{}\nnext\n", line).as_bytes(), max);
                let (last, parts) = got.split_last().unwrap();
                assert_eq!(last, "next");
                assert_eq!(parts.concat(), line, "max {}: {:?}", max, parts);
                assert!(parts.iter().all(|p| p.len() <= max), "{:?}", parts);
            }
        }
        assert_eq!(texts("€€€€€€€\n".as_bytes(), 10), ["€€€", "€€€", "€"]);
        // Invalid bytes still become U+FFFD; a limit under a character's
        // length cannot keep it whole.
        assert_eq!(texts(b"ab\xe2\x82", 3), ["ab", "\u{fffd}"]);
        assert_eq!(texts(b"\xff\xfe\xfd\xfc", 2), ["\u{fffd}\u{fffd}"; 2]);
        assert_eq!(texts("€".as_bytes(), 2), ["\u{fffd}", "\u{fffd}"]);
    }

    #[test]
    fn binary_chunks_respect_the_limit() {
        let all = messages(b"0123456789", Framing::Binary, 4);
        let joined: Vec<u8> = all.iter().flat_map(|m| m.as_bytes().to_vec()).collect();
        assert_eq!(joined, b"0123456789");
        assert!(all.iter().all(|m| m.as_bytes().len() <= 4));
    }
}
