//! TLS configuration: loading certificates, keys and roots from files, directories, memory
//! and the system store, and the exact error for each kind of bad input.
//! Twisted's test_sslverify.py test_constructorDoesNotAllowVerifyWithoutCACerts is the
//! model for "no roots" being an error at construction time.
mod tls;

use marline::tls::{
    ClientAuth, ClientConfigBuilder, ConfigErrorKind as K, Identity, Roots, ServerConfigBuilder, Session,
};
use tls::*;

#[test]
fn identity_and_roots_from_files_work_end_to_end() {
    let dir = TempDir::new("files");
    let ca = Ca::new("file CA");
    let leaf = ca.leaf(&["files.test"]);
    let (cert, key) = leaf.write(dir.path(), "server");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();

    let mut roots = Roots::new();
    assert_eq!(roots.add_pem_file(&ca_file), Ok(1));
    let s = ServerConfigBuilder::new().identity(Identity::from_pem_files(&cert, &key).unwrap()).build().unwrap();
    let c = ClientConfigBuilder::new().roots(roots).build().unwrap();
    let mut client = End::client(&c, "files.test");
    let mut server = End::server(&s);
    pump(&mut client, &mut server);
    assert_eq!(client.events, vec![Ev::Handshake]);
    assert_eq!(client.s.peer_certificate(), Some(&leaf.der[..]));

    // Chain and key in one file.
    let both = dir.path().join("both.pem");
    std::fs::write(&both, format!("{}{}", leaf.cert_pem, leaf.key_pem)).unwrap();
    let id = Identity::from_pem_files(&both, &both).unwrap();
    assert_eq!(id.chain().collect::<Vec<_>>(), vec![&leaf.der[..]]);
}

#[test]
fn roots_from_a_directory_read_each_file_once() {
    let dir = TempDir::new("cadir");
    let (a, b) = (Ca::new("dir CA a"), Ca::new("dir CA b"));
    std::fs::write(dir.path().join("a.pem"), a.pem()).unwrap();
    std::fs::write(dir.path().join("b.crt"), b.pem()).unwrap();
    // c_rehash-style links to the same files are not read twice.
    std::os::unix::fs::symlink("a.pem", dir.path().join("0badc0de.0")).unwrap();
    std::fs::write(dir.path().join("README"), "not a certificate\n").unwrap();
    let mut roots = Roots::new();
    assert_eq!(roots.add_dir(dir.path()), Ok(2));
    assert_eq!(roots.len(), 2);

    let empty = TempDir::new("empty-cadir");
    let e = Roots::new().add_dir(empty.path()).unwrap_err();
    assert_eq!(e.kind(), K::NoRoots);
    assert_eq!(
        e.message(),
        format!(
            "no certificate in CA directory '{}' (expected -----BEGIN CERTIFICATE----- blocks)",
            empty.path().display()
        )
    );

    let e = Roots::new().add_dir("/nonexistent/ca/dir").unwrap_err();
    assert_eq!(e.kind(), K::Io);
    assert_eq!(e.message(), "cannot read CA directory '/nonexistent/ca/dir': No such file or directory (os error 2)");
}

// rustls-native-certs honours SSL_CERT_FILE as OpenSSL does; without it, the Debian bundle
// and the /etc/ssl/certs directory (which may hold a few more).
#[test]
fn system_roots_come_from_the_distribution_bundle() {
    let mut roots = Roots::new();
    let added = roots.add_system().unwrap();
    let bundle = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap();
    let in_bundle = bundle.matches("-----BEGIN CERTIFICATE-----").count();
    assert!(in_bundle > 50 && added >= in_bundle, "{added} roots, {in_bundle} in the bundle");
}

