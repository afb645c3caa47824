//! Idle memory and handshake cost of wss:// connections, for
//! `scripts/wss-idle.sh`.
//!
//! ```text
//! wss_idle server CERT KEY            a TLS echo Server on 127.0.0.1:0; prints its port
//! wss_idle hold PORT CA N             opens N wss connections, echoes once on each,
//!                                     prints "ready" and holds them until killed
//! wss_idle churn PORT CA N            N connections in a row: TLS, upgrade, one
//!                                     echo, close
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use tinyws::{CloseCode, Config, Message, Role, Server, Socket, TlsConfig, WebSocket};

const TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> tinyws::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> &str { args.get(i).map(String::as_str).unwrap_or("") };
    match arg(0) {
        "server" => {
            let tls = TlsConfig::server(arg(1), arg(2))?;
            let config = Config::default().max_connections(20_000);
            let server = Server::bind("127.0.0.1:0", &config)?.tls(tls)?;
            println!("{}", server.local_addr()?.port());
            server.serve(|mut ws| {
                while let Ok(msg) = ws.read() {
                    if msg.is_data() && ws.send(msg).is_err() {
                        break;
                    }
                }
            })
        }
        mode @ ("hold" | "churn") => {
            let port: u16 = arg(1)
                .parse()
                .map_err(|_| tinyws::Error::InvalidInput("port"))?;
            let ca = TlsConfig::client_with_ca(arg(2))?;
            let n: usize = arg(3)
                .parse()
                .map_err(|_| tinyws::Error::InvalidInput("count"))?;
            let mut held = Vec::new();
            for _ in 0..n {
                let mut ws = open(port, &ca)?;
                ws.send("ping")?;
                match ws.read()? {
                    Message::Text(t) if t == "ping" => {}
                    other => panic!("unexpected {:?}", other),
                }
                if mode == "hold" {
                    held.push(ws);
                } else {
                    ws.close(CloseCode::NORMAL, "")?;
                }
            }
            if mode == "hold" {
                println!("ready");
                std::io::stdout().flush()?;
                std::thread::sleep(Duration::from_secs(3600));
            }
            Ok(())
        }
        _ => {
            eprintln!("usage: wss_idle server CERT KEY | hold PORT CA N | churn PORT CA N");
            std::process::exit(2);
        }
    }
}

/// A wss client end: TLS, the upgrade by hand, then tinyws's client role.
fn open(port: u16, ca: &TlsConfig) -> tinyws::Result<WebSocket> {
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    let mut socket = Socket::connect_tls(tcp, ca, "localhost", TIMEOUT)?;
    socket.write_all(
        b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte)? == 0 {
            return Err(tinyws::Error::Disconnected);
        }
        head.push(byte[0]);
    }
    WebSocket::from_raw(socket, Role::Client, &Config::default())
}
