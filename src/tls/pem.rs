//! Loading certificates, keys and CA roots: [`Identity`] (a chain and its key) and [`Roots`].
//!
//! Everything is checked when loaded, so a bad file fails here with a message that names it,
//! not later in a handshake.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;

use super::error::{ConfigError, ConfigErrorKind as K};

/// A certificate chain (leaf first) and the private key of its leaf, checked to match.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Identity {
    pub(crate) key: Arc<CertifiedKey>,
}

impl Identity {
    /// Load from two PEM files: the chain (leaf first, then intermediates) and the key
    /// (PKCS#8, PKCS#1 RSA or SEC1 EC). The two may be the same file.
    pub fn from_pem_files(cert_file: impl AsRef<Path>, key_file: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let (cert_file, key_file) = (cert_file.as_ref(), key_file.as_ref());
        let cert = read_file(cert_file, "certificate file")?;
        let key = read_file(key_file, "key file")?;
        Self::load(
            &cert,
            &key,
            &format!("certificate file '{}'", cert_file.display()),
            &format!("key file '{}'", key_file.display()),
        )
    }

    /// Load from PEM text in memory (see [`Identity::from_pem_files`]).
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, ConfigError> {
        Self::load(cert_pem, key_pem, "the certificate PEM", "the key PEM")
    }

    /// From DER: the chain (leaf first) and the key.
    pub fn from_der(chain: Vec<Vec<u8>>, key_der: Vec<u8>) -> Result<Self, ConfigError> {
        let chain: Vec<_> = chain.into_iter().map(CertificateDer::from).collect();
        let key = PrivateKeyDer::try_from(key_der)
            .map_err(|e| ConfigError::new(K::BadKey, format!("the private key DER is not usable: {e}")))?;
        Self::from_parts(chain, key, "the certificate DER")
    }

    fn load(cert: &[u8], key: &[u8], cert_src: &str, key_src: &str) -> Result<Self, ConfigError> {
        let chain = certs_from_pem(cert, cert_src)?;
        if chain.is_empty() {
            return Err(ConfigError::new(
                K::BadPem,
                format!("no certificate in {cert_src} (expected a -----BEGIN CERTIFICATE----- block)"),
            ));
        }
        let key = match PrivateKeyDer::from_pem_slice(key) {
            Ok(key) => key,
            Err(pem::Error::NoItemsFound) => {
                return Err(ConfigError::new(
                    K::BadPem,
                    format!("no private key in {key_src} (expected a -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY block)"),
                ))
            }
            Err(e) => return Err(ConfigError::new(K::BadPem, format!("{key_src} is not valid PEM: {e}"))),
        };
        Self::from_parts(chain, key, cert_src)
    }

    fn from_parts(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        cert_src: &str,
    ) -> Result<Self, ConfigError> {
        let signer = super::provider()
            .key_provider
            .load_private_key(key)
            .map_err(|e| ConfigError::new(K::BadKey, format!("the private key cannot be used: {e}")))?;
        let certified = CertifiedKey::new(chain, signer);
        match certified.keys_match() {
            // Unknown: the key type cannot tell its public key; the handshake will check.
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                return Err(ConfigError::new(
                    K::KeyMismatch,
                    format!("the private key does not match the certificate in {cert_src}"),
                ))
            }
            Err(e) => {
                return Err(ConfigError::new(
                    K::BadCertificate,
                    format!("the certificate in {cert_src} cannot be parsed: {e}"),
                ))
            }
        }
        Ok(Identity { key: Arc::new(certified) })
    }

    /// The chain as DER, leaf first.
    pub fn chain(&self) -> impl Iterator<Item = &[u8]> {
        self.key.cert.iter().map(|c| c.as_ref())
    }
}

/// A set of trusted CA certificates (trust anchors). Add from files, directories, memory or
/// the system store.
#[derive(Debug, Clone)]
pub struct Roots {
    pub(crate) store: RootCertStore,
}

impl Default for Roots {
    fn default() -> Self {
        Roots::new()
    }
}

impl Roots {
    /// No roots yet.
    pub fn new() -> Self {
        Roots { store: RootCertStore::empty() }
    }

    /// Number of roots.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether there are no roots.
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    /// Add every certificate of a PEM file (a bundle such as ca-certificates.crt works).
    /// A file with no certificate is an error.
    pub fn add_pem_file(&mut self, file: impl AsRef<Path>) -> Result<usize, ConfigError> {
        let file = file.as_ref();
        let pem = read_file(file, "CA file")?;
        self.add_certs(
            certs_from_pem(&pem, &format!("CA file '{}'", file.display()))?,
            &format!("CA file '{}'", file.display()),
        )
    }

    /// Add every certificate of PEM text in memory. Text with no certificate is an error.
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<usize, ConfigError> {
        self.add_certs(certs_from_pem(pem, "the CA PEM")?, "the CA PEM")
    }

    /// Add one DER certificate.
    pub fn add_der(&mut self, der: &[u8]) -> Result<usize, ConfigError> {
        self.add_certs(vec![CertificateDer::from(der.to_vec())], "the CA DER")
    }

    /// Add the certificates of every file in a directory (OpenSSL's CApath; not recursive;
    /// symlinks followed, each file read once, so a c_rehash'ed directory works). A
    /// directory that holds no certificate is an error.
    pub fn add_dir(&mut self, dir: impl AsRef<Path>) -> Result<usize, ConfigError> {
        let dir = dir.as_ref();
        if let Err(e) = std::fs::read_dir(dir) {
            return Err(ConfigError::new(K::Io, format!("cannot read CA directory '{}': {e}", dir.display())));
        }
        let found = rustls_native_certs::load_certs_from_paths(None, Some(dir));
        if let Some(e) = found.errors.first() {
            return Err(ConfigError::new(K::BadPem, format!("in CA directory '{}': {e}", dir.display())));
        }
        self.add_certs(found.certs, &format!("CA directory '{}'", dir.display()))
    }

    /// Add the system's trusted roots: the files named by `SSL_CERT_FILE` / `SSL_CERT_DIR`
    /// when set (as OpenSSL does), else the distribution's bundle (on Debian
    /// /etc/ssl/certs/ca-certificates.crt). Certificates the system store holds but that
    /// cannot serve as trust anchors are skipped. Finding none is an error.
    pub fn add_system(&mut self) -> Result<usize, ConfigError> {
        let found = rustls_native_certs::load_native_certs();
        if found.certs.is_empty() {
            let why = match found.errors.first() {
                Some(e) => format!(": {e}"),
                None => String::new(),
            };
            return Err(ConfigError::new(K::NoRoots, format!("no CA roots found in the system store{why}")));
        }
        let (added, _unusable) = self.store.add_parsable_certificates(found.certs);
        Ok(added)
    }

    fn add_certs(&mut self, certs: Vec<CertificateDer<'static>>, src: &str) -> Result<usize, ConfigError> {
        if certs.is_empty() {
            return Err(ConfigError::new(
                K::NoRoots,
                format!("no certificate in {src} (expected -----BEGIN CERTIFICATE----- blocks)"),
            ));
        }
        let before = self.store.len();
        for cert in certs {
            self.store.add(cert).map_err(|e| {
                ConfigError::new(K::BadCertificate, format!("a certificate in {src} cannot be used as a CA root: {e}"))
            })?;
        }
        Ok(self.store.len() - before)
    }
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| ConfigError::new(K::Io, format!("cannot read {what} '{}': {e}", path.display())))
}

fn certs_from_pem(pem: &[u8], src: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::new(K::BadPem, format!("{src} is not valid PEM: {e}")))
}