#[test]
fn bad_certificate_and_key_input_gives_a_clear_message() {
    let dir = TempDir::new("bad");
    let ca = Ca::new("bad-input CA");
    let leaf = ca.leaf(&["bad.test"]);
    let other = ca.leaf(&["other.test"]);

    let e = Identity::from_pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem").unwrap_err();
    assert_eq!(e.kind(), K::Io);
    assert_eq!(
        e.message(),
        "cannot read certificate file '/nonexistent/cert.pem': No such file or directory (os error 2)"
    );

    let (cert, _) = leaf.write(dir.path(), "leaf");
    let e = Identity::from_pem_files(&cert, "/nonexistent/key.pem").unwrap_err();
    assert_eq!(e.message(), "cannot read key file '/nonexistent/key.pem': No such file or directory (os error 2)");

    let e = Identity::from_pem(b"hello\n", leaf.key_pem.as_bytes()).unwrap_err();
    assert_eq!(e.kind(), K::BadPem);
    assert_eq!(e.message(), "no certificate in the certificate PEM (expected a -----BEGIN CERTIFICATE----- block)");

    let truncated = &leaf.cert_pem[..leaf.cert_pem.len() - 30];
    let e = Identity::from_pem(truncated.as_bytes(), leaf.key_pem.as_bytes()).unwrap_err();
    assert_eq!(e.kind(), K::BadPem);
    assert!(e.message().starts_with("the certificate PEM is not valid PEM: "), "{}", e.message());

    let e = Identity::from_pem(leaf.cert_pem.as_bytes(), leaf.cert_pem.as_bytes()).unwrap_err();
    assert_eq!(e.kind(), K::BadPem);
    assert_eq!(
        e.message(),
        "no private key in the key PEM (expected a -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY block)"
    );

    let garbage_key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    let e = Identity::from_pem(leaf.cert_pem.as_bytes(), garbage_key.as_bytes()).unwrap_err();
    assert_eq!(e.kind(), K::BadKey);
    assert!(e.message().starts_with("the private key cannot be used: "), "{}", e.message());

    let e = Identity::from_pem(leaf.cert_pem.as_bytes(), other.key_pem.as_bytes()).unwrap_err();
    assert_eq!(e.kind(), K::KeyMismatch);
    assert_eq!(e.message(), "the private key does not match the certificate in the certificate PEM");

    let (_, other_key) = other.write(dir.path(), "other");
    let e = Identity::from_pem_files(&cert, &other_key).unwrap_err();
    assert_eq!(
        e.message(),
        format!("the private key does not match the certificate in certificate file '{}'", cert.display())
    );
}

#[test]
fn empty_roots_and_missing_settings_are_refused() {
    let ca = Ca::new("settings CA");
    let leaf = ca.leaf(&["settings.test"]);

    let e = ClientConfigBuilder::new().build().unwrap_err();
    assert_eq!(e.kind(), K::NoRoots);
    assert_eq!(
        e.message(),
        "the client has no CA roots to check servers with: add a CA file, a directory or the system store"
    );
    let e = ClientConfigBuilder::new().roots(Roots::new()).build().unwrap_err();
    assert_eq!(e.kind(), K::NoRoots);

    let e = Roots::new().add_pem(b"no certificates here").unwrap_err();
    assert_eq!(e.kind(), K::NoRoots);
    assert_eq!(e.message(), "no certificate in the CA PEM (expected -----BEGIN CERTIFICATE----- blocks)");

    let e = ServerConfigBuilder::new().build().unwrap_err();
    assert_eq!(e.kind(), K::Missing);
    assert_eq!(e.message(), "the server has no certificate: add a certificate chain and its key");

    let e = ServerConfigBuilder::new()
        .identity(leaf.identity())
        .client_auth(ClientAuth::Required(Roots::new()))
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), K::NoRoots);
    assert_eq!(e.message(), "client certificates are asked for but the CA roots to check them are empty");
}

#[test]
fn out_of_range_settings_are_refused() {
    let ca = Ca::new("range CA");
    let leaf = ca.leaf(&["range.test"]);
    let mut b = ServerConfigBuilder::new();

    let e = b.alpn(&[b"h2", b""]).unwrap_err();
    assert_eq!(e.kind(), K::InvalidSetting);
    assert_eq!(e.message(), "an ALPN protocol name must be 1 to 255 bytes long (got 0 bytes)");
    assert!(b.alpn(&[&[b'x'; 256][..]]).is_err());
    assert!(b.alpn(&[&[b'x'; 255][..]]).is_ok());

    let e = b.cipher_suites(&["TLS_RSA_WITH_RC4_128_MD5"]).unwrap_err();
    assert_eq!(e.kind(), K::InvalidSetting);
    assert!(
        e.message().starts_with("unknown cipher suite 'TLS_RSA_WITH_RC4_128_MD5' (known: TLS_AES_256_GCM_SHA384, "),
        "{}",
        e.message()
    );

    let e = b.sni_identity("not a name", leaf.identity()).unwrap_err();
    assert_eq!(e.message(), "'not a name' is not a DNS name");
    let e = b.sni_identity("elsewhere.test", leaf.identity()).unwrap_err();
    assert_eq!(e.kind(), K::BadCertificate);
    assert_eq!(e.message(), "the certificate registered for 'elsewhere.test' is not valid for that name");

    // A TLS 1.2-only suite with a TLS 1.3 minimum leaves nothing to negotiate.
    let e = ServerConfigBuilder::new()
        .identity(leaf.identity())
        .min_version(marline::tls::Version::Tls13)
        .cipher_suites(&["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"])
        .unwrap()
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), K::InvalidSetting);
    assert!(e.message().starts_with("inconsistent settings: "), "{}", e.message());

    let c = ClientConfigBuilder::new().roots(ca.roots()).build().unwrap();
    let e = Session::client(&c, "bad name!").unwrap_err();
    assert_eq!(e.message(), "'bad name!' is neither a DNS name nor an IP address");
}
