//! The shell's half of permessage-deflate: the process-wide pool of
//! (de)compressors, and the few threads that compress.
//!
//! Compressing runs `miniz_oxide` code several pages deep, and the stack
//! pages a thread touches stay resident: on a connection's thread that
//! would cost every connection that ever sent a compressed message that
//! memory for good (figures: DESIGN.md, "permessage-deflate"). So every
//! message is compressed on one of at most
//! [`COMPRESSORS`] worker threads, each owning one compressor; the caller
//! copies the message over, waits, and gets the frame's payload back
//! (DESIGN.md, "permessage-deflate"). Inflating stays on the caller's
//! thread: it is about as shallow as the rest of the connection.
//!
//! Workers and compressors are created on first use and live for the
//! process. A worker that cannot be started, or a compressor that cannot
//! be built, makes the message go out uncompressed.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, Thread};

use miniz_oxide::inflate::core::DecompressorOxide;

use crate::proto::deflate::{new_decompressor, Compressor, Decompressors};

/// Compressing threads, and so compressors for messages compressed alone.
/// Sized for a 4-core Pi; more callers wait their turn.
pub(crate) const COMPRESSORS: usize = 4;

/// Idle decompressors the pool keeps; more may be in use at once (one per
/// message being inflated), and those beyond this are freed when returned.
pub(crate) const POOL_DECOMPRESSORS: usize = 8;

/// A worker's stack, with room to spare over what compressing touches
/// (DESIGN.md, "permessage-deflate"), in debug builds too. Building a
/// compressor, which `miniz_oxide` may do by value, happens on a thread of
/// its own ([`build`]).
const WORKER_STACK: usize = 256 * 1024;

/// The pool holds only clean states and the queue only whole jobs, so a
/// panic elsewhere while one was locked leaves nothing inconsistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// Decompressors.

static DECOMPRESSORS: Mutex<Vec<Box<DecompressorOxide>>> = Mutex::new(Vec::new());

fn take_decompressor() -> Box<DecompressorOxide> {
    let pooled = lock(&DECOMPRESSORS).pop();
    pooled.unwrap_or_else(new_decompressor)
}

fn give_decompressor(d: Box<DecompressorOxide>) {
    let mut pool = lock(&DECOMPRESSORS);
    if pool.len() < POOL_DECOMPRESSORS {
        pool.push(d);
    }
}

/// What every connection's inflater borrows from.
pub(crate) static POOL: Decompressors = Decompressors {
    take: take_decompressor,
    give: give_decompressor,
};

// ---------------------------------------------------------------------------
// Compressing on the workers.

/// One message to compress, and where the answer goes.
struct Job {
    msg: Vec<u8>,
    out: Vec<u8>,
    level: u8,
    /// With context takeover: the connection's own compressor (`None`
    /// before its first message), travelling with the job and back.
    kept: Option<Option<Compressor>>,
    reply: Reply,
}

/// What a job gives back: the output (`None` if nothing was compressed)
/// and the connection's compressor, if it brought one.
struct Done {
    out: Option<Vec<u8>>,
    kept: Option<Compressor>,
}

/// The caller's half of a job: it parks until `slot` is filled.
struct Waiting {
    slot: Mutex<Option<Done>>,
    caller: Thread,
}

/// The worker's half: answers once, or, if dropped unanswered (a worker
/// that panicked), answers "not compressed" so the caller never hangs.
struct Reply(Option<Arc<Waiting>>);

