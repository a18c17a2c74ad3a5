//! The two TLS error types: [`ConfigError`] (building a configuration or a session) and
//! [`TlsError`] (a session that failed). Both carry a message a C user can print as it is.

use std::fmt;

use rustls::{AlertDescription, CertificateError};

/// Why a configuration could not be built. The message names the file or the setting at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    kind: ConfigErrorKind,
    message: String,
}

/// What kind of input a [`ConfigError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// A file or directory could not be read (see the message for the OS error).
    Io,
    /// A certificate, key or CA file is not valid PEM, or holds nothing of the expected kind.
    BadPem,
    /// The private key cannot be used (unsupported type or bad encoding).
    BadKey,
    /// The private key does not belong to the certificate.
    KeyMismatch,
    /// A certificate cannot be parsed, or is not valid for the name it is registered under.
    BadCertificate,
    /// The CA roots are empty.
    NoRoots,
    /// A required setting is missing (for example a server without a certificate).
    Missing,
    /// A setting is out of range: an ALPN name, a cipher suite, a server name.
    InvalidSetting,
}

impl ConfigError {
    pub(crate) fn new(kind: ConfigErrorKind, message: impl Into<String>) -> Self {
        ConfigError { kind, message: message.into() }
    }

    /// What kind of input is at fault.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }

    /// The message (also what `Display` prints).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Why a TLS session failed. Once a session has failed, every later call that processes
/// records returns the same error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError {
    kind: TlsErrorKind,
    message: String,
}

/// The class of a [`TlsError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsErrorKind {
    /// This side rejected the peer's certificate (or its absence); a fatal alert was sent.
    Certificate(CertificateProblem),
    /// The peer sent a fatal alert; the number is the TLS AlertDescription (RFC 8446 §6).
    AlertReceived(u8),
    /// The two sides could not agree: no common protocol version, cipher suite, key
    /// exchange group or ALPN protocol. A fatal alert was sent.
    Negotiation,
    /// The peer broke the protocol: garbage, a bad record, an unexpected message, a
    /// renegotiation attempt, an over-long handshake message. A fatal alert was sent.
    Protocol,
    /// The connection ended (TCP EOF) without the peer's close_notify: the data may have been
    /// cut short (RFC 8446 §6.1). Distinct from a clean close.
    Truncated,
}

/// Why a certificate was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateProblem {
    /// The certificate's validity period has ended.
    Expired,
    /// The certificate's validity period has not begun.
    NotYetValid,
    /// The certificate is not valid for the host name the client asked for.
    WrongHostName,
    /// No trusted CA root issued the certificate (or its chain).
    UnknownCa,
    /// The certificate is revoked.
    Revoked,
    /// A signature in the chain does not verify.
    BadSignature,
    /// The certificate may not be used for this purpose (key usage / extended key usage).
    WrongPurpose,
    /// The peer sent no certificate and one is required (a server requiring client
    /// certificates).
    Missing,
    /// Anything else (bad encoding, unsupported algorithm, ...): see the message.
    Other,
}

impl TlsError {
    pub(crate) fn new(kind: TlsErrorKind, message: impl Into<String>) -> Self {
        TlsError { kind, message: message.into() }
    }

    /// The class of error.
    pub fn kind(&self) -> TlsErrorKind {
        self.kind
    }

