//! Frames (issue 2, section 3): header decoding at every length encoding,
//! unmasked server frames, every 1002 violation, and 1009 before any
//! buffer is allocated.

mod support;

use support::{frame, frame_header, frame_with, Client, TestServer};
use tinyws::Config;

/// Opens a connection, sends `bytes`, and expects the server to fail the
/// connection with `code` and close TCP.
fn fails_with(config: Config, bytes: &[u8], code: u16) {
    let server = TestServer::echo(config);
    let mut c = Client::open(server.addr);
    c.send(bytes);
    c.expect_close(code);
}

#[test]
fn every_length_encoding_round_trips_unmasked() {
    let server = TestServer::echo(Config::default());
    let mut c = Client::open(server.addr);
    for len in [0usize, 1, 125, 126, 127, 65535, 65536, 100_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
        c.send_frame(true, 2, &payload);
        // read_frame fails the test on a masked server frame.
        let f = c.read_frame();
        assert_eq!((f.fin, f.opcode), (true, 2), "len {}", len);
        assert!(f.payload == payload, "len {} came back different", len);
    }
}

#[test]
fn any_mask_is_undone() {
    let server = TestServer::echo(Config::default());
    let mut c = Client::open(server.addr);
    for mask in [[0, 0, 0, 0], [0xFF, 0xFF, 0xFF, 0xFF], [1, 2, 3, 4]] {
        for len in 0..20usize {
            let payload: Vec<u8> = (0..len as u8).collect();
            c.send(&frame_with(true, 2, &payload, Some(mask)));
            assert_eq!(c.read_frame().payload, payload, "mask {:?}", mask);
        }
    }
}

#[test]
fn unmasked_client_frame_gets_1002() {
    fails_with(
        Config::default(),
        &frame_with(true, 1, b"hello", None),
        1002,
    );
}

#[test]
fn reserved_bits_get_1002() {
    for rsv in [0x40u8, 0x20, 0x10, 0x70] {
        let mut f = frame(true, 1, b"hello");
        f[0] |= rsv;
        fails_with(Config::default(), &f, 1002);
    }
}

#[test]
fn reserved_bits_on_a_control_frame_get_1002() {
    let mut f = frame(true, 9, b"");
    f[0] |= 0x40;
    fails_with(Config::default(), &f, 1002);
}

#[test]
fn reserved_opcodes_get_1002() {
    for opcode in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        fails_with(Config::default(), &frame(true, opcode, b"x"), 1002);
    }
}

#[test]
fn control_frames_over_125_bytes_get_1002() {
    for opcode in [8u8, 9, 10] {
        // 126 bytes, announced with the 16-bit length.
        fails_with(Config::default(), &frame(true, opcode, &[b'a'; 126]), 1002);
    }
}

#[test]
fn a_125_byte_ping_is_fine() {
    let server = TestServer::echo(Config::default());
    let mut c = Client::open(server.addr);
    c.send_frame(true, 9, &[b'p'; 125]);
    let f = c.read_frame();
    assert_eq!((f.opcode, f.payload), (10, vec![b'p'; 125]));
}

#[test]
fn fragmented_control_frames_get_1002() {
    for opcode in [8u8, 9, 10] {
        fails_with(Config::default(), &frame(false, opcode, b""), 1002);
    }
}

#[test]
fn length_with_the_top_bit_set_gets_1002() {
    let mut f = vec![0x82, 0xFF];
    f.extend_from_slice(&(1u64 << 63).to_be_bytes());
    f.extend_from_slice(&support::MASK);
    fails_with(Config::default(), &f, 1002);
}

/// A header announcing a terabyte is refused at once: the payload is never
/// sent, and a server that tried to allocate for it would abort the test.
#[test]
fn huge_announced_length_gets_1009_without_the_payload() {
    for len in [1u64 << 40, (1u64 << 63) - 1, u64::from(u32::MAX) + 1] {
        fails_with(Config::default(), &frame_header(true, 2, len), 1009);
    }
}

#[test]
fn frame_over_the_limit_gets_1009_before_its_payload() {
    let config = Config::default().max_frame_size(1000);
    // 1,001 bytes announced; none sent.
    fails_with(config, &frame_header(true, 1, 1001), 1009);
}

#[test]
fn frame_at_the_limit_is_accepted() {
    let server = TestServer::echo(Config::default().max_frame_size(1000));
    let mut c = Client::open(server.addr);
    c.send_frame(true, 2, &[3u8; 1000]);
    assert_eq!(c.read_frame().payload, vec![3u8; 1000]);
}
