//! The TLS session under hostile input: PRNG-driven harnesses as for telnet (fuzz_telnet.rs),
//! bounded in the normal suite. Long-run mode:
//!
//! ```text
//! MARLINE_FUZZ_SECONDS=600 cargo test --release --test tls_fuzz -- --nocapture
//! ```
//!
//! Properties:
//! - garbage, record-shaped garbage, and bytes flipped in a live connection end in an
//!   error (never a panic); the error then sticks, and no data that was not sent is ever
//!   delivered (what arrives is a prefix of what was written);
//! - a stream cut anywhere, then EOF, is a truncation, never a clean close;
//! - the session's own memory stays bounded: an endless handshake message stops at rustls's
//!   64 KiB bound, and the session keeps no ciphertext between calls however much is written.
mod fuzz_util;
mod tls;

use fuzz_util::*;
use marline::tls::{ClientConfig, ClientConfigBuilder, ServerConfig, ServerConfigBuilder, TlsErrorKind};
use tls::*;

#[global_allocator]
static ALLOC: Counting = Counting;

const HOST: &str = "fuzz.test";

fn configs() -> (ServerConfig, ClientConfig) {
    let ca = Ca::new("fuzz CA");
    let s = ServerConfigBuilder::new().identity(ca.leaf(&[HOST]).identity()).build().unwrap();
    let c = ClientConfigBuilder::new().roots(ca.roots()).build().unwrap();
    (s, c)
}

/// Feed `input` in random pieces; returns whether the session failed.
fn feed_randomly(rng: &mut Rng, end: &mut End, input: &[u8]) -> bool {
    let mut rest = input;
    while !rest.is_empty() && end.error.is_none() {
        let n = 1 + rng.below(rest.len().min(5000));
        end.recv(&rest[..n]);
        rest = &rest[n..];
    }
    end.error.is_some()
}

/// Random bytes, half the time shaped like TLS records (content type, version, length).
fn hostile_bytes(rng: &mut Rng) -> Vec<u8> {
    let mut v = Vec::new();
    let n = 1 + rng.below(20_000);
    while v.len() < n {
        if rng.chance(1, 2) {
            let kind = *rng.pick(&[20u8, 21, 22, 23, 24]);
            let len = if rng.chance(1, 4) { rng.below(0x10000) } else { rng.below(300) };
            v.extend_from_slice(&[kind, 3, *rng.pick(&[1u8, 3, 4]), (len >> 8) as u8, len as u8]);
            v.extend(rng.bytes(len.min(n)));
        } else {
            let k = 1 + rng.below(200);
            v.extend(rng.bytes(k));
        }
    }
    v
}

#[test]
fn garbage_ends_in_an_error_that_sticks() {
    let (s, c) = configs();
    run_seeds("tls_garbage", 300, |rng| {
        let mut end = if rng.chance(1, 2) {
            End::server(&s)
        } else {
            let mut e = End::client(&c, HOST);
            e.send();
            e
        };
        let input = hostile_bytes(rng);
        reset_peak();
        let base = live_bytes();
        let failed = feed_randomly(rng, &mut end, &input);
        assert!(peak_bytes() - base < 200 * 1024, "session memory grew to {}", peak_bytes() - base);
        assert!(end.events.is_empty(), "garbage produced events: {:?}", end.events);
        if failed {
            let e = end.error.clone().unwrap();
            assert!(
                matches!(e.kind(), TlsErrorKind::Protocol | TlsErrorKind::Negotiation | TlsErrorKind::AlertReceived(_)),
                "{e:?}"
            );
            assert!(!e.message().is_empty());
            // At most one fatal alert goes back (a plaintext alert record is 7 bytes).
            assert!(end.out.len() <= 7, "{} bytes out after garbage", end.out.len());
            assert_eq!(end.s.feed(b"\x16\x03\x03\x00\x01\x01", &mut Vec::new(), &mut |_| panic!()), Err(e.clone()));
            assert_eq!(end.s.error(), Some(&e));
        } else {
            // Only a prefix of something that may still be valid: EOF now is a truncation.
            assert_eq!(end.s.feed_eof().unwrap_err().kind(), TlsErrorKind::Truncated);
        }
    });
}

