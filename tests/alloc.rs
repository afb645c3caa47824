//! Sends copy nothing (issue 12): `ws.send("tick")` on a server connection,
//! and the same through a `Sender` or a `Hub`, allocates nothing for the
//! payload. Counted by a global allocator that tallies this thread's
//! allocations.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::TcpListener;

use support::Client;
use tinyws::{Config, Hub};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn sending_a_borrowed_payload_allocates_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = std::thread::spawn(move || {
        let mut c = Client::open(addr);
        let got: Vec<Vec<u8>> = (0..8).map(|_| c.read_data().payload).collect();
        got
    });
    let (stream, _) = listener.accept().unwrap();
    let mut ws = tinyws::accept(stream, &Config::default()).unwrap();
    let sender = ws.sender().unwrap();
    let hub = Hub::new(std::time::Duration::from_secs(1));
    hub.subscribe(ws.sender().unwrap()).unwrap();
    // Warm up whatever is allocated once per connection or thread.
    ws.send("warm").unwrap();
    sender.send("warm").unwrap();
    let payload = vec![7u8; 1000];
    let n = allocations(|| {
        ws.send("tick").unwrap();
        ws.send(&payload[..]).unwrap();
        ws.send(&payload).unwrap();
        sender.send("tick").unwrap();
        sender.send(&payload[..]).unwrap();
    });
    assert_eq!(n, 0, "allocations while sending");
    // The hub copies its subscriber list once per broadcast, never the
    // payload: one allocation whatever the payload's size.
    let n = allocations(|| {
        assert_eq!(hub.broadcast(&payload[..]), 1);
    });
    assert!(n <= 1, "{} allocations in a broadcast", n);
    let got = client.join().unwrap();
    assert_eq!(got[2], b"tick");
    assert_eq!(got[3], payload);
    assert_eq!(got[7], payload);
}
