//! The public contract: which types cross threads, the size of `Error`,
//! and the documented `Config` defaults.

use std::net::TcpStream;

use tinyws::{
    CloseCode, CloseFrame, Config, Error, Hub, Message, ProtocolError, Reply, Request, Sender,
    Server, ServerHandle, Timeout, WebSocket,
};

fn send_sync<T: Send + Sync>() {}
fn clone_send<T: Clone + Send + 'static>() {}

#[test]
fn main_types_are_send_and_sync() {
    send_sync::<WebSocket<TcpStream>>();
    send_sync::<WebSocket>();
    send_sync::<Sender>();
    send_sync::<Server>();
    send_sync::<ServerHandle>();
    send_sync::<Hub>();
    send_sync::<Error>();
    send_sync::<Config>();
    send_sync::<Message>();
    send_sync::<CloseFrame>();
    send_sync::<Request>();
    send_sync::<Reply>();
}

#[test]
fn handles_are_clone_and_send() {
    clone_send::<ServerHandle>();
    clone_send::<Sender>();
    clone_send::<Hub>();
    clone_send::<Config>();
}

#[test]
fn error_is_small_and_a_std_error() {
    fn std_error<E: std::error::Error + Send + Sync + 'static>() {}
    std_error::<Error>();
    assert!(
        std::mem::size_of::<Error>() <= 32,
        "Error grew to {} bytes",
        std::mem::size_of::<Error>()
    );
}

/// Every idle connection holds one: glibc hands it a 320-byte block on
/// 64-bit targets (DESIGN.md, "Memory"). Compression adds its own state.
#[cfg(not(feature = "deflate"))]
#[test]
fn a_connection_is_small() {
    let size = std::mem::size_of::<tinyws::WebSocket>();
    assert!(size <= 312, "WebSocket grew to {} bytes", size);
}

#[test]
fn errors_map_to_their_close_codes() {
    let cases = [
        (Error::Protocol(ProtocolError::UnmaskedFrame), Some(1002)),
        (Error::InvalidUtf8, Some(1007)),
        (Error::TooLarge { size: 2, max: 1 }, Some(1009)),
        (Error::TooManyFragments { max: 1 }, Some(1009)),
        (Error::Timeout(Timeout::Ping), Some(1011)),
        (Error::Timeout(Timeout::Write), None),
        (Error::Disconnected, None),
        (Error::Closed, None),
    ];
    for (error, code) in cases {
        assert_eq!(error.close_code().map(|c| c.0), code, "{}", error);
    }
}

// The Config defaults are pinned by the unit test beside Config
// (src/config.rs), which sees the same public fields.

#[test]
fn bad_config_is_an_error_not_a_panic() {
    let bad = Config::default().max_message_size(0);
    assert!(matches!(
        Server::bind("127.0.0.1:0", &bad),
        Err(Error::Config(_))
    ));
    let bad = Config::default().stack_size(1);
    assert!(matches!(
        Server::bind("127.0.0.1:0", &bad),
        Err(Error::Config(_))
    ));
}

#[test]
fn close_codes_allowed_on_the_wire() {
    for code in [1000, 1003, 1007, 1011, 1012, 1013, 1014, 3000, 4999] {
        assert!(CloseCode(code).is_allowed(), "{}", code);
    }
    for code in [999, 1004, 1005, 1006, 1015, 2999, 5000] {
        assert!(!CloseCode(code).is_allowed(), "{}", code);
    }
}
