//! One rule per kind of C argument, checked on every function that takes
//! one (issue 12 items 10 and 14):
//! - seconds: NaN is always MARLINE_ERR_INVALID_ARGUMENT; what ≤ 0 and
//!   infinity mean is each function's own, as its doc comment states;
//! - element counts: above MARLINE_IOV_MAX, MARLINE_ERR_INVALID_ARGUMENT
//!   before the array is read.

use std::ffi::c_void;
use std::net::TcpListener;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use marline::ffi::marline_status_t::*;
use marline::ffi::*;

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

/// Counts into the AtomicU32 `user` points to (each test's own, outliving
/// its reactor).
fn bump(user: *mut c_void) {
    // SAFETY: see above.
    unsafe { &*(user as *const AtomicU32) }.fetch_add(1, Ordering::SeqCst);
}

unsafe extern "C" fn count(_r: *mut reactor_t, user: *mut c_void) {
    bump(user)
}

unsafe extern "C" fn made(_t: *mut transport_t, user: *mut c_void) {
    bump(user)
}

fn new_reactor() -> *mut reactor_t {
    let mut r = null_mut();
    // SAFETY: a valid out pointer.
    assert_eq!(unsafe { reactor_new(&mut r) }, MARLINE_OK);
    r
}

fn call_later(r: *mut reactor_t, s: f64, calls: &AtomicU32) -> (marline_status_t, *mut delayed_call_t) {
    let mut c = null_mut();
    let user = calls as *const AtomicU32 as *mut c_void;
    // SAFETY: a valid out pointer.
    let st = unsafe { reactor_call_later(r, s, Some(count), user, &mut c) };
    (st, c)
}

fn time_left(c: *mut delayed_call_t) -> f64 {
    let mut left = 0.0;
    // SAFETY: a valid out pointer.
    assert_eq!(unsafe { delayed_call_get_time_left(c, &mut left) }, MARLINE_OK);
    left
}

#[test]
fn delays_are_0_or_more_and_finite() {
    let r = new_reactor();
    let calls = AtomicU32::new(0);
    for bad in [NAN, -NAN, -1.0, -1e-9, -INF, INF, 1e30] {
        let (st, c) = call_later(r, bad, &calls);
        assert_eq!(st, MARLINE_ERR_INVALID_ARGUMENT, "reactor_call_later({bad})");
        assert!(c.is_null());
    }
    let (st, c) = call_later(r, 100.0, &calls);
    assert_eq!(st, MARLINE_OK);
    for bad in [NAN, -1.0, -INF, INF, 1e30] {
        assert_eq!(delayed_call_reset(c, bad), MARLINE_ERR_INVALID_ARGUMENT, "delayed_call_reset({bad})");
        assert_eq!(delayed_call_delay(c, bad), MARLINE_ERR_INVALID_ARGUMENT, "delayed_call_delay({bad})");
    }
    assert!(time_left(c) > 99.0, "a refused reset or delay leaves the call's time alone");
    assert_eq!(delayed_call_delay(c, 0.0), MARLINE_OK);
    assert_eq!(delayed_call_reset(c, 0.0), MARLINE_OK);
    assert_eq!(time_left(c), 0.0);
    let (st, zero) = call_later(r, -0.0, &calls);
    assert_eq!(st, MARLINE_OK);
    assert_eq!(reactor_run_once(r, 0.0), MARLINE_OK);
    assert_eq!(calls.load(Ordering::SeqCst), 2, "both 0-second calls ran in the next turn");
    assert!(!delayed_call_active(zero));
    assert_eq!(reactor_free(r), MARLINE_OK);
}

#[test]
fn run_once_polls_at_0_waits_without_limit_below_0_and_at_infinity_and_refuses_nan() {
    let r = new_reactor();
    let calls = AtomicU32::new(0);
    assert_eq!(reactor_run_once(r, NAN), MARLINE_ERR_INVALID_ARGUMENT);
    let start = Instant::now();
    assert_eq!(reactor_run_once(r, 0.0), MARLINE_OK);
    assert!(start.elapsed() < Duration::from_secs(1));
    // Without limit: the turn returns once the call 50 ms away is due.
    for wait in [-1.0, -INF, INF, 1e30] {
        let before = calls.load(Ordering::SeqCst);
        assert_eq!(call_later(r, 0.05, &calls).0, MARLINE_OK);
        while calls.load(Ordering::SeqCst) == before {
            assert_eq!(reactor_run_once(r, wait), MARLINE_OK, "reactor_run_once({wait})");
        }
    }
    assert_eq!(reactor_free(r), MARLINE_OK);
}

