//! Server and client configurations: built once with a builder, then shared (cheaply
//! cloned) by every session made from them.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::server::{
    ClientHello, NoServerSessionStorage, ResolvesServerCert, ServerSessionMemoryCache, WebPkiClientVerifier,
};
use rustls::sign::CertifiedKey;
use rustls::SupportedProtocolVersion;

use super::error::{ConfigError, ConfigErrorKind as K};
use super::{Identity, Roots, Version};

/// Sessions remembered for resumption, per configuration (server cache and client cache).
const SESSION_CACHE_SIZE: usize = 256;

/// What a server asks of its clients' certificates.
#[derive(Debug, Clone, Default)]
pub enum ClientAuth {
    /// No certificate is requested (the default).
    #[default]
    None,
    /// A certificate is requested; a client may send none, but one it sends must verify
    /// against these roots.
    Requested(Roots),
    /// A certificate is required and must verify against these roots.
    Required(Roots),
}

/// The settings both sides share.
#[derive(Debug, Clone)]
struct Common {
    alpn: Vec<Vec<u8>>,
    min_version: Version,
    resumption: bool,
    cipher_suites: Option<Vec<rustls::SupportedCipherSuite>>,
}

impl Default for Common {
    fn default() -> Self {
        Common { alpn: Vec::new(), min_version: Version::Tls12, resumption: true, cipher_suites: None }
    }
}

impl Common {
    fn set_alpn(&mut self, protocols: &[&[u8]]) -> Result<(), ConfigError> {
        if let Some(bad) = protocols.iter().find(|p| p.is_empty() || p.len() > 255) {
            return Err(ConfigError::new(
                K::InvalidSetting,
                format!("an ALPN protocol name must be 1 to 255 bytes long (got {} bytes)", bad.len()),
            ));
        }
        self.alpn = protocols.iter().map(|p| p.to_vec()).collect();
        Ok(())
    }

    fn set_cipher_suites(&mut self, names: &[&str]) -> Result<(), ConfigError> {
        let all = rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES;
        let mut chosen = Vec::new();
        for name in names {
            let suite = all.iter().find(|s| super::cipher_suite_name(s.suite()) == *name).ok_or_else(|| {
                let known: Vec<_> = all.iter().map(|s| super::cipher_suite_name(s.suite())).collect();
                ConfigError::new(
                    K::InvalidSetting,
                    format!("unknown cipher suite '{name}' (known: {})", known.join(", ")),
                )
            })?;
            chosen.push(*suite);
        }
        if chosen.is_empty() {
            return Err(ConfigError::new(K::InvalidSetting, "the cipher suite list is empty"));
        }
        self.cipher_suites = Some(chosen);
        Ok(())
    }

    fn provider(&self) -> Arc<CryptoProvider> {
        let mut provider = super::provider_value();
        if let Some(suites) = &self.cipher_suites {
            provider.cipher_suites = suites.clone();
        }
        Arc::new(provider)
    }

    fn versions(&self) -> &'static [&'static SupportedProtocolVersion] {
        static TLS13_ONLY: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match self.min_version {
            Version::Tls12 => rustls::ALL_VERSIONS,
            Version::Tls13 => &TLS13_ONLY,
        }
    }
}

fn builder_error(e: rustls::Error) -> ConfigError {
    // Raised when the cipher suites and the versions leave nothing usable.
    ConfigError::new(K::InvalidSetting, format!("inconsistent settings: {e}"))
}

/// Builds a [`ServerConfig`]. Needs at least one certificate ([`identity`] or
/// [`sni_identity`]).
///
/// Defaults: no client certificates, no ALPN, TLS 1.2 and 1.3, resumption on (stateless
/// tickets and a session cache), the provider's cipher suites.
///
/// [`identity`]: ServerConfigBuilder::identity
/// [`sni_identity`]: ServerConfigBuilder::sni_identity
#[derive(Debug, Clone, Default)]
pub struct ServerConfigBuilder {
    default_identity: Option<Identity>,
    by_name: HashMap<String, Identity>,
    client_auth: ClientAuth,
    common: Common,
}

impl ServerConfigBuilder {
    /// A builder with the defaults and no certificate yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The certificate sent when the client names no server (SNI) or a name that has no
    /// certificate of its own.
    pub fn identity(&mut self, identity: Identity) -> &mut Self {
        self.default_identity = Some(identity);
        self
    }

