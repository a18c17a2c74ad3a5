//! The sans-IO TLS session against rustls peers, in memory: handshake, data both ways,
//! close_notify and truncation, half-close, ALPN, SNI, client certificates, resumption,
//! versions. Ports of Twisted's twisted/protocols/test/test_tls.py (TLSMemoryBIOProtocol)
//! and twisted/test/test_sslverify.py are named on each test.
mod tls;

use std::sync::Arc;

use marline::tls::{
    CertificateProblem, ClientAuth, ClientConfig, ClientConfigBuilder, HalfCloseError, ServerConfig,
    ServerConfigBuilder, TlsErrorKind, Version, WriteError,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tls::*;

const HOST: &str = "server.test";

struct Pki {
    ca: Ca,
    server: Leaf,
}

fn pki() -> Pki {
    let ca = Ca::new("marline test CA");
    let server = ca.leaf(&[HOST]);
    Pki { ca, server }
}

fn server_config(p: &Pki, f: impl FnOnce(&mut ServerConfigBuilder)) -> ServerConfig {
    let mut b = ServerConfigBuilder::new();
    b.identity(p.server.identity());
    f(&mut b);
    b.build().unwrap()
}

fn client_config(p: &Pki, f: impl FnOnce(&mut ClientConfigBuilder)) -> ClientConfig {
    let mut b = ClientConfigBuilder::new();
    b.roots(p.ca.roots());
    f(&mut b);
    b.build().unwrap()
}

fn connect(s: &ServerConfig, c: &ClientConfig, name: &str) -> (End, End) {
    let mut client = End::client(c, name);
    let mut server = End::server(s);
    pump(&mut client, &mut server);
    (client, server)
}

// Twisted test_tls.py test_handshake, test_writeAfterHandshake, test_hugeWrite(_TLSv1_2):
// every byte arrives, in order, after exactly one handshake notification.
#[test]
fn data_both_ways_after_one_handshake_event() {
    let p = pki();
    for version in [Version::Tls12, Version::Tls13] {
        let s = server_config(&p, |_| {});
        let c = client_config(&p, |b| {
            b.min_version(version);
        });
        let (mut client, mut server) = connect(&s, &c, HOST);
        assert_eq!(client.events, vec![Ev::Handshake]);
        assert_eq!(server.events, vec![Ev::Handshake]);
        let up = pattern(1 << 20, 1);
        let down = pattern(700_001, 2);
        client.write(&up);
        server.write(&down);
        pump(&mut client, &mut server);
        assert_eq!(server.events, vec![Ev::Handshake, Ev::Data(up.clone())], "{version:?}");
        assert_eq!(client.events, vec![Ev::Handshake, Ev::Data(down.clone())], "{version:?}");
        assert!(client.error.is_none() && server.error.is_none());
    }
}

// The session's state survives any split of its input (the telnet parser's property).
#[test]
fn same_events_however_the_ciphertext_is_split() {
    let p = pki();
    let s = server_config(&p, |_| {});
    let c = client_config(&p, |_| {});
    for chunk in [1, 2, 5, 7, 100, 4097] {
        let mut client = End::client(&c, HOST);
        let mut server = End::server(&s);
        client.chunk = chunk;
        server.chunk = chunk;
        client.write(b"early ");
        pump(&mut client, &mut server);
        client.write(b"late");
        server.write(&pattern(50_000, 3));
        client.s.close(&mut client.out);
        pump(&mut client, &mut server);
        assert_eq!(
            server.events,
            vec![Ev::Handshake, Ev::Data(b"early late".to_vec()), Ev::PeerClosed],
            "chunk {chunk}"
        );
        assert_eq!(client.events, vec![Ev::Handshake, Ev::Data(pattern(50_000, 3))], "chunk {chunk}");
    }
}

// Twisted test_tls.py test_writeBeforeHandshake: data written before the handshake
// completes is held, then delivered once it does.
#[test]
fn writes_before_the_handshake_are_held_then_sent() {
    let p = pki();
    let (s, c) = (server_config(&p, |_| {}), client_config(&p, |_| {}));
    let mut client = End::client(&c, HOST);
    let mut server = End::server(&s);
    let data = pattern(100_000, 4);
    let hello_len = client.out.len();
    client.write(&data);
    // Nothing but the ClientHello goes out yet; the data is counted as pending.
    assert_eq!(client.out.len(), hello_len);
    assert_eq!(client.s.pending_plaintext(), 100_000);
    server.write(b"server early");
    assert_eq!(server.s.pending_plaintext(), 12);
    pump(&mut client, &mut server);
    assert_eq!(client.s.pending_plaintext(), 0);
    assert_eq!(server.s.pending_plaintext(), 0);
    assert_eq!(server.events, vec![Ev::Handshake, Ev::Data(data)]);
    assert_eq!(client.events, vec![Ev::Handshake, Ev::Data(b"server early".to_vec())]);
}

// Twisted test_tls.py test_loseConnectionAfterHandshake: close flushes, sends close_notify;
// the peer sees the data, then a clean close, and its EOF is not a truncation.
#[test]
fn close_notify_is_a_clean_close() {
    let p = pki();
    let (s, c) = (server_config(&p, |_| {}), client_config(&p, |_| {}));
    let (mut client, mut server) = connect(&s, &c, HOST);
    client.write(b"bye");
    assert!(client.s.close(&mut client.out));
    assert!(client.s.write_closed());
    pump(&mut client, &mut server);
    assert_eq!(server.events, vec![Ev::Handshake, Ev::Data(b"bye".to_vec()), Ev::PeerClosed]);
    assert!(server.s.peer_closed());
    assert_eq!(server.s.feed_eof(), Ok(()));
    // Bytes after close_notify are ignored (RFC 8446 §6.1).
    server.recv(b"\x17\x03\x03\x00\x05hello");
    assert_eq!(server.events.len(), 3);
    assert!(server.error.is_none());
}

// Twisted test_tls.py test_unexpectedEOF / test_disorderlyShutdown: an EOF without
// close_notify is a truncation, distinct from a clean close.
#[test]
fn eof_without_close_notify_is_truncation() {
    let p = pki();
    let (s, c) = (server_config(&p, |_| {}), client_config(&p, |_| {}));
    let (mut client, mut server) = connect(&s, &c, HOST);
    client.write(b"partial");
    pump(&mut client, &mut server);
    let e = server.s.feed_eof().unwrap_err();
    assert_eq!(e.kind(), TlsErrorKind::Truncated);
    assert_eq!(e.message(), "the peer closed the connection without close_notify (truncation)");
    // The failure sticks.
    assert_eq!(server.s.feed(b"x", &mut Vec::new(), &mut |_| panic!()).unwrap_err(), e);
    assert_eq!(server.s.write(b"x", &mut Vec::new()), Err(WriteError::Failed(e)));

    let mut early = End::server(&s);
    early.recv(&client_hello(&c));
    let e = early.s.feed_eof().unwrap_err();
    assert_eq!(e.kind(), TlsErrorKind::Truncated);
    assert_eq!(e.message(), "the peer closed the connection during the TLS handshake");
}

fn client_hello(c: &ClientConfig) -> Vec<u8> {
    End::client(c, HOST).send()
}

// The issue: "Before the handshake completes it closes without TLS records."
// Twisted test_tls.py test_writeAfterLoseConnection: nothing written after close goes out.
#[test]
fn close_before_the_handshake_sends_nothing_and_writes_are_refused_after_close() {
    let p = pki();
    let c = client_config(&p, |_| {});
    let mut client = End::client(&c, HOST);
    let _hello = client.send();
    assert!(!client.s.close(&mut client.out));
    assert!(client.out.is_empty());
    assert_eq!(client.s.write(b"hello", &mut client.out), Err(WriteError::Closed));
    assert!(client.out.is_empty());
    // Twisted test_tls.py test_loseConnectionTwice: a second close does nothing.
    assert!(!client.s.close(&mut client.out));
    assert!(client.out.is_empty());
}

// The issue: lose_write_connection on TLS 1.3 sends close_notify and reading goes on.
#[test]
fn half_close_on_tls13_keeps_reading() {
    let p = pki();
    let (s, c) = (server_config(&p, |_| {}), client_config(&p, |_| {}));
    let (mut client, mut server) = connect(&s, &c, HOST);
    assert_eq!(client.s.protocol_version(), Some(Version::Tls13));
    client.write(b"request");
    client.s.close_write(&mut client.out).unwrap();
    pump(&mut client, &mut server);
    assert_eq!(server.events, vec![Ev::Handshake, Ev::Data(b"request".to_vec()), Ev::PeerClosed]);
    server.write(b"response after the client's close_notify");
    assert!(server.s.close(&mut server.out));
    pump(&mut client, &mut server);
    assert_eq!(
        client.events,
        vec![Ev::Handshake, Ev::Data(b"response after the client's close_notify".to_vec()), Ev::PeerClosed]
    );
    assert!(client.error.is_none() && server.error.is_none());
    assert_eq!(client.s.close_write(&mut client.out), Err(HalfCloseError::Closed));
}

// The issue: "TLS 1.2 has no half-close, so there it fails with a clear status."
#[test]
fn half_close_is_refused_on_tls12_and_before_the_handshake() {
    let p = pki();
    let s = server_config(&p, |_| {});
    let c = client_config(&p, |_| {});
    let mut fresh = End::client(&c, HOST);
    fresh.send();
    assert_eq!(fresh.s.close_write(&mut fresh.out), Err(HalfCloseError::Handshaking));
    assert!(fresh.out.is_empty());

    let raw_server = rustls_server(&p, &[&rustls::version::TLS12]);
    let mut client = End::client(&c, HOST);
    let mut server = RawPeer::new(rustls::ServerConnection::new(raw_server).unwrap());
    pump(&mut client, &mut server);
    assert_eq!(client.s.protocol_version(), Some(Version::Tls12));
    assert_eq!(client.s.close_write(&mut client.out), Err(HalfCloseError::Tls12));
    assert!(client.out.is_empty());
    assert!(!client.s.write_closed());
    assert_eq!(HalfCloseError::Tls12.to_string(), "TLS 1.2 has no half-close: close the whole connection instead");
    let _ = s;
}

fn rustls_server(p: &Pki, versions: &[&'static rustls::SupportedProtocolVersion]) -> Arc<rustls::ServerConfig> {
    let chain = vec![CertificateDer::from_pem_slice(p.server.cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(p.server.key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    )
}

fn rustls_client(p: &Pki, versions: &[&'static rustls::SupportedProtocolVersion]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(p.ca.der())).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

// Against peers built with rustls alone (not through marline's configuration or session).
#[test]
fn interoperates_with_plain_rustls_peers() {
    let p = pki();
    for versions in [&[&rustls::version::TLS12][..], &[&rustls::version::TLS13][..]] {
        let mut client = End::client(&client_config(&p, |_| {}), HOST);
        let mut server = RawPeer::new(rustls::ServerConnection::new(rustls_server(&p, versions)).unwrap());
        client.write(b"to raw server");
        server.write(b"to marline client");
        pump(&mut client, &mut server);
        assert_eq!(server.received, b"to raw server");
        assert_eq!(client.events, vec![Ev::Handshake, Ev::Data(b"to marline client".to_vec())]);

        let mut server = End::server(&server_config(&p, |_| {}));
        let name = ServerName::try_from(HOST).unwrap();
        let mut client = RawPeer::new(rustls::ClientConnection::new(rustls_client(&p, versions), name).unwrap());
        client.write(&pattern(40_000, 5));
        server.write(b"to raw client");
        pump(&mut client, &mut server);
        assert_eq!(server.events, vec![Ev::Handshake, Ev::Data(pattern(40_000, 5))]);
        assert_eq!(client.received, b"to raw client");
        server.s.close(&mut server.out);
        pump(&mut client, &mut server);
        let mut buf = [0u8; 1];
        assert_eq!(std::io::Read::read(&mut client.conn.reader(), &mut buf).unwrap(), 0, "close_notify seen");
    }
}

// Twisted test_sslverify.py ALPNTests test_factoryNegotiation, test_negotiateEmpty,
// test_negotiateNoOverlap; RFC 7301 §3.2 (no_application_protocol).
#[test]
fn alpn_is_negotiated_or_fails_with_no_application_protocol() {
    let p = pki();
    let s = server_config(&p, |b| {
        b.alpn(&[b"h2", b"http/1.1"]).unwrap();
    });
    let c = client_config(&p, |b| {
        b.alpn(&[b"http/1.1", b"h2"]).unwrap();
    });
    let (client, server) = connect(&s, &c, HOST);
    // The server's preference wins.
    assert_eq!(server.s.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(client.s.alpn_protocol(), Some(&b"h2"[..]));

    let (client, server) = connect(&s, &client_config(&p, |_| {}), HOST);
    assert_eq!(client.s.alpn_protocol(), None);
    assert_eq!(server.s.alpn_protocol(), None);
    assert_eq!(client.events, vec![Ev::Handshake]);

    let c = client_config(&p, |b| {
        b.alpn(&[b"spdy/1"]).unwrap();
    });
    let (client, server) = connect(&s, &c, HOST);
    let se = server.error.unwrap();
    assert_eq!(se.kind(), TlsErrorKind::Negotiation);
    assert_eq!(se.message(), "no application protocol (ALPN) in common with the peer");
    let ce = client.error.unwrap();
    assert_eq!(ce.kind(), TlsErrorKind::AlertReceived(120));
    assert_eq!(ce.message(), "the peer sent a fatal alert: no_application_protocol (120)");
}

// Twisted test_sslverify.py test_hostnameIsIndicated: the client sends the name (SNI); the
// server picks the certificate registered for it, a wildcard, or the default.
#[test]
fn sni_selects_the_certificate_by_name() {
    let p = pki();
    let a = p.ca.leaf(&["a.test"]);
    let wild = p.ca.leaf(&["*.b.test"]);
    let mut b = ServerConfigBuilder::new();
    b.identity(p.server.identity());
    b.sni_identity("A.test", a.identity()).unwrap();
    b.sni_identity("*.b.test", wild.identity()).unwrap();
    let s = b.build().unwrap();
    let c = client_config(&p, |_| {});
    for (name, leaf) in [("a.test", &a), ("x.b.test", &wild), (HOST, &p.server)] {
        let (client, server) = connect(&s, &c, name);
        assert!(client.error.is_none(), "{name}: {:?}", client.error);
        assert_eq!(client.s.peer_certificate(), Some(&leaf.der[..]), "{name}");
        assert_eq!(server.s.server_name(), Some(name));
    }
    // An IP address is not sent as SNI: the default certificate, checked against the IP.
    let by_ip = p.ca.leaf(&["127.0.0.1"]);
    let mut b = ServerConfigBuilder::new();
    b.identity(by_ip.identity());
    b.sni_identity("a.test", a.identity()).unwrap();
    let (client, server) = connect(&b.build().unwrap(), &c, "127.0.0.1");
    assert!(client.error.is_none(), "{:?}", client.error);
    assert_eq!(client.s.peer_certificate(), Some(&by_ip.der[..]));
    assert_eq!(server.s.server_name(), None);
}

// Twisted test_sslverify.py test_clientPresentsCertificate, test_refusedAnonymousClientConnection,
// test_allowedAnonymousClientConnection, test_clientPresentsBadCertificate.
#[test]
fn client_certificates_required_requested_absent() {
    let p = pki();
    let client_leaf = p.ca.leaf(&["client.test"]);
    let with_cert = client_config(&p, |b| {
        b.identity(client_leaf.identity());
    });
    let without = client_config(&p, |_| {});
    let required = server_config(&p, |b| {
        b.client_auth(ClientAuth::Required(p.ca.roots()));
    });
    let requested = server_config(&p, |b| {
        b.client_auth(ClientAuth::Requested(p.ca.roots()));
    });

    let (client, server) = connect(&required, &with_cert, HOST);
    assert!(client.error.is_none() && server.error.is_none());
    assert_eq!(server.s.peer_certificate(), Some(&client_leaf.der[..]));
    assert_eq!(server.s.peer_certificate_chain().count(), 1);

    let (client, server) = connect(&required, &without, HOST);
    let se = server.error.unwrap();
    assert_eq!(se.kind(), TlsErrorKind::Certificate(CertificateProblem::Missing));
    assert_eq!(se.message(), "certificate verify failed: the peer sent no certificate and one is required");
    assert_eq!(client.error.unwrap().kind(), TlsErrorKind::AlertReceived(116)); // certificate_required

    let (client, server) = connect(&requested, &without, HOST);
    assert!(client.error.is_none() && server.error.is_none());
    assert_eq!(server.s.peer_certificate(), None);
    assert_eq!(server.events, vec![Ev::Handshake]);

    let (client, server) = connect(&requested, &with_cert, HOST);
    assert!(client.error.is_none() && server.error.is_none());
    assert_eq!(server.s.peer_certificate(), Some(&client_leaf.der[..]));

    // A certificate from a CA the server does not trust.
    let stranger = Ca::new("stranger CA").leaf(&["client.test"]);
    let bad = client_config(&p, |b| {
        b.identity(stranger.identity());
    });
    let (client, server) = connect(&requested, &bad, HOST);
    assert_eq!(server.error.unwrap().kind(), TlsErrorKind::Certificate(CertificateProblem::UnknownCa));
    assert_eq!(client.error.unwrap().kind(), TlsErrorKind::AlertReceived(48)); // unknown_ca
}

// Resumption is on by default and really resumes (no certificate exchange the second
// time); the switch turns it off on either side.
#[test]
fn resumption_resumes_and_can_be_turned_off() {
    let p = pki();
    for version in [Version::Tls12, Version::Tls13] {
        let s = server_config(&p, |_| {});
        let c = client_config(&p, |b| {
            if version == Version::Tls12 {
                b.cipher_suites(&["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]).unwrap();
            }
        });
        let (first_c, first_s) = connect(&s, &c, HOST);
        assert_eq!(first_c.s.protocol_version(), Some(version));
        assert!(!first_c.s.is_resumed() && !first_s.s.is_resumed());
        let (mut second_c, mut second_s) = connect(&s, &c, HOST);
        assert!(second_c.s.is_resumed(), "{version:?}");
        assert!(second_s.s.is_resumed(), "{version:?}");
        second_c.write(b"resumed data");
        pump(&mut second_c, &mut second_s);
        assert_eq!(second_s.events, vec![Ev::Handshake, Ev::Data(b"resumed data".to_vec())]);

        for (server_on, client_on) in [(false, true), (true, false)] {
            let s = server_config(&p, |b| {
                b.resumption(server_on);
            });
            let c = client_config(&p, |b| {
                b.resumption(client_on);
                if version == Version::Tls12 {
                    b.cipher_suites(&["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]).unwrap();
                }
            });
            connect(&s, &c, HOST);
            let (again_c, again_s) = connect(&s, &c, HOST);
            assert!(again_c.error.is_none());
            assert!(!again_c.s.is_resumed() && !again_s.s.is_resumed(), "{version:?} {server_on} {client_on}");
        }
    }
}

// The minimum version refuses older peers with protocol_version (RFC 8446 §4.2.1).
#[test]
fn minimum_version_refuses_older_peers() {
    let p = pki();
    let s = server_config(&p, |b| {
        b.min_version(Version::Tls13);
    });
    let name = ServerName::try_from(HOST).unwrap();
    let mut old_client =
        RawPeer::new(rustls::ClientConnection::new(rustls_client(&p, &[&rustls::version::TLS12]), name).unwrap());
    let mut server = End::server(&s);
    pump(&mut old_client, &mut server);
    let e = server.error.unwrap();
    assert_eq!(e.kind(), TlsErrorKind::Negotiation);
    assert!(e.message().starts_with("the peer is incompatible: "), "{}", e.message());
    assert_eq!(old_client.error, Some(rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion)));

    let c = client_config(&p, |b| {
        b.min_version(Version::Tls13);
    });
    let mut client = End::client(&c, HOST);
    let mut old_server =
        RawPeer::new(rustls::ServerConnection::new(rustls_server(&p, &[&rustls::version::TLS12])).unwrap());
    pump(&mut client, &mut old_server);
    assert_eq!(client.error.unwrap().kind(), TlsErrorKind::AlertReceived(70)); // protocol_version
    assert!(client.events.is_empty());
}

// Queries after the handshake: version, IANA cipher suite name, peer chain; nothing before.
#[test]
fn queries_report_the_negotiated_parameters() {
    let p = pki();
    let mut client = End::client(&client_config(&p, |_| {}), HOST);
    assert_eq!(client.s.protocol_version(), None);
    assert_eq!(client.s.cipher_suite(), None);
    assert_eq!(client.s.peer_certificate(), None);
    assert!(client.s.is_handshaking() && client.s.is_client());
    for (suite, version) in [
        ("TLS_AES_128_GCM_SHA256", Version::Tls13),
        ("TLS_CHACHA20_POLY1305_SHA256", Version::Tls13),
        ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", Version::Tls12),
    ] {
        let s = server_config(&p, |b| {
            b.cipher_suites(&[suite]).unwrap();
        });
        let (client, server) = connect(&s, &client_config(&p, |_| {}), HOST);
        for end in [&client, &server] {
            assert_eq!(end.s.cipher_suite(), Some(suite));
            assert_eq!(end.s.protocol_version(), Some(version));
            assert!(!end.s.is_handshaking());
        }
        assert_eq!(client.s.peer_certificate(), Some(&p.server.der[..]));
        assert_eq!(Version::Tls13.as_str(), "TLSv1.3");
        assert_eq!(Version::Tls12.as_str(), "TLSv1.2");
    }
    let _ = &mut client;
}
