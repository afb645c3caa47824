//! Starting CMD with a clean environment, reading its output as messages, and
//! stopping and reaping it.

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

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
    if let Some(peer) = request.peer_addr() {
        set("REMOTE_ADDR", peer.ip().to_string().into());
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

/// Starts `command` with only `env` for its environment, stdout piped and
/// stderr shared with tinyws (so it reaches the terminal or the journal).
pub(crate) fn spawn(
    command: &[OsString],
    env: Vec<(OsString, OsString)>,
    stdin: Stdio,
) -> io::Result<Child> {
    let (program, args) = match command.split_first() {
        Some(parts) => parts,
        None => return Err(io::Error::new(io::ErrorKind::InvalidInput, "no command")),
    };
    Command::new(program)
        .args(args)
        .env_clear()
        .envs(env)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
}

/// Stops a child whose stdin is already closed and reaps it: it gets `grace`
/// to exit by itself, then SIGTERM and `grace` again, then SIGKILL. Returns
/// its exit status; no zombie is left.
pub(crate) fn stop(child: &mut Child, grace: Duration) -> io::Result<ExitStatus> {
    if let Some(status) = wait_for(child, grace)? {
        return Ok(status);
    }
    log::debug!("process {} still running: SIGTERM", child.id());
    // The child is not reaped yet, so its pid cannot have been reused.
    let pid = rustix::process::Pid::from_child(child);
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::Term);
    if let Some(status) = wait_for(child, grace)? {
        return Ok(status);
    }
    log::warn!("process {} ignored SIGTERM: SIGKILL", child.id());
    let _ = child.kill();
    child.wait()
}

fn wait_for(child: &mut Child, limit: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        thread::sleep(POLL.min(deadline - now));
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
