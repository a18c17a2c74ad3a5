mod common;
use common::*;
use marline::{Reactor, ReasonKind};

#[test]
fn echo_round_trip_then_clean_close() {
    let r = Reactor::new().unwrap();
    let port = echo_server(&r);
    let log: Log = Default::default();
    let proto = Recorder::new(&log).hook(|t, ev| match ev {
        Ev::Made => t.write(b"hello").unwrap(),
        Ev::Data(_) => t.lose_connection().unwrap(),
        _ => {}
    });
    r.connect_tcp("127.0.0.1", port, None, Box::new(proto)).unwrap();
    run_until(&r, || has(&log, is_lost));
    assert_eq!(*log.borrow(), vec![Ev::Made, Ev::Data(b"hello".to_vec()), Ev::Lost(ReasonKind::Done)]);
}
