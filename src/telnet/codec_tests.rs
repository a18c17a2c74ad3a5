//! Unit tests for what the codec keeps private: the word-at-a-time scanners and the bound on
//! the subnegotiation buffer. Its behaviour through the public API (Twisted's checklist,
//! every split point, the reference model, the encoders) is tested in
//! `tests/telnet_codec.rs`.

use super::*;

#[path = "../../tests/telnet_common/rng.rs"]
mod rng;
use rng::Rng;

#[test]
fn no_buffering_beyond_the_bound() {
    let mut big = vec![IAC, SB, 24];
    big.extend(vec![b'a'; 100_000]);
    big.extend([IAC, SE, b'z']);
    for chunk in [1usize, 7, 100, 4096, 100_003] {
        let mut p = Parser::default();
        let mut got = Vec::new();
        for c in big.chunks(chunk) {
            p.feed(c, &mut |e| got.push(format!("{e:?}")));
            assert!(p.sb_buf.capacity() <= 4096, "buffered beyond the bound");
        }
        assert_eq!(
            got,
            ["SubnegotiationOverflow(24)", "Data([122])"],
            "chunk {chunk}"
        );
    }
}

#[test]
fn scanners_match_naive_search() {
    let mut rng = Rng(0x1234_5678);
    for _ in 0..2000 {
        let len = (rng.next() % 40) as usize;
        let buf: Vec<u8> = (0..len)
            .map(|_| match rng.next() % 8 {
                0 => IAC,
                1 => b'\r',
                _ => (rng.next() % 256) as u8,
            })
            .collect();
        for start in 0..buf.len() {
            let s = &buf[start..];
            assert_eq!(find_iac(s), s.iter().position(|&b| b == IAC), "{s:02x?}");
            assert_eq!(
                find_iac_or_cr(s),
                s.iter().position(|&b| b == IAC || b == b'\r'),
                "{s:02x?}"
            );
        }
    }
}

#[test]
fn the_data_buffer_grows_once_a_call_and_is_not_kept_large() {
    let mut p = Parser::default();
    let chunk = [IAC, IAC].repeat(32 * 1024);
    let mut most = 0;
    p.feed(&chunk, &mut |e| {
        if let Event::Data(d) = e {
            most = most.max(d.len());
        }
    });
    assert_eq!(most, 32 * 1024);
    assert_eq!(p.data_buf.len(), 0, "a buffer above 4 KiB is released after the call");
    // Small runs keep their buffer, sized by the call's input, from call to call.
    p.feed(b"line\r\n", &mut |_| {});
    let kept = (p.data_buf.len(), p.data_buf.as_ptr());
    assert!(kept.0 >= 6 && kept.0 <= DATA_BUF_KEEP, "{kept:?}");
    p.feed(b"ab\r\0", &mut |_| {});
    assert_eq!((p.data_buf.len(), p.data_buf.as_ptr()), kept);
}
