//! TLS as a sans-IO core, with rustls and the aws-lc-rs crypto provider: bytes in from the
//! socket → [`Event`]s, application data in → bytes out to the socket; no sockets here (the
//! transport that wraps a connection with it comes on top, like the telnet transport does
//! with the telnet codec).
//!
//! - [`pem`]: [`Identity`] (certificate chain and key, from PEM files, PEM text or DER) and
//!   [`Roots`] (CA roots from a file, a directory, memory or the system store).
//! - [`config`]: [`ServerConfigBuilder`] → [`ServerConfig`] (certificates chosen by SNI,
//!   client certificates requested or required, ALPN, minimum version, resumption, cipher
//!   suites) and [`ClientConfigBuilder`] → [`ClientConfig`] (roots, a client certificate,
//!   the same options). Bad input fails in `build` or when loading, with a [`ConfigError`]
//!   whose message names the file or setting.
//! - [`session`]: the [`Session`] core.
//!
//! # The session in short
//!
//! ```text
//! Session::client(&config, "example.com")? / Session::server(&config)?
//! take_output(&mut out)                      client: the ClientHello
//! feed(ciphertext, &mut out, &mut sink)?     → HandshakeCompleted, Data(..)*, PeerClosed
//! feed_eof()?                                TCP EOF: Ok if close_notify came, else Truncated
//! write(data, &mut out)?                     encrypt (held as plaintext before the handshake)
//! close(&mut out)                            close_notify (nothing before the handshake)
//! close_write(&mut out)?                     TLS 1.3 only: close_notify, reading goes on
//! ```
//!
//! Whatever the session produces is appended to the caller's `out`; that buffer is the
//! transport's write queue.
//!
//! # Closing
//!
//! - [`Session::close`] sends close_notify and the transport may close the socket at once
//!   without waiting for the peer's (RFC 8446 §6.1 allows it). Before the handshake has
//!   completed there is no TLS stream to close and nothing is sent.
//! - [`Session::close_write`] is the half-close: on TLS 1.3 each direction closes on its own
//!   (RFC 8446 §6.1), so close_notify goes out and reading goes on. TLS 1.2 has none (the
//!   peer "MUST respond with a close_notify alert of its own and close down the connection
//!   immediately, discarding any pending writes", RFC 5246 §7.2.1), so it is refused with
//!   [`HalfCloseError::Tls12`] and nothing is sent.
//! - A peer that ends the TCP stream without close_notify is reported by
//!   [`Session::feed_eof`] as [`TlsErrorKind::Truncated`], never as a clean close.
//!
//! # Memory bounds
//!
//! A session keeps, between calls:
//! - **incoming ciphertext**: at most one partial record (≤ 18 KiB), or during the handshake
//!   one partial handshake message (≤ 64 KiB; a longer one fails the session). `feed` takes
//!   all its input and delivers every complete record's plaintext to the sink in the same
//!   call, so **no received plaintext** is kept;
//! - **no outgoing ciphertext**: every call appends its output to `out`, so the transport's
//!   write queue, and its high-water mark, count ciphertext (the record overhead included);
//! - **outgoing plaintext only before the handshake completes**: data written then is held
//!   until the keys exist; [`Session::pending_plaintext`] says how much, for the transport
//!   to count with its queue.
//!
//! Output generated in answer to input (handshake messages, alerts, KeyUpdate answers,
//! tickets) lands in the same queue. rustls itself limits the amplification (a run of
//! KeyUpdate requests, empty records or warning alerts is a protocol error). So a peer that
//! never reads grows nothing here: the transport's queue passes its high-water mark, and
//! the transport stops producing and stops reading (feeding) until it drains.
//!
//! # Provider
//!
//! aws-lc-rs rather than ring: on this project's machine its full handshakes are 1.3× (ECDSA
//! P-256) to 2× (RSA 2048) faster on the server side and resumed ones ~1.4× faster, for the
//! same or better AES-GCM throughput; the cost is a longer first build and ~2 MiB more code
//! (figures and the benchmark: tests/tls/provider_bench).

pub mod config;
pub mod error;
pub mod pem;
pub mod session;

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::CipherSuite;

pub use config::{ClientAuth, ClientConfig, ClientConfigBuilder, ServerConfig, ServerConfigBuilder};
pub use error::{CertificateProblem, ConfigError, ConfigErrorKind, TlsError, TlsErrorKind};
pub use pem::{Identity, Roots};
pub use session::{Event, HalfCloseError, Session, WriteError};

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// TLS 1.2 (RFC 5246).
    Tls12,
    /// TLS 1.3 (RFC 8446).
    Tls13,
}

impl Version {
    /// The name OpenSSL gives it: `TLSv1.2` or `TLSv1.3`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Tls12 => "TLSv1.2",
            Version::Tls13 => "TLSv1.3",
        }
    }
}

/// The crypto provider every configuration starts from (aws-lc-rs, its default suites and
/// key exchange groups).
pub(crate) fn provider() -> &'static Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(provider_value()))
}

pub(crate) fn provider_value() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// The IANA name of a cipher suite (rustls spells TLS 1.3 ones `TLS13_…`).
pub(crate) fn cipher_suite_name(suite: CipherSuite) -> &'static str {
    use CipherSuite as C;
    match suite {
        C::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        C::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        C::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        other => other.as_str().unwrap_or("unknown"),
    }
}
