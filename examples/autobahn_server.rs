//! The echo server for the Autobahn|Testsuite and other interop suites:
//! limits raised to the suite's 16 MiB messages, fragments uncapped, any
//! Origin allowed (test clients serve their pages from other ports).
//!
//! ```text
//! cargo run --release --example autobahn_server [ADDR]
//! cargo run --release --features deflate --example autobahn_server [ADDR] --deflate
//! cargo run --release --features tls --example autobahn_server [ADDR] --tls CERT KEY
//! ```
//! ADDR defaults to 127.0.0.1:9001. `--deflate` negotiates permessage-deflate
//! with the default settings (no context takeover). `--tls` serves wss://
//! with the PEM certificate chain CERT and key KEY.

use tinyws::{Config, Deflate, Server, TlsConfig};

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let deflate = args.iter().any(|a| a == "--deflate");
    let tls =
        args.iter()
            .position(|a| a == "--tls")
            .map(|i| match (args.get(i + 1), args.get(i + 2)) {
                (Some(cert), Some(key)) => (cert.clone(), key.clone()),
                _ => {
                    eprintln!("autobahn_server: --tls needs CERT and KEY");
                    std::process::exit(2);
                }
            });
    let tls_files = tls.iter().flat_map(|(c, k)| [c, k]).collect::<Vec<_>>();
    let addr = args
        .iter()
        .find(|a| !a.starts_with("--") && !tls_files.contains(a))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let config = Config::default()
        .max_message_size(64 << 20)
        .max_frame_size(64 << 20)
        .max_fragments(usize::MAX)
        .allow_any_origin(true)
        .stack_size(256 * 1024)
        .deflate(if deflate {
            Some(Deflate::default())
        } else {
            None
        });
    let result = Server::bind(&addr, &config).and_then(|server| {
        let (server, scheme) = match &tls {
            Some((cert, key)) => (server.tls(TlsConfig::server(cert, key)?)?, "wss"),
            None => (server, "ws"),
        };
        println!(
            "autobahn echo server on {}://{}",
            scheme,
            server.local_addr()?
        );
        server.serve(|mut ws| {
            while let Ok(msg) = ws.read() {
                if msg.is_data() && ws.send(msg).is_err() {
                    break;
                }
            }
        })
    });
    if let Err(e) = result {
        eprintln!("autobahn_server: {}: {}", addr, e);
        std::process::exit(1);
    }
}