fn connect(r: *mut reactor_t, port: u16, timeout: f64, telnet: bool, made_count: &AtomicU32) -> marline_status_t {
    let user = made_count as *const AtomicU32 as *mut c_void;
    let mut t = null_mut();
    // SAFETY: valid strings, tables and out pointer; all-NULL tables are valid.
    let st = unsafe {
        if telnet {
            let mut table: telnet_protocol_t = std::mem::zeroed();
            table.size = std::mem::size_of_val(&table);
            table.connection_made = Some(made);
            reactor_connect_telnet(r, c"127.0.0.1".as_ptr(), port as i32, timeout, &table, user, &mut t)
        } else {
            let mut table: marline_protocol_t = std::mem::zeroed();
            table.size = std::mem::size_of_val(&table);
            table.connection_made = Some(made);
            reactor_connect_tcp(r, c"127.0.0.1".as_ptr(), port as i32, timeout, &table, user, &mut t)
        }
    };
    assert_eq!(t.is_null(), st != MARLINE_OK, "out is written only on success");
    if st == MARLINE_OK && telnet {
        for bad in [NAN, -NAN] {
            assert_eq!(telnet_set_negotiation_timeout(t, bad), MARLINE_ERR_INVALID_ARGUMENT);
        }
        for off in [0.0, -1.0, -INF, INF, 1e30] {
            assert_eq!(telnet_set_negotiation_timeout(t, off), MARLINE_OK, "telnet_set_negotiation_timeout({off})");
        }
    }
    st
}

#[test]
fn connect_timeouts_are_no_limit_at_or_below_0_and_at_infinity_and_refuse_nan() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let r = new_reactor();
    for telnet in [false, true] {
        let made_count = AtomicU32::new(0);
        assert_eq!(connect(r, port, NAN, telnet, &made_count), MARLINE_ERR_INVALID_ARGUMENT);
        let no_limit = [0.0, -0.0, -1.0, -INF, INF, 1e30];
        for t in no_limit {
            assert_eq!(connect(r, port, t, telnet, &made_count), MARLINE_OK, "connect({t}, telnet {telnet})");
        }
        while made_count.load(Ordering::SeqCst) < no_limit.len() as u32 {
            assert_eq!(reactor_run_once(r, 1.0), MARLINE_OK);
        }
        // Only the accepted ones connected: the refused call made nothing.
        for _ in 0..3 {
            assert_eq!(reactor_run_once(r, 0.0), MARLINE_OK);
        }
        assert_eq!(made_count.load(Ordering::SeqCst), no_limit.len() as u32);
    }
    assert_eq!(reactor_free(r), MARLINE_OK);
}