/// A live pair with data flowing both ways, where the harness may damage the ciphertext.
/// Returns (client, server, bytes the client wrote, bytes the server wrote).
fn live_pair(
    rng: &mut Rng,
    s: &ServerConfig,
    c: &ClientConfig,
    mut damage: impl FnMut(&mut Rng, &mut Vec<u8>),
) -> (End, End, Vec<u8>, Vec<u8>) {
    let mut client = End::client(c, HOST);
    let mut server = End::server(s);
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        if client.error.is_some() || server.error.is_some() {
            break;
        }
        if rng.chance(1, 2) && !client.s.write_closed() {
            let k = rng.below(30_000);
            let d = rng.bytes(k);
            client.write(&d);
            up.extend(d);
        }
        if rng.chance(1, 3) && !server.s.write_closed() {
            let k = rng.below(3_000);
            let d = rng.bytes(k);
            server.write(&d);
            down.extend(d);
        }
        let mut x = client.send();
        damage(rng, &mut x);
        feed_randomly(rng, &mut server, &x);
        let mut y = server.send();
        damage(rng, &mut y);
        feed_randomly(rng, &mut client, &y);
    }
    (client, server, up, down)
}

#[test]
fn flipped_bytes_fail_the_session_and_never_deliver_forged_data() {
    let (s, c) = configs();
    run_seeds("tls_flips", 60, |rng| {
        let (client, server, up, down) = live_pair(rng, &s, &c, |rng, bytes| {
            if !bytes.is_empty() && rng.chance(1, 6) {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
        });
        for (end, sent) in [(&server, &up), (&client, &down)] {
            let got = end.data();
            assert!(sent.starts_with(&got), "forged or reordered data delivered");
            if let Some(e) = &end.error {
                assert!(!matches!(e.kind(), TlsErrorKind::Truncated));
            }
        }
    });
}

#[test]
fn a_stream_cut_anywhere_is_a_truncation() {
    let (s, c) = configs();
    run_seeds("tls_cut", 60, |rng| {
        let mut cut = false;
        let (_client, mut server, up, _) = live_pair(rng, &s, &c, |rng, bytes| {
            // Client and server flights both pass here; cutting either ends the stream.
            if cut {
                bytes.clear();
            } else if !bytes.is_empty() && rng.chance(1, 8) {
                bytes.truncate(rng.below(bytes.len()));
                cut = true;
            }
        });
        assert!(up.starts_with(&server.data()));
        if server.error.is_none() {
            let e = server.s.feed_eof().unwrap_err();
            assert_eq!(e.kind(), TlsErrorKind::Truncated);
        }
        assert!(!server.events.contains(&Ev::PeerClosed));
    });
}

// rustls joins handshake fragments up to 64 KiB and no further (a ClientHello claiming
// 16 MiB, sent as an endless run of handshake records).
#[test]
fn an_endless_handshake_message_is_cut_at_the_bound() {
    let (s, _) = configs();
    let mut server = End::server(&s);
    reset_peak();
    let base = live_bytes();
    // Handshake header: ClientHello (1), length 0xFFFFFF.
    let mut first = vec![22, 3, 3, 0x40, 0x00, 1, 0xff, 0xff, 0xff];
    first.resize(5 + 0x4000, 0x41);
    server.recv(&first);
    let mut sent = first.len();
    while server.error.is_none() && sent < 4 << 20 {
        let mut record = vec![22, 3, 3, 0x40, 0x00];
        record.resize(5 + 0x4000, 0x41);
        server.recv(&record);
        sent += record.len();
    }
    let e = server.error.clone().expect("refused");
    assert_eq!(e.kind(), TlsErrorKind::Protocol);
    assert!(sent < 200 * 1024, "only refused after {sent} bytes");
    assert!(peak_bytes() - base < 200 * 1024, "grew to {}", peak_bytes() - base);
}

// "A peer that never reads must not grow memory without bound": the session hands every
// byte it produces to the caller's queue and keeps no ciphertext itself.
#[test]
fn the_session_keeps_no_ciphertext_between_calls() {
    let (s, c) = configs();
    let mut client = End::client(&c, HOST);
    let mut server = End::server(&s);
    pump(&mut client, &mut server);
    let chunk = vec![7u8; 64 * 1024];
    let mut out = Vec::with_capacity(chunk.len() + 1024);
    let base = live_bytes();
    for _ in 0..160 {
        out.clear();
        server.s.write(&chunk, &mut out).unwrap();
        assert!(out.len() > chunk.len() && out.len() < chunk.len() + 4 * 22 + 64, "{}", out.len());
    }
    // 10 MiB written to a peer that read none of it: the session itself holds nothing more.
    assert!(live_bytes() - base < 4096, "session holds {} bytes", live_bytes() - base);
}
