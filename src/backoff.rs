//! The client's reconnect policy, as pure code: which failures are retried,
//! and how long to wait before the next attempt. The caller supplies the
//! random numbers and the clock readings, so tests drive it with a seeded
//! generator and no sleeping.

use std::time::Duration;

use crate::config::setters;
use crate::error::Error;
use crate::proto::close::CloseCode;

/// How the client waits between connection attempts: exponential backoff
/// with full jitter (each delay drawn uniformly from zero to the current
/// ceiling), so that a fleet of devices does not reconnect to a restarted
/// server all at once.
///
/// With the defaults the ceilings are 1, 2, 4, 8, 16, 32 and then 60 s;
/// the first retry waits up to 1 s, as RFC 6455 section 7.2.3 asks.
///
/// ```
/// use std::time::Duration;
/// let backoff = tinyws::Backoff::default().max_delay(Duration::from_secs(30));
/// assert_eq!(backoff.first_delay, Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Backoff {
    /// The ceiling of the first delay. Defaults to 1 s.
    pub first_delay: Duration,
    /// Each failure in a row multiplies the ceiling by this. Defaults to 2.
    pub factor: f64,
    /// The ceiling stops growing here. Defaults to 60 s.
    pub max_delay: Duration,
    /// A connection that stayed up this long resets the ceiling to
    /// `first_delay`; one that drops sooner counts as a failure. Defaults
    /// to 30 s.
    pub stable_after: Duration,
    /// Retry after HTTP 4xx answers too (except that the ceiling still
    /// grows). Without it, a 4xx other than 408 and 429 ends the run: a
    /// wrong token or path does not fix itself. Defaults to `false`.
    pub retry_client_errors: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first_delay: Duration::from_secs(1),
            factor: 2.0,
            max_delay: Duration::from_secs(60),
            stable_after: Duration::from_secs(30),
            retry_client_errors: false,
        }
    }
}

setters! { Backoff {
    /// Set [`Self::first_delay`].
    first_delay: Duration;
    /// Set [`Self::factor`].
    factor: f64;
    /// Set [`Self::max_delay`].
    max_delay: Duration;
    /// Set [`Self::stable_after`].
    stable_after: Duration;
    /// Set [`Self::retry_client_errors`].
    retry_client_errors: bool;
}}

/// The longest delay accepted: a day is beyond any sensible ceiling.
const MAX_CEILING: Duration = Duration::from_secs(24 * 3600);

impl Backoff {
    /// Checks every value once, so that nothing later has to.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return Err(Error::Config("backoff factor must be at least 1"));
        }
        if self.first_delay > self.max_delay || self.max_delay > MAX_CEILING {
            return Err(Error::Config(
                "backoff needs first_delay <= max_delay <= one day",
            ));
        }
        if self.stable_after > MAX_CEILING {
            return Err(Error::Config("backoff stable_after must be at most a day"));
        }
        Ok(())
    }
}

/// What to do after a failed attempt or an ended connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Try again after this long.
    Retry(Duration),
    /// Give up: the error will not go away by retrying.
    Stop,
}

/// The retry state of one run: how many failures in a row.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    policy: Backoff,
    failures: u32,
    /// The last session was short and ended with a prompt retry.
    quick_prompt: bool,
}

impl Schedule {
    pub(crate) fn new(policy: Backoff) -> Schedule {
        Schedule {
            policy,
            failures: 0,
            quick_prompt: false,
        }
    }

    /// Failures in a row so far.
    #[cfg(test)]
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }

    /// After a connection attempt failed with `error`. `random` is a
    /// uniformly random `u64`.
    ///
    /// Retried: I/O errors, timeouts, a bad 101, HTTP 5xx, 408 and 429 (and
    /// other answers that are not 4xx). Retry-After is honoured: the delay is
    /// Retry-After plus the jittered backoff. Ends the run: an invalid URL or
    /// configuration, and other 4xx unless
    /// [`Backoff::retry_client_errors`].
    pub(crate) fn after_failure(&mut self, error: &Error, random: u64) -> Decision {
        let retry_after = match error {
            Error::InvalidUrl(_) | Error::Config(_) | Error::Unsupported(_) => {
                return Decision::Stop
            }
            Error::Refused(r) => {
                let client_error =
                    (400..500).contains(&r.status()) && r.status() != 408 && r.status() != 429;
                if client_error && !self.policy.retry_client_errors {
                    return Decision::Stop;
                }
                r.retry_after()
            }
            _ => None,
        };
        let delay = jitter(self.ceiling(), random);
        self.failures = self.failures.saturating_add(1);
        Decision::Retry(retry_after.map_or(delay, |after| after + delay))
    }

    /// After an established connection ended, `uptime` after it opened,
    /// with the close code the server sent (if any). A stable connection
    /// resets the backoff; a close with 1001 (going away) or 1012 (service
    /// restart) after a stable connection is retried promptly, within
    /// `first_delay`, as the server said it is coming back.
    pub(crate) fn after_session(
        &mut self,
        uptime: Duration,
        code: Option<CloseCode>,
        random: u64,
    ) -> Duration {
        let stable = uptime >= self.policy.stable_after;
        if stable {
            self.failures = 0;
            self.quick_prompt = false;
        }
        // Prompt once, not again until a stable session: a server that
        // accepts and at once says "going away" still sees the delays grow.
        let prompt = matches!(
            code,
            Some(CloseCode::GOING_AWAY) | Some(CloseCode::SERVICE_RESTART)
        ) && !self.quick_prompt;
        self.quick_prompt = !stable && (prompt || self.quick_prompt);
        let ceiling = if prompt {
            self.policy.first_delay
        } else {
            self.ceiling()
        };
        // A connection that dropped quickly counts as a failure, so a
        // server that accepts and at once closes is not hammered.
        if uptime < self.policy.stable_after || !prompt {
            self.failures = self.failures.saturating_add(1);
        }
        jitter(ceiling, random)
    }

    /// `first_delay × factor^failures`, at most `max_delay`.
    fn ceiling(&self) -> Duration {
        let p = &self.policy;
        let grown = p.first_delay.as_secs_f64() * p.factor.powi(self.failures.min(1000) as i32);
        if grown.is_finite() && grown < p.max_delay.as_secs_f64() {
            Duration::from_secs_f64(grown)
        } else {
            p.max_delay
        }
    }
}

