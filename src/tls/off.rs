//! [`TlsConfig`] in a build without the `tls` feature: the same public
//! type and methods, each failing with a message that says how to get TLS,
//! so code and tools written for wss:// build either way and say why at
//! run time (as ureq's TLS provider choice does).

use std::net::TcpStream;
use std::path::Path;

use crate::error::{Error, Result};
use crate::socket::Socket;

const NO_TLS: &str =
    "this tinyws was built without TLS (wss://): build it with `--features tls` (Rust 1.71 or newer)";

/// One side of TLS. In this build (no `tls` feature) every constructor
/// fails with [`Error::Unsupported`]; see the `tls` feature for what it
/// does there.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    never: Never,
}

/// No value exists, so no `TlsConfig` does in this build, and the crate's
/// TLS paths type-check without a line of TLS code.
#[derive(Clone, Copy, Debug)]
enum Never {}

impl TlsConfig {
    /// A server configuration from PEM files; needs the `tls` feature.
    ///
    /// # Errors
    /// [`Error::Unsupported`] in this build.
    pub fn server(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<TlsConfig> {
        let _ = (cert, key);
        Err(Error::Unsupported(NO_TLS))
    }

    /// A client configuration against the system's roots; needs the `tls`
    /// feature.
    ///
    /// # Errors
    /// [`Error::Unsupported`] in this build.
    pub fn client() -> Result<TlsConfig> {
        Err(Error::Unsupported(NO_TLS))
    }

    /// A client configuration against a private CA; needs the `tls`
    /// feature.
    ///
    /// # Errors
    /// [`Error::Unsupported`] in this build.
    pub fn client_with_ca(ca: impl AsRef<Path>) -> Result<TlsConfig> {
        let _ = ca;
        Err(Error::Unsupported(NO_TLS))
    }

    /// A client configuration that verifies nothing, for tests; needs the
    /// `tls` feature.
    ///
    /// # Errors
    /// [`Error::Unsupported`] in this build.
    pub fn client_insecure_skip_verify() -> Result<TlsConfig> {
        Err(Error::Unsupported(NO_TLS))
    }

    /// Whether this is a server configuration (none exists in this build).
    pub fn is_server(&self) -> bool {
        match self.never {}
    }

    /// Re-reads a server's certificate files; needs the `tls` feature.
    ///
    /// # Errors
    /// [`Error::Unsupported`] in this build.
    pub fn reload(&self) -> Result<()> {
        match self.never {}
    }

    pub(crate) fn server_socket(&self, _: TcpStream) -> Result<Socket> {
        match self.never {}
    }

    pub(crate) fn client_socket(&self, _: TcpStream, _: &str) -> Result<Socket> {
        match self.never {}
    }

    pub(crate) fn refuse(&self, _: TcpStream) {
        match self.never {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_constructor_says_how_to_get_tls() {
        let errors = [
            TlsConfig::server("cert.pem", "key.pem").unwrap_err(),
            TlsConfig::client().unwrap_err(),
            TlsConfig::client_with_ca("ca.pem").unwrap_err(),
            TlsConfig::client_insecure_skip_verify().unwrap_err(),
        ];
        for e in &errors {
            assert!(e.to_string().contains("--features tls"), "{}", e);
        }
    }
}