impl Reply {
    fn send(mut self, done: Done) {
        if let Some(w) = self.0.take() {
            *lock(&w.slot) = Some(done);
            w.caller.unpark();
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(w) = self.0.take() {
            *lock(&w.slot) = Some(Done {
                out: None,
                kept: None,
            });
            w.caller.unpark();
        }
    }
}

struct Queue {
    jobs: Vec<Job>,
    workers: usize,
    idle: usize,
}

static QUEUE: Mutex<Queue> = Mutex::new(Queue {
    jobs: Vec::new(),
    workers: 0,
    idle: 0,
});
static WORK: Condvar = Condvar::new();

/// Compresses `msg` alone (no context takeover: it inflates by itself, so
/// one frame may go to many connections) at `level` into `out`, which must
/// be empty. `false`, with `out` empty, if no compressor could be had: the
/// message must go out uncompressed.
#[must_use]
pub(crate) fn compress(msg: &[u8], level: u8, out: &mut Vec<u8>) -> bool {
    debug_assert!(out.is_empty());
    match run(msg, level, None, std::mem::take(out)) {
        (Ok(done), _) => {
            *out = done;
            true
        }
        (Err(back), _) => {
            *out = back;
            false
        }
    }
}

/// Compresses `msg` with a connection's own compressor `kept` (context
/// takeover; built on first use) into `out`, which must be empty. `false`
/// if no compressor could be had: the message must go out uncompressed, which
/// leaves the context as it was. Messages must be written in the order
/// they were compressed, so the caller holds `kept`'s lock up to the write.
#[must_use]
pub(crate) fn compress_kept(
    kept: &mut Option<Compressor>,
    msg: &[u8],
    level: u8,
    out: &mut Vec<u8>,
) -> bool {
    debug_assert!(out.is_empty());
    let (result, back) = run(msg, level, Some(kept.take()), std::mem::take(out));
    // A compressor lost with a panicking worker is built again: a fresh
    // context is valid for a peer that keeps its own.
    *kept = back;
    match result {
        Ok(done) => {
            *out = done;
            true
        }
        Err(back) => {
            *out = back;
            false
        }
    }
}

/// Hands a job to a worker and waits for it. Returns the output (or `out`
/// back untouched) and the connection's compressor.
fn run(
    msg: &[u8],
    level: u8,
    kept: Option<Option<Compressor>>,
    out: Vec<u8>,
) -> (Result<Vec<u8>, Vec<u8>>, Option<Compressor>) {
    let waiting = Arc::new(Waiting {
        slot: Mutex::new(None),
        caller: thread::current(),
    });
    let job = Job {
        msg: msg.to_vec(),
        out,
        level,
        kept,
        reply: Reply(Some(Arc::clone(&waiting))),
    };
    if let Err(job) = submit(job) {
        let Job { out, kept, .. } = job;
        return (Err(out), kept.flatten());
    }
    let done = loop {
        if let Some(done) = lock(&waiting.slot).take() {
            break done;
        }
        thread::park();
    };
    match done.out {
        Some(out) => (Ok(out), done.kept),
        // Not compressed; a worker that panicked dropped `out`, which is
        // empty in every caller.
        None => (Err(Vec::new()), done.kept),
    }
}

/// Queues a job, starting a worker if none is idle and fewer than
/// [`COMPRESSORS`] run. The job comes back if there is no worker at all
/// and none can be started.
fn submit(job: Job) -> Result<(), Job> {
    let mut q = lock(&QUEUE);
    q.jobs.push(job);
    if q.jobs.len() > q.idle && q.workers < COMPRESSORS {
        // Under the lock: at most COMPRESSORS times per process.
        let started = thread::Builder::new()
            .name("tinyws-deflate".into())
            .stack_size(WORKER_STACK)
            .spawn(work);
        match started {
            Ok(_) => q.workers += 1,
            Err(e) if q.workers == 0 => {
                let job = q.jobs.pop().expect("just pushed");
                // Logged outside the lock: a logger may send messages.
                drop(q);
                log::warn!("permessage-deflate: no worker thread: {}", e);
                return Err(job);
            }
            // The running workers will get to it.
            Err(_) => {}
        }
    }
    if q.idle > 0 {
        WORK.notify_one();
    }
    Ok(())
}

/// A worker: takes jobs in order, for the life of the process.
fn work() {
    let mut own: Option<Compressor> = None;
    loop {
        let job = {
            let mut q = lock(&QUEUE);
            loop {
                if !q.jobs.is_empty() {
                    break q.jobs.remove(0);
                }
                q.idle += 1;
                q = WORK.wait(q).unwrap_or_else(|e| e.into_inner());
                q.idle -= 1;
            }
        };
        // A panic drops the job's reply, which answers "not compressed";
        // the worker carries on with a new compressor, so that queued jobs
        // are never left without one.
        let ran = panic::catch_unwind(AssertUnwindSafe(|| do_job(&mut own, job)));
        if ran.is_err() {
            log::error!("permessage-deflate: compressing panicked; sent uncompressed");
            own = None;
        }
    }
}

/// Runs one job with the worker's own compressor `own` and answers it.
fn do_job(own: &mut Option<Compressor>, job: Job) {
    let Job {
        msg,
        mut out,
        level,
        kept,
        reply,
    } = job;
    let done = match kept {
        // Context takeover: the connection's compressor.
        Some(mut kept) => {
            if kept.is_none() {
                kept = build(level);
            }
            let ok = match kept.as_mut() {
                Some(c) => {
                    c.compress(&msg, true, &mut out);
                    true
                }
                None => false,
            };
            Done {
                out: if ok { Some(out) } else { None },
                kept,
            }
        }
        None => {
            if own.is_none() {
                *own = build(level);
            }
            match own.as_mut() {
                Some(c) => {
                    c.set_level(level);
                    c.compress(&msg, false, &mut out);
                    Done {
                        out: Some(out),
                        kept: None,
                    }
                }
                None => Done {
                    out: None,
                    kept: None,
                },
            }
        }
    };
    reply.send(done);
}

/// Builds a compressor on a short-lived thread with a 1 MiB stack, or
/// `None` if no thread could be started: `miniz_oxide` may build it by
/// value (64 KiB inline), and a worker's stack would keep those pages.
fn build(level: u8) -> Option<Compressor> {
    thread::Builder::new()
        .name("tinyws-build".into())
        .stack_size(1 << 20)
        .spawn(move || Compressor::new(level))
        .ok()
        .and_then(|t| t.join().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_messages_inflate_and_the_pool_stays_bounded() {
        use crate::proto::deflate::Inflater;
        // Many messages in flight at once borrow many decompressors;
        // afterwards the pool keeps no more than its bound.
        let msg: Vec<u8> = (0..500u32)
            .flat_map(|i| format!("{{\"seq\":{}}}", i % 37).into_bytes())
            .collect();
        let mut wire = Vec::new();
        assert!(compress(&msg, 3, &mut wire));
        assert!(wire.len() < msg.len() / 2);
        let mut inflaters: Vec<Inflater> = (0..POOL_DECOMPRESSORS * 3)
            .map(|_| Inflater::new(true, &POOL))
            .collect();
        for i in &mut inflaters {
            let mut out = Vec::new();
            // First half only: the message is still in flight.
            i.inflate(&wire[..wire.len() / 2], false, &mut out, 1 << 20)
                .unwrap();
        }
        drop(inflaters);
        assert!(lock(&DECOMPRESSORS).len() <= POOL_DECOMPRESSORS);
        let mut out = Vec::new();
        Inflater::new(true, &POOL)
            .inflate(&wire, true, &mut out, 1 << 20)
            .unwrap();
        assert_eq!(out, msg);
    }

    #[test]
    fn many_threads_compress_at_once_on_a_bounded_set_of_workers() {
        let threads: Vec<_> = (0..12u8)
            .map(|n| {
                thread::spawn(move || {
                    let msg = vec![b'a' + n % 26; 4000 + n as usize];
                    let mut kept = None;
                    for round in 0..20 {
                        let mut wire = vec![];
                        if round % 2 == 0 {
                            assert!(compress(&msg, 1 + n % 9, &mut wire));
                        } else {
                            assert!(compress_kept(&mut kept, &msg, 1, &mut wire));
                            assert!(kept.is_some());
                        }
                        assert!(wire.len() < 100, "{}", wire.len());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let q = lock(&QUEUE);
        assert!(q.workers <= COMPRESSORS && q.workers > 0, "{}", q.workers);
        assert!(q.jobs.is_empty());
    }

    /// How far below the top of this thread's stack anything was ever
    /// written: stack memory is zero until touched.
    #[cfg(target_os = "linux")]
    fn stack_touched() -> usize {
        use std::io::{Read, Seek, SeekFrom};
        let marker = 0u8;
        let here = &marker as *const u8 as usize;
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let (lo, hi) = maps
            .lines()
            .find_map(|l| {
                let (a, b) = l.split_whitespace().next()?.split_once('-')?;
                let a = usize::from_str_radix(a, 16).ok()?;
                let b = usize::from_str_radix(b, 16).ok()?;
                (a <= here && here < b).then_some((a, b))
            })
            .unwrap();
        let mut mem = std::fs::File::open("/proc/self/mem").unwrap();
        mem.seek(SeekFrom::Start(lo as u64)).unwrap();
        let mut stack = vec![0u8; hi - lo];
        mem.read_exact(&mut stack).unwrap();
        hi - lo - stack.iter().position(|&b| b != 0).unwrap()
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn compressing_leaves_the_callers_stack_shallow() {
        // The pages a connection thread touches stay resident for as long
        // as it lives, and compressing runs about 10 KiB deep (DESIGN.md,
        // "permessage-deflate"): the caller must only wait for it.
        let msg: Vec<u8> = (0..2000u32)
            .flat_map(|i| format!("{{\"seq\":{},\"t\":{}}}", i, i * 7919 % 1000).into_bytes())
            .collect();
        // Workers started and compressors built beforehand, as in a server
        // that has compressed before.
        assert!(compress(&msg, 6, &mut Vec::new()));
        // A stack size no other thread here uses, so that glibc maps a new,
        // untouched stack rather than reuse one.
        let touched = thread::Builder::new()
            .stack_size((3 << 20) + 3 * 4096)
            .spawn(move || {
                let before = stack_touched();
                let mut kept = None;
                for level in [1, 6, 9] {
                    assert!(compress(&msg, level, &mut Vec::new()));
                    assert!(compress_kept(&mut kept, &msg, level, &mut Vec::new()));
                }
                let after = stack_touched();
                (before, after)
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(
            touched.1 < touched.0 + 4096,
            "compressing touched {} more bytes of the caller's stack ({:?})",
            touched.1.saturating_sub(touched.0),
            touched
        );
    }
}