/// A delay drawn uniformly from `[0, ceiling]` by `random`.
fn jitter(ceiling: Duration, random: u64) -> Duration {
    let nanos = (ceiling.as_nanos() * u128::from(random)) >> 64;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ProtocolError, Timeout};
    use crate::handshake::client::{parse, Refusal};
    use std::io;

    /// A server that accepts and at once closes with 1001 is not hammered:
    /// only the first such close in a row is retried promptly.
    #[test]
    fn quick_going_away_closes_still_back_off() {
        let policy = Backoff::default();
        let first = policy.first_delay;
        let mut s = Schedule::new(policy);
        let quick = Duration::from_millis(10);
        let most = u64::MAX;
        assert!(s.after_session(quick, Some(CloseCode::GOING_AWAY), most) <= first);
        let mut delay = Duration::from_secs(0);
        for _ in 0..4 {
            delay = s.after_session(quick, Some(CloseCode::GOING_AWAY), most);
        }
        assert!(delay > first * 4, "{:?}", delay);
        // After a stable connection, the first 1012 is prompt again.
        let stable = Duration::from_secs(3600);
        assert!(s.after_session(stable, Some(CloseCode::SERVICE_RESTART), most) <= first);
    }

    /// A seeded xorshift generator: the same run every time.
    struct Seeded(u64);

    impl Seeded {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn refused(head: &str) -> Error {
        let (response, _) = parse(head.as_bytes()).unwrap().unwrap();
        Error::Refused(Box::new(Refusal::new(&response, b"")))
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn defaults_are_pinned() {
        let b = Backoff::default();
        assert_eq!(b.first_delay, secs(1));
        assert_eq!(b.factor, 2.0);
        assert_eq!(b.max_delay, secs(60));
        assert_eq!(b.stable_after, secs(30));
        assert!(!b.retry_client_errors);
        assert!(b.validate().is_ok());
    }

    #[test]
    fn bad_policies_are_errors() {
        let bad = [
            Backoff::default().factor(0.5),
            Backoff::default().factor(f64::NAN),
            Backoff::default().factor(f64::INFINITY),
            Backoff::default().first_delay(secs(120)),
            Backoff::default().max_delay(Duration::MAX),
            Backoff::default().stable_after(Duration::MAX),
        ];
        for b in &bad {
            assert!(matches!(b.validate(), Err(Error::Config(_))), "{:?}", b);
        }
    }

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let mut s = Schedule::new(Backoff::default());
        let io = Error::Io(io::ErrorKind::ConnectionRefused.into());
        let mut ceilings = Vec::new();
        for _ in 0..9 {
            let ceiling = s.ceiling();
            ceilings.push(ceiling.as_secs());
            // The largest random number gives (just under) the ceiling.
            let top = jitter(ceiling, u64::MAX);
            assert!(ceiling - top < Duration::from_micros(1));
            assert_eq!(s.after_failure(&io, u64::MAX), Decision::Retry(top));
        }
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(s.failures(), 9);
    }

    #[test]
    fn full_jitter_spreads_over_the_whole_range() {
        let mut random = Seeded(0x9e37_79b9_7f4a_7c15);
        let ceiling = secs(8);
        let delays: Vec<Duration> = (0..1000).map(|_| jitter(ceiling, random.next())).collect();
        assert!(delays.iter().all(|d| *d <= ceiling));
        // Each eighth of the range gets a fair share: no bunching at the top
        // (plain exponential) or in one band (partial jitter).
        for band in 0..8 {
            let n = delays.iter().filter(|d| d.as_secs() == band).count();
            assert!((70..180).contains(&n), "band {}: {}", band, n);
        }
        assert_eq!(jitter(ceiling, 0), Duration::from_secs(0));
    }

    macro_rules! decisions {
        ($($name:ident: $error:expr, $retry_4xx:expr => $stop:expr;)*) => {
            $(
                #[test]
                fn $name() {
                    let policy = Backoff::default().retry_client_errors($retry_4xx);
                    let decision = Schedule::new(policy).after_failure(&$error, 1 << 63);
                    assert_eq!(decision == Decision::Stop, $stop, "{:?}", decision);
                }
            )*
        };
    }

    decisions! {
        network_error: Error::Io(io::ErrorKind::ConnectionRefused.into()), false => false;
        resolve_timeout: Error::Timeout(Timeout::Resolve), false => false;
        connect_timeout: Error::Timeout(Timeout::Connect), false => false;
        handshake_timeout: Error::Timeout(Timeout::Handshake), false => false;
        disconnected: Error::Disconnected, false => false;
        bad_101: Error::Protocol(ProtocolError::BadAccept), false => false;
        server_error: refused("HTTP/1.1 500 Oops\r\n\r\n"), false => false;
        bad_gateway: refused("HTTP/1.1 502 Bad Gateway\r\n\r\n"), false => false;
        unavailable: refused("HTTP/1.1 503 Busy\r\n\r\n"), false => false;
        request_timeout: refused("HTTP/1.1 408 Timeout\r\n\r\n"), false => false;
        too_many: refused("HTTP/1.1 429 Slow down\r\n\r\n"), false => false;
        redirect: refused("HTTP/1.1 302 Found\r\n\r\n"), false => false;
        forbidden: refused("HTTP/1.1 403 Forbidden\r\n\r\n"), false => true;
        not_found: refused("HTTP/1.1 404 Not Found\r\n\r\n"), false => true;
        unauthorized: refused("HTTP/1.1 401 Unauthorized\r\n\r\n"), false => true;
        forbidden_when_asked: refused("HTTP/1.1 403 Forbidden\r\n\r\n"), true => false;
        bad_url: Error::InvalidUrl("x"), true => true;
        bad_config: Error::Config("x"), true => true;
        no_tls: Error::Unsupported("wss:// needs the tls feature"), true => true;
    }

    #[test]
    fn retry_after_is_honoured_and_jitter_added() {
        let busy = refused("HTTP/1.1 503 Busy\r\nRetry-After: 5\r\n\r\n");
        let mut s = Schedule::new(Backoff::default());
        assert_eq!(s.after_failure(&busy, 0), Decision::Retry(secs(5)));
        // Second failure: ceiling 2 s, half of it drawn.
        assert_eq!(s.after_failure(&busy, 1 << 63), Decision::Retry(secs(6)));
        let slow = refused("HTTP/1.1 429 Slow\r\nRetry-After: 120\r\n\r\n");
        match s.after_failure(&slow, u64::MAX) {
            Decision::Retry(d) => assert!(d >= secs(120) && d <= secs(124), "{:?}", d),
            Decision::Stop => panic!("429 is retried"),
        }
    }

    #[test]
    fn a_stable_connection_resets_the_backoff() {
        let io = Error::Io(io::ErrorKind::ConnectionRefused.into());
        let mut s = Schedule::new(Backoff::default());
        for _ in 0..5 {
            s.after_failure(&io, 0);
        }
        assert_eq!(s.ceiling(), secs(32));
        // Up for 31 s, then dropped without a close frame.
        let d = s.after_session(secs(31), None, u64::MAX);
        assert!(d <= secs(1), "{:?}", d);
        assert_eq!(s.ceiling(), secs(2));
    }

    #[test]
    fn a_short_connection_counts_as_a_failure() {
        let mut s = Schedule::new(Backoff::default());
        let mut ceilings = Vec::new();
        for _ in 0..4 {
            ceilings.push(s.ceiling().as_secs());
            s.after_session(secs(2), Some(CloseCode::NORMAL), 0);
        }
        assert_eq!(ceilings, [1, 2, 4, 8]);
        assert_eq!(s.failures(), 4);
    }

    #[test]
    fn going_away_and_restart_are_retried_promptly() {
        for code in [CloseCode::GOING_AWAY, CloseCode(1012)] {
            let io = Error::Io(io::ErrorKind::ConnectionRefused.into());
            let mut s = Schedule::new(Backoff::default());
            for _ in 0..6 {
                s.after_failure(&io, 0);
            }
            // Even after a short session and six failures, within 1 s.
            let d = s.after_session(secs(3), Some(code), u64::MAX);
            assert!(d <= secs(1), "{:?}", d);
            // After a stable one, the count starts again from zero.
            let d = s.after_session(secs(300), Some(code), u64::MAX);
            assert!(d <= secs(1), "{:?}", d);
            assert_eq!(s.failures(), 0);
        }
    }
}
