//! A server's certificate and key, re-read when their files change.
//!
//! rustls asks a resolver for the certificate of each new session; this one
//! hands out the pair in service, an `Arc` that open sessions keep. Each new
//! connection first stats both files (two system calls, against a TLS
//! handshake's few hundred microseconds of signing) and compares size,
//! modification time and inode with those of the last attempt, so certbot's
//! rename-into-place of a new symlink is seen as well as an edit in place.
//! No thread watches the files: a server with no new connections has no
//! use for a new certificate until one arrives.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::{invalid, pem_error};

/// What identifies one version of a file: `None` while it cannot be stat'ed
/// (between certbot's unlink and rename, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64),
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        // `metadata` follows symlinks: a renamed-in symlink to a new file
        // changes the inode seen here.
        let meta = fs::metadata(path).ok()?;
        Some(Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            inode: {
                use std::os::unix::fs::MetadataExt;
                (meta.dev(), meta.ino())
            },
        })
    }
}

type Stamps = (Option<Stamp>, Option<Stamp>);

/// The certificate files and the pair in service.
pub(crate) struct Certs {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' stamps at the last load attempt, good or bad: a bad pair
    /// is logged once, not at every connection, and retried when a file
    /// changes again.
    tried: Mutex<Stamps>,
}

impl Certs {
    /// Loads the pair, or says which file is wrong and how.
    pub(crate) fn load(
        cert_path: PathBuf,
        key_path: PathBuf,
        provider: Arc<CryptoProvider>,
    ) -> io::Result<Certs> {
        let stamps = (Stamp::of(&cert_path), Stamp::of(&key_path));
        let key = read_pair(&cert_path, &key_path, &provider)?;
        Ok(Certs {
            cert_path,
            key_path,
            provider,
            current: RwLock::new(Arc::new(key)),
            tried: Mutex::new(stamps),
        })
    }

    /// Re-reads the pair if either file changed since the last attempt.
    /// Never fails: a bad new pair is logged and the old one kept.
    pub(crate) fn check(&self) {
        let now = (Stamp::of(&self.cert_path), Stamp::of(&self.key_path));
        // Another connection may be loading right now: it will install what
        // it finds, and this connection goes ahead with the pair in service.
        let mut tried = match self.tried.try_lock() {
            Ok(tried) => tried,
            Err(_) => return,
        };
        if *tried == now {
            return;
        }
        *tried = now;
        match self.install() {
            Ok(()) => log::info!(
                "tls: loaded the new certificate from {}",
                self.cert_path.display()
            ),
            Err(e) => log::warn!("tls: {}; the previous certificate stays in service", e),
        }
    }

    /// Re-reads the pair now, changed or not.
    pub(crate) fn reload(&self) -> io::Result<()> {
        let mut tried = self.tried.lock().unwrap_or_else(|p| p.into_inner());
        *tried = (Stamp::of(&self.cert_path), Stamp::of(&self.key_path));
        match self.install() {
            Ok(()) => {
                log::info!(
                    "tls: reloaded the certificate from {}",
                    self.cert_path.display()
                );
                Ok(())
            }
            Err(e) => {
                log::warn!("tls: {}; the previous certificate stays in service", e);
                Err(e)
            }
        }
    }

    fn install(&self) -> io::Result<()> {
        let key = read_pair(&self.cert_path, &self.key_path, &self.provider)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
        Ok(())
    }

    fn current(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

impl std::fmt::Debug for Certs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certs")
            .field("cert", &self.cert_path)
            .field("key", &self.key_path)
            .finish()
    }
}

/// Reads a PEM chain and key and checks that the key belongs to the leaf.
fn read_pair(
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> io::Result<CertifiedKey> {
    let chain = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| pem_error(cert_path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(cert_path, e))?;
    if chain.is_empty() {
        return Err(invalid(format!(
            "tls: {}: no PEM certificate in it",
            cert_path.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => invalid(format!(
            "tls: {}: no PEM private key in it",
            key_path.display()
        )),
        e => pem_error(key_path, e),
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        invalid(format!(
            "tls: {} and {} are not a usable pair: {}",
            cert_path.display(),
            key_path.display(),
            e
        ))
    })
}
