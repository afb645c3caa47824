//! wss:// with rustls and its ring provider, behind the `tls` feature.
//!
//! [`TlsConfig`] is tinyws's own description of one side of TLS: a server's
//! certificate and key files (re-read when they change), or a client's
//! trust roots. No rustls type appears in it, except through the two
//! `unversioned_*` escape hatches. `TlsStream` is one TLS session over a
//! `TcpStream`, read by the connection's thread and written by any number
//! of others (see `stream.rs` and DESIGN.md, "TLS"); it reaches users only
//! as a `Socket`. Without the feature, `off.rs` gives the
//! same `TlsConfig` with constructors that say how to get TLS.
//!
//! Out of scope: client certificates, OCSP stapling, HTTP/2 (ALPN offers
//! `http/1.1` only, since tinyws does not speak RFC 8441 WebSockets over
//! HTTP/2), and any TLS below 1.2.

mod certs;
mod stream;
#[cfg(test)]
mod tests;

use std::fmt;
use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{Error, Result};

pub(crate) use certs::Certs;
pub(crate) use stream::TlsStream;

use crate::socket::Socket;

/// The only application protocol a tinyws server offers in ALPN.
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Where the system's trusted roots live, tried in order after
/// `SSL_CERT_FILE`: Debian, Ubuntu, Raspberry Pi OS and Alpine; Fedora and
/// RHEL; BSDs and macOS.
const SYSTEM_ROOTS: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// One side of TLS: a server's certificate and key, or a client's trust
/// roots. Cheap to clone; clones share the server's certificate, so a
/// reload seen by one is seen by all.
///
/// ```no_run
/// # fn main() -> tinyws::Result<()> {
/// // A server, from the PEM files certbot (or `openssl`) wrote. The files
/// // are re-read when they change.
/// let server = tinyws::TlsConfig::server("/etc/tinyws/cert.pem", "/etc/tinyws/key.pem")?;
/// // A client that trusts the system's roots, and one that trusts only a
/// // private CA, as for a device on a LAN.
/// let public = tinyws::TlsConfig::client()?;
/// let lan = tinyws::TlsConfig::client_with_ca("/etc/tinyws/lan-ca.pem")?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    side: Side,
}

#[derive(Clone)]
enum Side {
    Server {
        config: Arc<rustls::ServerConfig>,
        /// `None` for a configuration handed in whole (no files to watch).
        certs: Option<Arc<Certs>>,
    },
    Client {
        config: Arc<rustls::ClientConfig>,
        /// Verification is off: said loudly on every connection.
        insecure: bool,
    },
}

