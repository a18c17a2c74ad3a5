//! 100 concurrent connections through the echo server, exact bytes back.
mod common;

use common::*;
use marline::{Reactor, ReasonKind};

#[test]
fn hundred_concurrent_connections_echo_exact_bytes() {
    let r = Reactor::new().unwrap();
    let port = echo_server(&r);
    let mut clients = Vec::new();
    for i in 0..100usize {
        let log: Log = Default::default();
        let data = pattern(20_000 + i * 1_313, i as u64 + 1);
        let d2 = data.clone();
        let proto = Recorder::new(&log).half_close().hook(move |t, ev| {
            if *ev == Ev::Made {
                // Half in one write, half gathered; then half-close.
                let (a, b) = d2.split_at(d2.len() / 2);
                t.write(a).unwrap();
                t.write_sequence(&[std::io::IoSlice::new(&b[..10]), std::io::IoSlice::new(&b[10..])]).unwrap();
                t.lose_write_connection().unwrap();
            }
        });
        r.connect_tcp("127.0.0.1", port, None, Box::new(proto)).unwrap();
        clients.push((log, data));
    }
    run_until(&r, || clients.iter().all(|(log, _)| has(log, is_lost)));
    for (i, (log, data)) in clients.iter().enumerate() {
        assert!(data_of(log) == *data, "client {i}: echo differs ({} of {} bytes)", data_of(log).len(), data.len());
        let l = log.borrow();
        assert_eq!(l.first(), Some(&Ev::Made), "client {i}");
        assert_eq!(l.last(), Some(&Ev::Lost(ReasonKind::Done)), "client {i}: {:?}", l.last());
        assert_eq!(l.iter().filter(|e| **e == Ev::WriteLost).count(), 1);
        assert_eq!(l.iter().filter(|e| **e == Ev::ReadLost).count(), 1);
    }
    assert_eq!(r.object_count(), 1, "only the listener is left");
}