    /// The certificate sent when the client asks for `name` (SNI, compared without regard
    /// to case). `name` is a DNS name, or `*.` and a DNS name to match one more leftmost
    /// label. The certificate must be valid for the name.
    pub fn sni_identity(&mut self, name: &str, identity: Identity) -> Result<&mut Self, ConfigError> {
        let name = name.to_ascii_lowercase();
        // A wildcard entry is checked with a name it would match.
        let probe = match name.strip_prefix("*.") {
            Some(parent) => format!("sni-probe.{parent}"),
            None => name.clone(),
        };
        let server_name = ServerName::try_from(probe.as_str())
            .ok()
            .filter(|n| matches!(n, ServerName::DnsName(_)))
            .ok_or_else(|| ConfigError::new(K::InvalidSetting, format!("'{name}' is not a DNS name")))?;
        let leaf = identity.key.end_entity_cert().map_err(|e| {
            ConfigError::new(K::BadCertificate, format!("the certificate for '{name}' cannot be used: {e}"))
        })?;
        let parsed = rustls::server::ParsedCertificate::try_from(leaf).map_err(|e| {
            ConfigError::new(K::BadCertificate, format!("the certificate for '{name}' cannot be parsed: {e}"))
        })?;
        rustls::client::verify_server_name(&parsed, &server_name).map_err(|_| {
            ConfigError::new(
                K::BadCertificate,
                format!("the certificate registered for '{name}' is not valid for that name"),
            )
        })?;
        self.by_name.insert(name, identity);
        Ok(self)
    }

    /// Ask clients for certificates (see [`ClientAuth`]).
    pub fn client_auth(&mut self, auth: ClientAuth) -> &mut Self {
        self.client_auth = auth;
        self
    }

    /// The ALPN protocols this server accepts, in its order of preference. A client that
    /// offers ALPN but none of these fails the handshake with no_application_protocol
    /// (RFC 7301 §3.2). Each name is 1 to 255 bytes.
    pub fn alpn(&mut self, protocols: &[&[u8]]) -> Result<&mut Self, ConfigError> {
        self.common.set_alpn(protocols)?;
        Ok(self)
    }

    /// The lowest protocol version accepted (TLS 1.2 by default).
    pub fn min_version(&mut self, version: Version) -> &mut Self {
        self.common.min_version = version;
        self
    }

    /// Session resumption (on by default): TLS 1.3 and TLS 1.2 tickets, and a cache of
    /// TLS 1.2 session ids.
    pub fn resumption(&mut self, on: bool) -> &mut Self {
        self.common.resumption = on;
        self
    }

    /// Restrict the cipher suites to these IANA names (for example
    /// `TLS_AES_128_GCM_SHA256`), in this order of preference.
    pub fn cipher_suites(&mut self, names: &[&str]) -> Result<&mut Self, ConfigError> {
        self.common.set_cipher_suites(names)?;
        Ok(self)
    }

    /// Check everything and build the configuration.
    pub fn build(&self) -> Result<ServerConfig, ConfigError> {
        if self.default_identity.is_none() && self.by_name.is_empty() {
            return Err(ConfigError::new(
                K::Missing,
                "the server has no certificate: add a certificate chain and its key",
            ));
        }
        let provider = self.common.provider();
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(self.common.versions())
            .map_err(builder_error)?;
        let verifier = match &self.client_auth {
            ClientAuth::None => WebPkiClientVerifier::no_client_auth(),
            ClientAuth::Requested(roots) | ClientAuth::Required(roots) => {
                if roots.is_empty() {
                    return Err(ConfigError::new(
                        K::NoRoots,
                        "client certificates are asked for but the CA roots to check them are empty",
                    ));
                }
                let b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots.store.clone()), provider);
                let b =
                    if matches!(self.client_auth, ClientAuth::Requested(_)) { b.allow_unauthenticated() } else { b };
                b.build()
                    .map_err(|e| ConfigError::new(K::InvalidSetting, format!("client certificate verifier: {e}")))?
            }
        };
        let resolver = Arc::new(SniResolver {
            default: self.default_identity.as_ref().map(|i| i.key.clone()),
            by_name: self.by_name.iter().map(|(n, i)| (n.clone(), i.key.clone())).collect(),
        });
        let mut config = builder.with_client_cert_verifier(verifier).with_cert_resolver(resolver);
        config.alpn_protocols = self.common.alpn.clone();
        if self.common.resumption {
            config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
            config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()
                .map_err(|e| ConfigError::new(K::InvalidSetting, format!("cannot make a ticket key: {e}")))?;
        } else {
            config.session_storage = Arc::new(NoServerSessionStorage {});
            config.send_tls13_tickets = 0;
        }
        Ok(ServerConfig { inner: Arc::new(config) })
    }
}

