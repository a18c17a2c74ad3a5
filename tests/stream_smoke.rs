mod stream_util;
use std::io::Write;
use stream_util::*;

#[test]
fn smoke_round_trip() {
    let (s, mut peer) = accepted_pair();
    s.send(b"hello", true, false).unwrap();
    assert_eq!(read_exact(&mut peer, 5), b"hello");
    peer.write_all(b"world").unwrap();
    let r = s.rcv(100, FIVE).unwrap();
    assert_eq!(r.data, b"world");
}
