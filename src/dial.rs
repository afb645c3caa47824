//! Opening the client's TCP connection under time bounds: name resolution
//! on a helper thread with a deadline (the OS's `getaddrinfo` takes none),
//! then each resolved address in turn with its own connect timeout.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::error::{Error, Result, Timeout};

/// The resolver thread's stack: glibc's resolver and NSS modules need more
/// than a connection thread's 64 KiB. It is only reserved, not touched.
const RESOLVER_STACK: usize = 256 * 1024;

/// Resolves `host`, waiting at most `timeout`. An IP literal needs no
/// lookup. A lookup that outlives `timeout` is abandoned on its thread,
/// which ends when the OS's resolver gives up.
pub(crate) fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = host.to_owned();
    resolve_with(host, timeout, move || {
        (name.as_str(), port)
            .to_socket_addrs()
            .map(|addrs| addrs.collect())
    })
}

/// [`resolve`] with the lookup given, so that tests can stand in a resolver
/// that never answers.
fn resolve_with<F>(host: &str, timeout: Duration, lookup: F) -> Result<Vec<SocketAddr>>
where
    F: FnOnce() -> io::Result<Vec<SocketAddr>> + Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    thread::Builder::new()
        .name("tinyws-resolve".into())
        .stack_size(RESOLVER_STACK)
        .spawn(move || {
            // The receiver is gone if the caller gave up: nothing to do.
            let _ = tx.send(lookup());
        })?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) if addrs.is_empty() => Err(Error::Io(io::Error::new(
            io::ErrorKind::NotFound,
            format!("cannot resolve {}: no addresses", host),
        ))),
        Ok(Ok(addrs)) => Ok(addrs),
        // Keep the OS's words ("Name or service not known") and add the name.
        Ok(Err(e)) => Err(Error::Io(io::Error::new(
            e.kind(),
            format!("cannot resolve {}: {}", host, e),
        ))),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Error::Timeout(Timeout::Resolve)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(Error::Io(io::Error::new(
            io::ErrorKind::Other,
            format!("cannot resolve {}: the resolver thread panicked", host),
        ))),
    }
}

/// Connects to each address in turn, giving each `timeout`, and returns
/// the first that answers, with Nagle's algorithm off (a WebSocket writes
/// whole frames). When all fail: [`Timeout::Connect`] if every one timed
/// out, else the last other error, with the address and the OS's message.
pub(crate) fn connect(addrs: &[SocketAddr], timeout: Duration) -> Result<TcpStream> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) if crate::error::is_timeout(&e) => {
                log::debug!("connect to {} timed out after {:?}", addr, timeout);
            }
            Err(e) => {
                log::debug!("connect to {}: {}", addr, e);
                last = Some(io::Error::new(
                    e.kind(),
                    format!("cannot connect to {}: {}", addr, e),
                ));
            }
        }
    }
    match last {
        Some(e) => Err(Error::Io(e)),
        None => Err(Error::Timeout(Timeout::Connect)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    const SHORT: Duration = Duration::from_millis(300);

    fn io_message(result: Result<impl std::fmt::Debug>) -> String {
        match result {
            Err(Error::Io(e)) => e.to_string(),
            other => panic!("expected an i/o error: {:?}", other),
        }
    }

    #[test]
    fn ip_literals_need_no_lookup() {
        let addrs = resolve("::1", 9001, SHORT).unwrap();
        assert_eq!(addrs, ["[::1]:9001".parse().unwrap()]);
    }

    #[test]
    fn localhost_resolves() {
        let addrs = resolve("localhost", 80, Duration::from_secs(10)).unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
    }

    #[test]
    fn a_resolver_that_never_answers_times_out() {
        let (release, blocked) = mpsc::channel::<()>();
        let result = resolve_with("slow.example", SHORT, move || {
            let _ = blocked.recv();
            Ok(Vec::new())
        });
        assert!(matches!(result, Err(Error::Timeout(Timeout::Resolve))));
        drop(release);
    }

    #[test]
    fn resolver_errors_keep_the_os_message() {
        let message = io_message(resolve_with("nowhere.invalid", SHORT, || {
            Err(io::Error::new(
                io::ErrorKind::Other,
                "Name or service not known",
            ))
        }));
        assert_eq!(
            message,
            "cannot resolve nowhere.invalid: Name or service not known"
        );
        let message = io_message(resolve_with("empty.example", SHORT, || Ok(Vec::new())));
        assert!(message.contains("no addresses"), "{}", message);
    }

    #[test]
    fn refused_keeps_the_os_message() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let message = io_message(connect(&[port], SHORT));
        assert!(message.starts_with(&format!("cannot connect to {}: ", port)));
        assert!(message.to_lowercase().contains("refused"), "{}", message);
    }

    /// A listener that never accepts, its accept queue filled so that the
    /// kernel drops further SYNs: connecting to it hangs.
    pub(crate) fn full_listener() -> (TcpListener, Vec<TcpStream>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut held = Vec::new();
        for _ in 0..4096 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(s) => held.push(s),
                Err(e) if crate::error::is_timeout(&e) => return (listener, held),
                Err(e) => panic!("filling the accept queue: {}", e),
            }
        }
        panic!("the accept queue never filled");
    }

    #[test]
    fn each_address_gets_its_own_timeout_then_the_next_is_tried() {
        let (full, _held) = full_listener();
        let full_addr = full.local_addr().unwrap();
        assert!(matches!(
            connect(&[full_addr], SHORT),
            Err(Error::Timeout(Timeout::Connect))
        ));
        let good = TcpListener::bind("127.0.0.1:0").unwrap();
        let good_addr = good.local_addr().unwrap();
        let stream = connect(&[full_addr, good_addr], SHORT).unwrap();
        assert_eq!(stream.peer_addr().unwrap(), good_addr);
        assert!(stream.nodelay().unwrap());
    }
}
