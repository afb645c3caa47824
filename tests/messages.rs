//! Messages (issue 2, section 4): reassembly with control frames between
//! fragments, fragmentation errors, fail-fast UTF-8, and Pong replies.

mod support;

use std::time::Duration;

use support::{frame, frame_header, Client, TestServer};
use tinyws::Config;

fn open() -> (TestServer, Client) {
    let server = TestServer::echo(Config::default());
    let c = Client::open(server.addr);
    (server, c)
}

#[test]
fn fragments_reassemble_with_control_frames_between() {
    let (_server, mut c) = open();
    c.send_frame(false, 1, b"Hel");
    c.send_frame(true, 9, b"between");
    c.send_frame(false, 0, b"");
    c.send_frame(true, 10, b"unsolicited");
    c.send_frame(false, 0, b"lo, ");
    c.send_frame(true, 9, b"again");
    c.send_frame(true, 0, b"world");
    let f = c.read_frame();
    assert_eq!((f.opcode, f.payload.as_slice()), (10, &b"between"[..]));
    let f = c.read_frame();
    assert_eq!((f.opcode, f.payload.as_slice()), (10, &b"again"[..]));
    let f = c.read_frame();
    assert_eq!(
        (f.fin, f.opcode, f.payload.as_slice()),
        (true, 1, &b"Hello, world"[..])
    );
}

#[test]
fn binary_fragments_reassemble_in_order() {
    let (_server, mut c) = open();
    let whole: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let pieces: Vec<&[u8]> = whole.chunks(333).collect();
    for (i, piece) in pieces.iter().enumerate() {
        let opcode = if i == 0 { 2 } else { 0 };
        c.send_frame(i + 1 == pieces.len(), opcode, piece);
    }
    let f = c.read_frame();
    assert_eq!(f.opcode, 2);
    assert!(f.payload == whole, "reassembled message differs");
    // The next message starts fresh.
    c.send_text("next");
    assert_eq!(c.read_frame().payload, b"next");
}

#[test]
fn continuation_with_no_message_started_gets_1002() {
    let (_server, mut c) = open();
    c.send_frame(true, 0, b"orphan");
    c.expect_close(1002);
}

#[test]
fn continuation_after_a_finished_message_gets_1002() {
    let (_server, mut c) = open();
    c.send_frame(false, 1, b"a");
    c.send_frame(true, 0, b"b");
    assert_eq!(c.read_frame().payload, b"ab");
    c.send_frame(true, 0, b"c");
    c.expect_close(1002);
}

#[test]
fn new_data_frame_inside_a_message_gets_1002() {
    for second in [1u8, 2] {
        let (_server, mut c) = open();
        c.send_frame(false, 1, b"start");
        c.send_frame(true, second, b"intruder");
        c.expect_close(1002);
    }
}

#[test]
fn invalid_utf8_gets_1007() {
    for bad in [
        &b"\xff"[..],
        b"ok \xc0\x80",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
    ] {
        let (_server, mut c) = open();
        c.send_frame(true, 1, bad);
        c.expect_close(1007);
    }
}

/// The bad byte arrives in the first part of a frame whose rest is never
/// sent: the close must come anyway, so the server did not wait for the
/// frame's end.
#[test]
fn invalid_utf8_fails_mid_frame_as_soon_as_it_arrives() {
    let (_server, mut c) = open();
    let mut payload = b"valid text, then: ".to_vec();
    payload.push(0xFF);
    payload.extend_from_slice(&[b'x'; 200]);
    let whole = frame(true, 1, &payload);
    // Header (4 bytes with a 16-bit length, plus the mask) and 20 bytes.
    assert_eq!(whole.len(), 8 + payload.len());
    c.send(&whole[..8 + 20]);
    c.expect_close(1007);
}

#[test]
fn invalid_utf8_fails_in_a_middle_fragment() {
    let (_server, mut c) = open();
    c.send_frame(false, 1, b"fine so far");
    c.send_frame(false, 0, b"then \xc3\x28");
    // No final fragment is ever sent.
    c.expect_close(1007);
}

#[test]
fn truncated_code_point_at_the_end_gets_1007() {
    let (_server, mut c) = open();
    c.send_frame(false, 1, b"euro \xe2\x82");
    c.send_frame(true, 0, b"");
    c.expect_close(1007);
}

#[test]
fn code_point_split_across_fragments_is_valid() {
    let (_server, mut c) = open();
    // "€" is E2 82 AC; "𝄞" is F0 9D 84 9E.
    c.send_frame(false, 1, b"a\xe2");
    c.send_frame(false, 0, b"\x82");
    c.send_frame(true, 9, b"");
    c.send_frame(false, 0, b"\xac\xf0");
    c.send_frame(false, 0, b"\x9d");
    c.send_frame(true, 0, b"\x84\x9ez");
    assert_eq!(c.read_frame().opcode, 10);
    let f = c.read_frame();
    assert_eq!(
        (f.opcode, String::from_utf8(f.payload).unwrap()),
        (1, "a€𝄞z".to_owned())
    );
}

#[test]
fn code_point_split_across_reads_of_one_frame_is_valid() {
    let (_server, mut c) = open();
    let text = "ß中🎉".as_bytes();
    let whole = frame(true, 1, text);
    for (i, b) in whole.iter().enumerate() {
        c.send(std::slice::from_ref(b));
        if i >= 6 {
            // Trickling is the point: each payload byte in its own read.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert_eq!(c.read_frame().payload, text);
}

#[test]
fn ping_gets_a_pong_with_the_same_payload() {
    let (_server, mut c) = open();
    let all_bytes: Vec<u8> = (0..125u8).map(|i| i.wrapping_mul(37) ^ 0x80).collect();
    for payload in [&b""[..], b"x", b"\xff\x00 not utf-8", &all_bytes] {
        c.send_frame(true, 9, payload);
        let f = c.read_frame();
        assert_eq!((f.fin, f.opcode), (true, 10));
        assert_eq!(f.payload, payload);
    }
}

#[test]
fn unsolicited_pong_is_not_answered() {
    let (_server, mut c) = open();
    c.send_frame(true, 10, b"heartbeat");
    c.send_text("after");
    let f = c.read_frame();
    assert_eq!((f.opcode, f.payload.as_slice()), (1, &b"after"[..]));
}

#[test]
fn message_limit_counts_every_fragment() {
    let server = TestServer::echo(Config::default().max_message_size(1000));
    let mut c = Client::open(server.addr);
    c.send_frame(false, 2, &[1u8; 600]);
    // The second header alone takes the message over the limit.
    c.send(&frame_header(true, 0, 401));
    c.expect_close(1009);
}