    /// The alert's or verification error's text (also what `Display` prints).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Translate a rustls error into marline's classes and texts.
    pub(crate) fn from_rustls(err: &rustls::Error) -> Self {
        use rustls::Error as E;
        match err {
            E::InvalidCertificate(e) => {
                let (problem, text) = certificate_problem(e);
                Self::new(TlsErrorKind::Certificate(problem), format!("certificate verify failed: {text}"))
            }
            E::NoCertificatesPresented => Self::new(
                TlsErrorKind::Certificate(CertificateProblem::Missing),
                "certificate verify failed: the peer sent no certificate and one is required",
            ),
            E::AlertReceived(alert) => {
                let code = u8::from(*alert);
                Self::new(
                    TlsErrorKind::AlertReceived(code),
                    format!("the peer sent a fatal alert: {} ({code})", alert_name(code)),
                )
            }
            E::PeerIncompatible(e) => Self::new(TlsErrorKind::Negotiation, format!("the peer is incompatible: {e:?}")),
            E::NoApplicationProtocol => {
                Self::new(TlsErrorKind::Negotiation, "no application protocol (ALPN) in common with the peer")
            }
            other => Self::new(TlsErrorKind::Protocol, format!("TLS protocol error: {other}")),
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TlsError {}

fn certificate_problem(e: &CertificateError) -> (CertificateProblem, String) {
    use CertificateError as C;
    use CertificateProblem as P;
    let (problem, what) = match e {
        C::Expired | C::ExpiredContext { .. } => (P::Expired, "certificate has expired"),
        C::NotValidYet | C::NotValidYetContext { .. } => (P::NotYetValid, "certificate is not yet valid"),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            (P::WrongHostName, "certificate is not valid for the requested host name")
        }
        C::UnknownIssuer => (P::UnknownCa, "unknown CA: the issuer is not among the trusted roots"),
        C::Revoked => (P::Revoked, "certificate is revoked"),
        C::BadSignature => (P::BadSignature, "bad signature in the certificate chain"),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            (P::WrongPurpose, "certificate is not allowed for this purpose")
        }
        _ => (P::Other, "certificate rejected"),
    };
    let detail = format!("{e}");
    // The context variants carry the useful detail (times, names); the bare ones only
    // their own name, which `what` already says better.
    let text = if detail.contains(' ') { format!("{what} ({detail})") } else { what.to_string() };
    (problem, text)
}

/// The RFC name of a TLS alert (RFC 8446 §6, RFC 5246 §7.2, RFC 7301).
pub fn alert_name(code: u8) -> &'static str {
    use AlertDescription as A;
    match AlertDescription::from(code) {
        A::CloseNotify => "close_notify",
        A::UnexpectedMessage => "unexpected_message",
        A::BadRecordMac => "bad_record_mac",
        A::DecryptionFailed => "decryption_failed",
        A::RecordOverflow => "record_overflow",
        A::DecompressionFailure => "decompression_failure",
        A::HandshakeFailure => "handshake_failure",
        A::NoCertificate => "no_certificate",
        A::BadCertificate => "bad_certificate",
        A::UnsupportedCertificate => "unsupported_certificate",
        A::CertificateRevoked => "certificate_revoked",
        A::CertificateExpired => "certificate_expired",
        A::CertificateUnknown => "certificate_unknown",
        A::IllegalParameter => "illegal_parameter",
        A::UnknownCA => "unknown_ca",
        A::AccessDenied => "access_denied",
        A::DecodeError => "decode_error",
        A::DecryptError => "decrypt_error",
        A::ExportRestriction => "export_restriction",
        A::ProtocolVersion => "protocol_version",
        A::InsufficientSecurity => "insufficient_security",
        A::InternalError => "internal_error",
        A::InappropriateFallback => "inappropriate_fallback",
        A::UserCanceled => "user_canceled",
        A::NoRenegotiation => "no_renegotiation",
        A::MissingExtension => "missing_extension",
        A::UnsupportedExtension => "unsupported_extension",
        A::CertificateUnobtainable => "certificate_unobtainable",
        A::UnrecognisedName => "unrecognized_name",
        A::BadCertificateStatusResponse => "bad_certificate_status_response",
        A::BadCertificateHashValue => "bad_certificate_hash_value",
        A::UnknownPSKIdentity => "unknown_psk_identity",
        A::CertificateRequired => "certificate_required",
        A::NoApplicationProtocol => "no_application_protocol",
        _ => "unknown alert",
    }
}
