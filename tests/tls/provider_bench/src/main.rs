//! In-memory rustls microbenchmark: one provider per build (--features ring | aws).
//! Argument: a directory with ca.crt, ec.crt/ec.key and rsa.crt/rsa.key (run.sh makes them).
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use std::sync::Arc;
use std::time::Duration;

/// Thread CPU time: the machine is shared, so wall time would measure the neighbours.
#[derive(Clone, Copy)]
struct Instant(Duration);
impl Instant {
    fn now() -> Self {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: ts is a valid, writable timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        Instant(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }
    fn elapsed(&self) -> Duration {
        Instant::now().0 - self.0
    }
}

#[cfg(feature = "aws")]
use rustls::crypto::aws_lc_rs as p;
#[cfg(feature = "ring")]
use rustls::crypto::ring as p;

fn provider(suite: &str) -> CryptoProvider {
    let mut pr = p::default_provider();
    pr.cipher_suites.retain(|s| format!("{:?}", s.suite()) == suite);
    pr.kx_groups = vec![p::kx_group::X25519];
    assert_eq!(pr.cipher_suites.len(), 1, "{suite}");
    pr
}

fn configs(suite: &str, key: &str, tickets: bool) -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let dir = format!("{}/", std::env::args().nth(1).expect("certificate directory"));
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(format!("{dir}{key}.crt"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let k = PrivateKeyDer::from_pem_file(format!("{dir}{key}.key")).unwrap();
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(format!("{dir}ca.crt")).unwrap())
        .unwrap();
    let pr = Arc::new(provider(suite));
    let tls13 = suite.starts_with("TLS13");
    let vers: &[&rustls::SupportedProtocolVersion] = if tls13 {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS12]
    };
    let mut s = ServerConfig::builder_with_provider(pr.clone())
        .with_protocol_versions(vers)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, k)
        .unwrap();
    if tickets {
        s.ticketer = p::Ticketer::new().unwrap();
    }
    let mut c = ClientConfig::builder_with_provider(pr)
        .with_protocol_versions(vers)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    if !tickets {
        c.resumption = rustls::client::Resumption::disabled();
        s.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    }
    (Arc::new(s), Arc::new(c))
}

fn handshake(c: &mut ClientConnection, s: &mut ServerConnection, st: &mut Duration) {
    loop {
        let mut co = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut co).unwrap();
        }
        let t = Instant::now();
        let mut r = &co[..];
        while !r.is_empty() {
            s.read_tls(&mut r).unwrap();
            s.process_new_packets().unwrap();
        }
        let mut so = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut so).unwrap();
        }
        *st += t.elapsed();
        let mut r = &so[..];
        while !r.is_empty() {
            c.read_tls(&mut r).unwrap();
            c.process_new_packets().unwrap();
        }
        if co.is_empty() && so.is_empty() && !c.is_handshaking() && !s.is_handshaking() {
            break;
        }
    }
}

fn handshakes(suite: &str, key: &str, resume: bool) -> (f64, f64) {
    let (sc, cc) = configs(suite, key, resume);
    let name = ServerName::try_from("localhost").unwrap();
    let (mut st, mut n) = (Duration::ZERO, 0u32);
    // prime the resumption cache
    let mut c = ClientConnection::new(cc.clone(), name.clone()).unwrap();
    let mut s = ServerConnection::new(sc.clone()).unwrap();
    handshake(&mut c, &mut s, &mut st);
    st = Duration::ZERO;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        let mut c = ClientConnection::new(cc.clone(), name.clone()).unwrap();
        let t = Instant::now();
        let mut s = ServerConnection::new(sc.clone()).unwrap();
        st += t.elapsed();
        handshake(&mut c, &mut s, &mut st);
        assert_eq!(
            resume,
            s.received_resumption_data().is_some()
                || matches!(c.handshake_kind(), Some(rustls::HandshakeKind::Resumed)),
            "resumed?"
        );
        n += 1;
    }
    (n as f64 / t0.elapsed().as_secs_f64(), n as f64 / st.as_secs_f64())
}

fn throughput(suite: &str) -> (f64, f64) {
    use std::io::{Read, Write};
    let (sc, cc) = configs(suite, "ec", false);
    let mut c = ClientConnection::new(cc, ServerName::try_from("localhost").unwrap()).unwrap();
    let mut s = ServerConnection::new(sc).unwrap();
    let mut st = Duration::ZERO;
    handshake(&mut c, &mut s, &mut st);
    c.set_buffer_limit(None);
    let chunk = vec![0x5au8; 16384];
    let total = 1024usize << 20;
    let mut rbuf = vec![0u8; 65536];
    let mut wire = Vec::with_capacity(1 << 20);
    let (mut enc, mut dec) = (Duration::ZERO, Duration::ZERO);
    let mut got = 0;
    let mut sent = 0;
    while sent < total {
        let t = Instant::now();
        for _ in 0..4 {
            c.writer().write_all(&chunk).unwrap();
            sent += chunk.len();
        }
        wire.clear();
        while c.wants_write() {
            c.write_tls(&mut wire).unwrap();
        }
        enc += t.elapsed();
        let t = Instant::now();
        let mut r = &wire[..];
        while !r.is_empty() {
            s.read_tls(&mut r).unwrap();
            s.process_new_packets().unwrap();
            loop {
                match s.reader().read(&mut rbuf) {
                    Ok(0) => break,
                    Ok(k) => got += k,
                    Err(_) => break,
                }
            }
        }
        dec += t.elapsed();
    }
    assert_eq!(got, total);
    let mib = total as f64 / (1 << 20) as f64;
    (mib / enc.as_secs_f64(), mib / dec.as_secs_f64())
}

fn main() {
    let prov = if cfg!(feature = "ring") { "ring" } else { "aws-lc-rs" };
    for suite in [
        "TLS13_AES_128_GCM_SHA256",
        "TLS13_AES_256_GCM_SHA384",
        "TLS13_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ] {
        let (e, d) = throughput(suite);
        println!("{prov} {suite} encrypt {e:.0} MiB/s decrypt {d:.0} MiB/s");
    }
    for key in ["ec", "rsa"] {
        let suite = "TLS13_AES_128_GCM_SHA256";
        let (f, fs) = handshakes(suite, key, false);
        let (r, rs) = handshakes(suite, key, true);
        println!("{prov} {key} full handshakes {f:.0}/s (server side alone {fs:.0}/s); resumed {r:.0}/s (server side alone {rs:.0}/s)");
    }
}
