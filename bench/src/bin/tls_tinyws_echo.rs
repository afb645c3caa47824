//! wss:// echo server on tinyws's `Server` with `TlsConfig::server`: one
//! thread per connection, default configuration but a connection cap above
//! the 1,000 idle connections measured. For scripts/tls-bench.sh.
//!
//! usage: tls_tinyws_echo ADDR CERT KEY

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tls = tinyws::TlsConfig::server(&args[1], &args[2]).expect("certificate");
    let config = tinyws::Config::default().max_connections(4_000);
    let server = tinyws::Server::bind(args[0].as_str(), &config)
        .and_then(|s| s.tls(tls))
        .expect("bind");
    println!(
        "tinyws wss echo on {}",
        server.local_addr().expect("address")
    );
    server
        .serve(|mut ws| {
            while let Ok(msg) = ws.read() {
                if msg.is_data() && ws.send(msg).is_err() {
                    break;
                }
            }
        })
        .expect("serve");
}