#[test]
fn stream_time_limits_are_none_at_0_and_refuse_negative_infinite_and_nan() {
    let mut s = null_mut();
    // SAFETY: a valid out pointer.
    assert_eq!(unsafe { tcp_stream_new(&mut s) }, MARLINE_OK);
    let (mut buf, mut len, mut urgent, mut mark) = ([0u8; 8], 0usize, false, false);
    for bad in [NAN, -1.0, -INF, INF, 1e30] {
        assert_eq!(tcp_stream_wait(s, bad), MARLINE_ERR_INVALID_ARGUMENT, "tcp_stream_wait({bad})");
        assert_eq!(tcp_stream_close(s, bad), MARLINE_ERR_INVALID_ARGUMENT, "tcp_stream_close({bad})");
        // SAFETY: valid buffers and out pointers.
        unsafe {
            assert_eq!(
                tcp_stream_active_open(s, 0, c"127.0.0.1".as_ptr(), 9, bad),
                MARLINE_ERR_INVALID_ARGUMENT,
                "tcp_stream_active_open({bad})"
            );
            assert_eq!(
                tcp_stream_rcv(s, bad, buf.as_mut_ptr(), buf.len(), &mut len, &mut urgent, &mut mark),
                MARLINE_ERR_INVALID_ARGUMENT,
                "tcp_stream_rcv({bad})"
            );
        }
    }
    // 0, no limit: nothing pending returns at once; no connection is the
    // stream's own answer, not the argument's.
    assert_eq!(tcp_stream_wait(s, 0.0), MARLINE_OK);
    assert_eq!(tcp_stream_close(s, 0.0), MARLINE_ERR_NOT_CONNECTED);
    // SAFETY: valid buffers and out pointers.
    let st = unsafe { tcp_stream_rcv(s, 0.0, buf.as_mut_ptr(), buf.len(), &mut len, &mut urgent, &mut mark) };
    assert_eq!(st, MARLINE_ERR_NOT_CONNECTED);
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port() as i32;
    // SAFETY: a valid string.
    assert_eq!(unsafe { tcp_stream_active_open(s, 0, c"127.0.0.1".as_ptr(), port, 0.0) }, MARLINE_OK);
    assert_eq!(tcp_stream_free(s), MARLINE_OK);
}

/// The case: a huge count with a small valid array returned
/// MARLINE_ERR_PANIC (SIZE_MAX, SIZE_MAX/16+1) or aborted the process
/// allocating (2^33, 2^40). Above MARLINE_IOV_MAX it is refused before the
/// array is read; MARLINE_IOV_MAX elements are written in order.
#[test]
fn write_sequence_refuses_more_than_iov_max_elements_before_reading_them() {
    use std::io::Read;
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let r = new_reactor();
    let made_count = AtomicU32::new(0);
    let user = &made_count as *const AtomicU32 as *mut c_void;
    let mut t = null_mut();
    // SAFETY: valid string, table and out pointer.
    let st = unsafe {
        let mut table: marline_protocol_t = std::mem::zeroed();
        table.size = std::mem::size_of_val(&table);
        table.connection_made = Some(made);
        reactor_connect_tcp(r, c"127.0.0.1".as_ptr(), port as i32, 5.0, &table, user, &mut t)
    };
    assert_eq!(st, MARLINE_OK);
    let (mut peer, _) = server.accept().unwrap();
    while made_count.load(Ordering::SeqCst) == 0 {
        assert_eq!(reactor_run_once(r, 1.0), MARLINE_OK);
    }
    let small = [marline_iovec_t { base: b"ab".as_ptr(), len: 2 }; 2];
    for count in [MARLINE_IOV_MAX + 1, usize::MAX, usize::MAX / 16 + 1, 1 << 33, 1 << 40] {
        // SAFETY: `count` is a lie, which is the point: it must be refused
        // before the array is read.
        let st = unsafe { transport_write_sequence(t, small.as_ptr(), count) };
        assert_eq!(st, MARLINE_ERR_INVALID_ARGUMENT, "count {count}");
    }
    let bytes: Vec<[u8; 1]> = (0..MARLINE_IOV_MAX).map(|i| [i as u8]).collect();
    let iov: Vec<marline_iovec_t> = bytes.iter().map(|b| marline_iovec_t { base: b.as_ptr(), len: 1 }).collect();
    // SAFETY: MARLINE_IOV_MAX valid elements.
    assert_eq!(unsafe { transport_write_sequence(t, iov.as_ptr(), iov.len()) }, MARLINE_OK);
    assert_eq!(transport_lose_connection(t), MARLINE_OK);
    // Closed once the handle is stale (connection_lost has run).
    let mut queued = 0;
    // SAFETY: a valid out pointer.
    while unsafe { transport_get_write_queue_size(t, &mut queued) } == MARLINE_OK {
        assert_eq!(reactor_run_once(r, 1.0), MARLINE_OK);
    }
    let mut got = Vec::new();
    peer.read_to_end(&mut got).unwrap();
    assert_eq!(got, bytes.concat(), "nothing of the refused writes, then the 1024 bytes in order");
    assert_eq!(reactor_free(r), MARLINE_OK);
}
