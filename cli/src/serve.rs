//! `tinyws serve`: one process per connection, lines both ways.
//!
//! Each connection has three threads, so no pipe can block the others:
//!
//! ```text
//!             ws.read()             channel              stdin
//!   client ─────────────▶ handler ──────────▶ input pump ──────▶ CMD
//!          ◀───────────── output pump ◀────────────────────────── CMD
//!             Sender                     stdout lines
//! ```
//!
//! The handler thread owns the child: when the client leaves it stops the
//! output pump, drops the channel (so stdin closes once the pump has written
//! what it holds), then stops and reaps the child and signals its process
//! group. When CMD closes its stdout the output pump closes the connection
//! with 1000, which ends the handler's read loop the same way. The output
//! pump is stopped rather than left to see the end of CMD's stdout, which a
//! background child of CMD may hold open for as long as it lives.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::process::{ChildStdin, ChildStdout, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use tinyws::{CloseCode, Message, Sender, WebSocket};

use crate::child::{self, Framing, Output, UntilWoken};

/// Stack for each pump thread; they only copy between a pipe and a socket.
const PUMP_STACK: usize = 64 * 1024;
/// Input waiting for CMD to read it, beyond which the client is cut off.
const MIN_BACKLOG: usize = 64 * 1024;

/// The two pumps of a connection, as its handler holds them.
struct Pumps {
    /// Input for CMD's stdin; dropping it closes stdin.
    queue: mpsc::Sender<Vec<u8>>,
    /// Bytes queued and not yet written to stdin.
    backlog: Arc<AtomicUsize>,
    output: thread::JoinHandle<()>,
    /// Dropping it stops the output pump's reading.
    stop_output: UnixStream,
}

/// What every connection's process is started with.
#[derive(Debug)]
pub(crate) struct Serve {
    pub(crate) command: Vec<OsString>,
    pub(crate) inherited_env: Vec<(OsString, OsString)>,
    pub(crate) framing: Framing,
    pub(crate) max_message: usize,
    pub(crate) grace: Duration,
}

impl Serve {
    /// Runs one connection: its process, both pumps, and the clean-up.
    pub(crate) fn handle(&self, mut ws: WebSocket) {
        // The client's address, also behind a trusted proxy.
        let peer = ws.request().map_or_else(
            || "?".to_owned(),
            |r| match (r.client_addr(), r.peer_addr()) {
                (Some(c), Some(p)) if c != p.ip() => format!("{} via {}", c, p),
                (_, Some(p)) => p.to_string(),
                _ => "?".to_owned(),
            },
        );
        let port = ws.get_ref().local_addr().map_or(0, |a| a.port());
        let mut env = self.inherited_env.clone();
        env.extend(child::cgi_env(ws.request(), port));
        let mut process = match child::spawn(&self.command, env, Stdio::piped) {
            Ok(process) => process,
            Err(e) => {
                log::error!(
                    "{}: cannot start {}: {}",
                    peer,
                    child::display(&self.command),
                    e
                );
                let _ = ws.close(CloseCode::INTERNAL_ERROR, "cannot start the process");
                return;
            }
        };
        let pid = process.id();
        log::info!(
            "{}: started {} (pid {})",
            peer,
            child::display(&self.command),
            pid
        );
        let stdin = process.stdin.take();
        let stdout = process.stdout.take();
        let pumps = match (ws.sender(), stdin, stdout) {
            (Ok(sender), Some(stdin), Some(stdout)) => self.start_pumps(sender, stdin, stdout),
            _ => None,
        };
        let mut output = None;
        if let Some(pumps) = pumps {
            self.relay_input(&mut ws, &pumps.queue, &pumps.backlog);
            // The connection is over: its output pump stops reading now, and
            // dropping the queue ends the input pump, which closes stdin.
            drop(pumps.stop_output);
            drop(pumps.queue);
            output = Some(pumps.output);
        }
        match child::stop(&mut process, self.grace) {
            Ok(status) => log::info!("{}: pid {} ended: {}", peer, pid, status),
            Err(e) => log::error!("{}: pid {}: {}", peer, pid, e),
        }
        // Quick: the pump was told to stop. Its thread and CMD's stdout end here.
        if let Some(output) = output {
            let _ = output.join();
        }
    }

    fn start_pumps(
        &self,
        sender: Sender,
        mut stdin: ChildStdin,
        stdout: ChildStdout,
    ) -> Option<Pumps> {
        let (stdout, stop_output) = match UntilWoken::new(stdout) {
            Ok(pair) => pair,
            Err(e) => {
                log::error!("cannot make a socket pair: {}", e);
                return None;
            }
        };
        let mut output = Output::new(stdout, self.framing, self.max_message);
        let out = thread::Builder::new()
            .name("tinyws-out".into())
            .stack_size(PUMP_STACK)
            .spawn(move || {
                loop {
                    match output.next_message() {
                        Ok(Some(message)) => {
                            if sender.send(message).is_err() {
                                // The client is gone; dropping stdout gives
                                // CMD a SIGPIPE on its next line.
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            log::debug!("reading the process's output: {}", e);
                            break;
                        }
                    }
                }
                let _ = sender.close(CloseCode::NORMAL, "process exited");
            });
        let (queue, pending) = mpsc::channel::<Vec<u8>>();
        let backlog = Arc::new(AtomicUsize::new(0));
        let written = Arc::clone(&backlog);
        let inp = thread::Builder::new()
            .name("tinyws-in".into())
            .stack_size(PUMP_STACK)
            .spawn(move || {
                for data in pending {
                    let failed = stdin.write_all(&data).and_then(|_| stdin.flush()).is_err();
                    written.fetch_sub(data.len(), Ordering::AcqRel);
                    if failed {
                        // CMD closed its stdin or exited; later input is dropped.
                        break;
                    }
                }
            });
        match (out, inp) {
            (Ok(output), Ok(_)) => Some(Pumps {
                queue,
                backlog,
                output,
                stop_output,
            }),
            (out, inp) => {
                log::error!(
                    "cannot start a thread: {:?}",
                    out.err().or_else(|| inp.err())
                );
                None
            }
        }
    }

    /// Passes the client's messages to the input pump until the connection
    /// ends.
    fn relay_input(
        &self,
        ws: &mut WebSocket,
        queue: &mpsc::Sender<Vec<u8>>,
        backlog: &AtomicUsize,
    ) {
        let limit = self.max_message.max(MIN_BACKLOG);
        loop {
            let mut data = match ws.read() {
                Ok(Message::Text(text)) => text.into_bytes(),
                Ok(Message::Binary(data)) => data,
                Ok(Message::Close(_)) | Err(_) => return,
                Ok(_) => continue,
            };
            if self.framing == Framing::Lines {
                data.push(b'\n');
            }
            let queued = backlog.load(Ordering::Acquire);
            if queued > 0 && queued + data.len() > limit {
                log::warn!(
                    "process is not reading its input ({} bytes waiting): closing with 1008",
                    queued
                );
                let _ = ws.close(CloseCode::POLICY, "process is not reading its input");
                return;
            }
            backlog.fetch_add(data.len(), Ordering::AcqRel);
            if let Err(mpsc::SendError(data)) = queue.send(data) {
                backlog.fetch_sub(data.len(), Ordering::AcqRel);
                log::debug!("process closed its stdin: input dropped");
            }
        }
    }
}