impl TlsConfig {
    /// A server configuration from a PEM certificate chain (leaf first, as
    /// certbot's `fullchain.pem`) and its PEM private key (PKCS#8, PKCS#1
    /// or SEC1; RSA, ECDSA or Ed25519).
    ///
    /// ALPN offers `http/1.1` only. TLS 1.3 and 1.2 are accepted.
    ///
    /// Both files are checked for a change (size, time, inode: certbot's
    /// rename of a new symlink into place counts) when each new connection
    /// starts, and re-read if either changed. New connections then get the
    /// new certificate; open ones keep the session they have. A pair that
    /// cannot be read, does not parse or does not match is logged as a
    /// warning and the old one stays in service. See also
    /// [`reload`](Self::reload).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file and what is wrong with it: missing,
    /// unreadable, no certificate, no key, or a key that does not match
    /// the certificate.
    pub fn server(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<TlsConfig> {
        let provider = provider();
        let certs = Arc::new(Certs::load(
            cert.as_ref().to_path_buf(),
            key.as_ref().to_path_buf(),
            Arc::clone(&provider),
        )?);
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&certs) as Arc<dyn rustls::server::ResolvesServerCert>);
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        Ok(TlsConfig {
            side: Side::Server {
                config: Arc::new(config),
                certs: Some(certs),
            },
        })
    }

    /// A client configuration that verifies servers against the system's
    /// trusted roots: the PEM bundle named by `SSL_CERT_FILE`, else the
    /// first of `/etc/ssl/certs/ca-certificates.crt` (Debian, Raspberry Pi
    /// OS, Alpine), `/etc/pki/tls/certs/ca-bundle.crt` (Fedora) and
    /// `/etc/ssl/cert.pem` that exists. The server's name is sent in SNI
    /// and checked against its certificate.
    ///
    /// The system's roots rather than a bundled copy: `apt upgrade` keeps
    /// them current (additions and distrusts alike) on a device that runs
    /// the same binary for years, and the binary stays smaller. See
    /// DESIGN.md, "TLS".
    ///
    /// # Errors
    /// [`Error::Io`] if no bundle is found or none of its certificates
    /// parses (install `ca-certificates`, or use
    /// [`client_with_ca`](Self::client_with_ca)).
    pub fn client() -> Result<TlsConfig> {
        let env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
        let path = match env {
            Some(path) => path,
            None => SYSTEM_ROOTS
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    invalid(format!(
                        "tls: no system trust roots found (looked for SSL_CERT_FILE, {}): \
                         install ca-certificates or give a CA file",
                        SYSTEM_ROOTS.join(", ")
                    ))
                })?,
        };
        TlsConfig::client_with_ca(path)
    }

    /// A client configuration that trusts only the CA certificates in the
    /// PEM file `ca`: for a device with a private CA on a LAN (`--ca` in
    /// the tool). The server's name is sent in SNI and checked against its
    /// certificate.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read or holds no usable CA
    /// certificate.
    pub fn client_with_ca(ca: impl AsRef<Path>) -> Result<TlsConfig> {
        let ca = ca.as_ref();
        let mut roots = RootCertStore::empty();
        let mut bad = 0;
        for cert in CertificateDer::pem_file_iter(ca).map_err(|e| pem_error(ca, e))? {
            match cert.map_err(|e| pem_error(ca, e)) {
                Ok(cert) => {
                    if roots.add(cert).is_err() {
                        bad += 1;
                    }
                }
                Err(e) => return Err(Error::Io(e)),
            }
        }
        if roots.is_empty() {
            return Err(Error::Io(invalid(format!(
                "tls: {}: no usable CA certificate ({} could not be parsed)",
                ca.display(),
                bad
            ))));
        }
        if bad > 0 {
            log::debug!(
                "tls: {}: skipped {} unusable certificates",
                ca.display(),
                bad
            );
        }
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsConfig::client_from(config, false))
    }

    /// A client configuration that **does not verify the server at all**:
    /// any certificate for any name is accepted, so anyone on the path can
    /// read and change the traffic. For tests only. It is logged as a
    /// warning when made and on every connection that uses it.
    ///
    /// # Errors
    /// None with the `tls` feature; the `Result` is there because a build
    /// without it fails here, as every constructor does.
    pub fn client_insecure_skip_verify() -> Result<TlsConfig> {
        log::warn!(
            "tls: certificate verification is OFF for this client: for tests only, \
             anyone on the path can read and change the traffic"
        );
        let provider = provider();
        let verifier = Arc::new(NoVerification(Arc::clone(&provider)));
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(TlsConfig::client_from(config, true))
    }

    fn client_from(mut config: rustls::ClientConfig, insecure: bool) -> TlsConfig {
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        TlsConfig {
            side: Side::Client {
                config: Arc::new(config),
                insecure,
            },
        }
    }

    /// **Not covered by semver**: a server configuration from a rustls
    /// `ServerConfig` built by hand, for what [`server`](Self::server)
    /// does not offer (client certificates, a custom certificate
    /// resolver). rustls is not 1.0, so this signature may change in any
    /// tinyws release, patch releases included, when tinyws moves to
    /// another rustls. tinyws does not touch the configuration: set its
    /// ALPN to `http/1.1` yourself. There are no files to reload.
    pub fn unversioned_rustls_server(config: Arc<rustls::ServerConfig>) -> TlsConfig {
        TlsConfig {
            side: Side::Server {
                config,
                certs: None,
            },
        }
    }

    /// **Not covered by semver**: a client configuration from a rustls
    /// `ClientConfig` built by hand (client certificates, a custom
    /// verifier). As [`unversioned_rustls_server`](Self::unversioned_rustls_server),
    /// this may change in any release.
    pub fn unversioned_rustls_client(config: Arc<rustls::ClientConfig>) -> TlsConfig {
        TlsConfig {
            side: Side::Client {
                config,
                insecure: false,
            },
        }
    }

    /// Whether this is a server configuration.
    pub fn is_server(&self) -> bool {
        matches!(self.side, Side::Server { .. })
    }

    /// Re-reads a server's certificate and key now, whether or not the
    /// files changed: for a SIGHUP handler, or after renewing by other
    /// means. New connections get the new pair; open ones keep theirs.
    ///
    /// # Errors
    /// As for [`server`](Self::server); the old pair then stays in
    /// service. [`Error::InvalidInput`] for a client configuration or one made
    /// with [`unversioned_rustls_server`](Self::unversioned_rustls_server),
    /// which have no files.
    pub fn reload(&self) -> Result<()> {
        match &self.side {
            Side::Server {
                certs: Some(certs), ..
            } => Ok(certs.reload()?),
            _ => Err(Error::InvalidInput(
                "only a server TlsConfig made from files can reload",
            )),
        }
    }

    /// A server-side TLS socket over `tcp`, its handshake not yet run.
    pub(crate) fn server_socket(&self, tcp: TcpStream) -> Result<Socket> {
        let session = self.server_session()?;
        Ok(Socket::from(TlsStream::new(tcp, session.into())))
    }

    /// A client-side TLS socket over `tcp` to `host`, its handshake not
    /// yet run.
    pub(crate) fn client_socket(&self, tcp: TcpStream, host: &str) -> Result<Socket> {
        let session = self.client_session(host)?;
        Ok(Socket::from(TlsStream::new(tcp, session.into())))
    }

    /// Refuses a connection from the accept loop (over the cap, shutting
    /// down) with a TLS alert, never plaintext; see `stream::refuse`.
    pub(crate) fn refuse(&self, tcp: TcpStream) {
        stream::refuse(tcp);
    }

    /// A new server session, with the certificate files checked first.
    pub(crate) fn server_session(&self) -> Result<rustls::ServerConnection> {
        match &self.side {
            Side::Server { config, certs } => {
                if let Some(certs) = certs {
                    certs.check();
                }
                rustls::ServerConnection::new(Arc::clone(config)).map_err(tls_error)
            }
            Side::Client { .. } => Err(Error::InvalidInput(
                "a client TlsConfig cannot accept connections",
            )),
        }
    }

    /// A new client session for `host` (a DNS name or an IP address, with
    /// or without IPv6 brackets).
    pub(crate) fn client_session(&self, host: &str) -> Result<rustls::ClientConnection> {
        match &self.side {
            Side::Client { config, insecure } => {
                let bare = host.trim_start_matches('[').trim_end_matches(']');
                let name = ServerName::try_from(bare.to_owned()).map_err(|_| {
                    Error::Io(invalid(format!(
                        "tls: {:?} is neither a DNS name nor an IP address",
                        host
                    )))
                })?;
                if *insecure {
                    log::warn!(
                        "tls: connecting to {} WITHOUT certificate verification (tests only)",
                        host
                    );
                }
                rustls::ClientConnection::new(Arc::clone(config), name).map_err(tls_error)
            }
            Side::Server { .. } => Err(Error::InvalidInput(
                "a server TlsConfig cannot open client connections",
            )),
        }
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.side {
            Side::Server { certs, .. } => f
                .debug_struct("TlsConfig::Server")
                .field("certs", certs)
                .finish(),
            Side::Client { insecure, .. } => f
                .debug_struct("TlsConfig::Client")
                .field("insecure", insecure)
                .finish(),
        }
    }
}

/// ring, the one crypto provider: it needs only a C cross compiler for the
/// Pi targets.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn pem_error(path: &Path, e: rustls::pki_types::pem::Error) -> io::Error {
    match e {
        rustls::pki_types::pem::Error::Io(e) => {
            io::Error::new(e.kind(), format!("tls: {}: {}", path.display(), e))
        }
        e => invalid(format!("tls: {}: {:?}", path.display(), e)),
    }
}

/// A rustls error as an I/O error of kind `InvalidData`, whose message is
/// rustls's own.
pub(crate) fn tls_error(e: rustls::Error) -> Error {
    Error::Io(tls_io_error(e))
}

pub(crate) fn tls_io_error(e: rustls::Error) -> io::Error {
    invalid(format!("tls: {}", e))
}

/// Accepts any certificate for any name, but still checks that the
/// handshake was signed by the certificate's key, so the session itself
/// is sound.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
