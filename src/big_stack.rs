//! Building large values off a connection thread's small stack.

/// Runs `make` on a short-lived thread with a 1 MiB stack and returns what
/// it built, or `None` if no thread could be started. For values that
/// their crate builds by value before boxing them, larger than
/// [`Config::stack_size`](crate::Config::stack_size) can hold: the
/// permessage-deflate compressor (64 KiB inline). `make` runs only on the
/// new thread: called here, even as a fallback, its frame would reserve
/// the space in the caller's.
pub(crate) fn build<T: Send + 'static>(make: fn() -> Box<T>) -> Option<Box<T>> {
    std::thread::Builder::new()
        .name("tinyws-build".into())
        .stack_size(1 << 20)
        .spawn(make)
        .ok()
        .and_then(|t| t.join().ok())
}