/// Picks the server certificate by the name the client sent (SNI).
#[derive(Debug)]
struct SniResolver {
    default: Option<Arc<CertifiedKey>>,
    by_name: HashMap<String, Arc<CertifiedKey>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // rustls hands over the name already validated and lower-cased.
        if let Some(name) = hello.server_name() {
            if let Some(key) = self.by_name.get(name) {
                return Some(key.clone());
            }
            if let Some((_, parent)) = name.split_once('.') {
                if let Some(key) = self.by_name.get(&format!("*.{parent}")) {
                    return Some(key.clone());
                }
            }
        }
        self.default.clone()
    }
}

/// A finished server configuration. Cheap to clone; shared by every session made from it
/// (and so is its resumption state).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub(crate) inner: Arc<rustls::ServerConfig>,
}

/// Builds a [`ClientConfig`]. Needs CA roots ([`roots`]).
///
/// Defaults: no client certificate, no ALPN, TLS 1.2 and 1.3, resumption on (a cache of
/// tickets and session ids per server name), the provider's cipher suites.
///
/// [`roots`]: ClientConfigBuilder::roots
#[derive(Debug, Clone, Default)]
pub struct ClientConfigBuilder {
    roots: Option<Roots>,
    identity: Option<Identity>,
    common: Common,
}

impl ClientConfigBuilder {
    /// A builder with the defaults and no roots yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The CA roots that server certificates are checked against.
    pub fn roots(&mut self, roots: Roots) -> &mut Self {
        self.roots = Some(roots);
        self
    }

    /// The certificate to present when a server asks for one.
    pub fn identity(&mut self, identity: Identity) -> &mut Self {
        self.identity = Some(identity);
        self
    }

    /// The ALPN protocols to offer, in order of preference (each 1 to 255 bytes).
    pub fn alpn(&mut self, protocols: &[&[u8]]) -> Result<&mut Self, ConfigError> {
        self.common.set_alpn(protocols)?;
        Ok(self)
    }

    /// The lowest protocol version accepted (TLS 1.2 by default).
    pub fn min_version(&mut self, version: Version) -> &mut Self {
        self.common.min_version = version;
        self
    }

    /// Session resumption (on by default).
    pub fn resumption(&mut self, on: bool) -> &mut Self {
        self.common.resumption = on;
        self
    }

    /// Restrict the cipher suites (see [`ServerConfigBuilder::cipher_suites`]).
    pub fn cipher_suites(&mut self, names: &[&str]) -> Result<&mut Self, ConfigError> {
        self.common.set_cipher_suites(names)?;
        Ok(self)
    }

    /// Check everything and build the configuration.
    pub fn build(&self) -> Result<ClientConfig, ConfigError> {
        let roots =
            match &self.roots {
                Some(roots) if !roots.is_empty() => roots.store.clone(),
                _ => return Err(ConfigError::new(
                    K::NoRoots,
                    "the client has no CA roots to check servers with: add a CA file, a directory or the system store",
                )),
            };
        let builder = rustls::ClientConfig::builder_with_provider(self.common.provider())
            .with_protocol_versions(self.common.versions())
            .map_err(builder_error)?
            .with_root_certificates(roots);
        let mut config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some(identity) => {
                builder.with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(identity.key.clone())))
            }
        };
        config.alpn_protocols = self.common.alpn.clone();
        config.resumption = if self.common.resumption {
            Resumption::in_memory_sessions(SESSION_CACHE_SIZE)
        } else {
            Resumption::disabled()
        };
        Ok(ClientConfig { inner: Arc::new(config) })
    }
}

/// A finished client configuration. Cheap to clone; sessions made from the same
/// configuration share its resumption cache.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub(crate) inner: Arc<rustls::ClientConfig>,
}
