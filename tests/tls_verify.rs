//! Certificate errors give the right reason on both ends: expired, not yet valid, wrong host
//! name, unknown CA. Ports twisted/test/test_sslverify.py test_invalidHostname,
//! test_failedCertificateVerification and test_trustRootFromCertificatesUntrusted.
mod tls;

use marline::tls::{CertificateProblem as P, ClientConfigBuilder, ServerConfigBuilder, TlsErrorKind};
use tls::*;

/// Our client against our server presenting `leaf`; returns (client error, server error).
fn handshake(ca_for_client: &Ca, leaf: &Leaf, name: &str) -> (marline::tls::TlsError, marline::tls::TlsError) {
    let s = ServerConfigBuilder::new().identity(leaf.identity()).build().unwrap();
    let c = ClientConfigBuilder::new().roots(ca_for_client.roots()).build().unwrap();
    let mut client = End::client(&c, name);
    let mut server = End::server(&s);
    pump(&mut client, &mut server);
    assert!(client.events.is_empty() && server.events.is_empty(), "no handshake event on a failure");
    (client.error.expect("client error"), server.error.expect("server error"))
}

#[test]
fn expired_certificate() {
    let ca = Ca::new("verify CA");
    let leaf = ca.leaf_with(&["expired.test"], |p| p.not_after = rcgen::date_time_ymd(2021, 1, 1));
    let (c, s) = handshake(&ca, &leaf, "expired.test");
    assert_eq!(c.kind(), TlsErrorKind::Certificate(P::Expired));
    assert!(
        c.message()
            .starts_with("certificate verify failed: certificate has expired (certificate expired: verification time "),
        "{}",
        c.message()
    );
    assert_eq!(s.kind(), TlsErrorKind::AlertReceived(45));
    assert_eq!(s.message(), "the peer sent a fatal alert: certificate_expired (45)");
}

#[test]
fn not_yet_valid_certificate() {
    let ca = Ca::new("verify CA");
    let leaf = ca.leaf_with(&["future.test"], |p| p.not_before = rcgen::date_time_ymd(2080, 1, 1));
    let (c, s) = handshake(&ca, &leaf, "future.test");
    assert_eq!(c.kind(), TlsErrorKind::Certificate(P::NotYetValid));
    assert!(c.message().starts_with("certificate verify failed: certificate is not yet valid ("), "{}", c.message());
    assert_eq!(s.kind(), TlsErrorKind::AlertReceived(45));
}

#[test]
fn wrong_host_name() {
    let ca = Ca::new("verify CA");
    let leaf = ca.leaf(&["right.test"]);
    let (c, s) = handshake(&ca, &leaf, "wrong.test");
    assert_eq!(c.kind(), TlsErrorKind::Certificate(P::WrongHostName));
    assert_eq!(
        c.message(),
        "certificate verify failed: certificate is not valid for the requested host name \
         (certificate not valid for name \"wrong.test\"; certificate is only valid for DnsName(\"right.test\"))"
    );
    assert_eq!(s.kind(), TlsErrorKind::AlertReceived(42));
    assert_eq!(s.message(), "the peer sent a fatal alert: bad_certificate (42)");
}

#[test]
fn unknown_ca() {
    let ca = Ca::new("verify CA");
    let leaf = ca.leaf(&["stranger.test"]);
    let (c, s) = handshake(&Ca::new("another CA"), &leaf, "stranger.test");
    assert_eq!(c.kind(), TlsErrorKind::Certificate(P::UnknownCa));
    assert_eq!(c.message(), "certificate verify failed: unknown CA: the issuer is not among the trusted roots");
    assert_eq!(s.kind(), TlsErrorKind::AlertReceived(48));
    assert_eq!(s.message(), "the peer sent a fatal alert: unknown_ca (48)");
}
