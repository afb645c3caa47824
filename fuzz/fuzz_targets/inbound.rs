//! The sans-IO receive machine in either role, fed arbitrary bytes in
//! arbitrary pieces with silences and a Close of ours in between; its
//! invariants are checked inside `drive_inbound`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tinyws::fuzzing::drive_inbound(data));
