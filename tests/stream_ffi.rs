//! The C ABI of streams, driven from Rust: handle checking, bad input,
//! the status record's size rule, and the asr through a C function.

use std::ffi::c_void;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;

use marline::ffi::*;

use marline_status_t::*;

fn new_stream() -> *mut tcp_stream_t {
    let mut s = null_mut();
    // SAFETY: `s` is writable.
    assert_eq!(unsafe { tcp_stream_new(&mut s) }, MARLINE_OK);
    assert!(!s.is_null());
    s
}

fn status_of(s: *mut tcp_stream_t) -> (marline_status_t, tcp_stream_status_t) {
    // SAFETY: all-zero is a valid status record.
    let mut st: tcp_stream_status_t = unsafe { std::mem::zeroed() };
    st.size = std::mem::size_of::<tcp_stream_status_t>();
    // SAFETY: st is writable and its size set.
    let r = unsafe { tcp_stream_status(s, &mut st) };
    (r, st)
}

fn port_of(s: *mut tcp_stream_t) -> i32 {
    let mut a = null_mut();
    // SAFETY: out pointer writable; the address is freed below.
    unsafe {
        assert_eq!(tcp_stream_get_sock_name(s, &mut a), MARLINE_OK);
        let p = marline_address_port(a) as i32;
        marline_address_free(a);
        p
    }
}

/// A stream passively opened and a second one actively connected to it.
fn pair() -> (*mut tcp_stream_t, *mut tcp_stream_t) {
    let server = new_stream();
    let client = new_stream();
    // SAFETY: literal NUL-terminated interface.
    assert_eq!(unsafe { tcp_stream_passive_open_on(server, c"127.0.0.1".as_ptr(), 0) }, MARLINE_OK);
    let port = port_of(server);
    // SAFETY: literal NUL-terminated host.
    assert_eq!(unsafe { tcp_stream_active_open(client, 0, c"127.0.0.1".as_ptr(), port, 5.0) }, MARLINE_OK);
    assert_eq!(tcp_stream_wait(server, 5.0), MARLINE_OK);
    (server, client)
}

#[test]
fn null_stale_and_foreign_handles_are_detected() {
    assert_eq!(tcp_stream_free(null_mut()), MARLINE_ERR_NULL_POINTER);
    // SAFETY: NULL out pointer is checked.
    assert_eq!(unsafe { tcp_stream_new(null_mut()) }, MARLINE_ERR_NULL_POINTER);
    let s = new_stream();
    assert_eq!(tcp_stream_free(s), MARLINE_OK);
    assert_eq!(tcp_stream_free(s), MARLINE_ERR_STALE_HANDLE);
    assert_eq!(tcp_stream_passive_open(s, 0), MARLINE_ERR_STALE_HANDLE);
    // SAFETY: literal NUL-terminated interface.
    assert_eq!(unsafe { tcp_stream_passive_open_on(s, c"127.0.0.1".as_ptr(), 0) }, MARLINE_ERR_STALE_HANDLE);
    assert_eq!(status_of(s).0, MARLINE_ERR_STALE_HANDLE);
    assert_eq!(tcp_stream_set_ulp_timeout(s, 1.0, TCP_STREAM_ULP_ABORT), MARLINE_ERR_STALE_HANDLE);
    let mut done = false;
    // SAFETY: `done` is writable.
    assert_eq!(unsafe { tcp_stream_isdone(s, &mut done) }, MARLINE_ERR_STALE_HANDLE);
    // A new stream reusing the slot does not revive the old handle.
    let t = new_stream();
    assert_ne!(t, s);
    assert_eq!(tcp_stream_abort(s), MARLINE_ERR_STALE_HANDLE);
    assert_eq!(tcp_stream_abort(t), MARLINE_ERR_NOT_CONNECTED);
    // A reactor handle is not a stream.
    let mut r = null_mut();
    // SAFETY: writable out pointer.
    assert_eq!(unsafe { reactor_new(&mut r) }, MARLINE_OK);
    assert_eq!(tcp_stream_abort(r as *mut tcp_stream_t), MARLINE_ERR_WRONG_HANDLE_TYPE);
    assert_eq!(reactor_free(r), MARLINE_OK);
    assert_eq!(tcp_stream_free(t), MARLINE_OK);
}

#[test]
fn bad_arguments_are_clear_errors() {
    let (server, client) = pair();
    let mut buf = [0u8; 8];
    let (mut len, mut urgent, mut mark) = (99usize, true, true);
    // SAFETY: every pointer is valid or deliberately NULL.
    unsafe {
        assert_eq!(tcp_stream_rcv(server, 1.0, buf.as_mut_ptr(), 0, &mut len, &mut urgent, &mut mark), MARLINE_ERR_INVALID_ARGUMENT);
        assert_eq!(tcp_stream_rcv(server, 1.0, null_mut(), 8, &mut len, &mut urgent, &mut mark), MARLINE_ERR_NULL_POINTER);
        assert_eq!(tcp_stream_rcv(server, 1.0, buf.as_mut_ptr(), 8, null_mut(), &mut urgent, &mut mark), MARLINE_ERR_NULL_POINTER);
        assert_eq!(tcp_stream_rcv(server, -1.0, buf.as_mut_ptr(), 8, &mut len, &mut urgent, &mut mark), MARLINE_ERR_INVALID_ARGUMENT);
        assert_eq!(tcp_stream_rcv(server, f64::NAN, buf.as_mut_ptr(), 8, &mut len, &mut urgent, &mut mark), MARLINE_ERR_INVALID_ARGUMENT);
        assert_eq!(tcp_stream_rcv(server, f64::INFINITY, buf.as_mut_ptr(), 8, &mut len, &mut urgent, &mut mark), MARLINE_ERR_INVALID_ARGUMENT);
        // Tiny limits time out; out parameters are untouched on failure.
        assert_eq!(tcp_stream_rcv(server, 1e-9, buf.as_mut_ptr(), 8, &mut len, &mut urgent, &mut mark), MARLINE_ERR_TIMED_OUT);
        assert_eq!(tcp_stream_rcv(server, 1e-300, buf.as_mut_ptr(), 8, &mut len, &mut urgent, &mut mark), MARLINE_ERR_TIMED_OUT);
        assert_eq!((len, urgent, mark), (99, true, true));
        assert_eq!(tcp_stream_send(client, null_mut(), 3, true, false), MARLINE_ERR_NULL_POINTER);
        assert_eq!(tcp_stream_send(client, null_mut(), 0, true, false), MARLINE_OK);
        assert_eq!(tcp_stream_passive_open(client, 70000), MARLINE_ERR_INVALID_ARGUMENT);
        assert_eq!(tcp_stream_passive_open(client, -1), MARLINE_ERR_INVALID_ARGUMENT);
        assert_eq!(tcp_stream_passive_open_on(client, null_mut(), 0), MARLINE_ERR_NULL_POINTER);
        assert_eq!(tcp_stream_set_ulp_timeout(client, -1.0, TCP_STREAM_ULP_ABORT), MARLINE_ERR_INVALID_ARGUMENT);
        assert_eq!(tcp_stream_set_ulp_timeout(client, f64::NAN, TCP_STREAM_ULP_REPORT), MARLINE_ERR_INVALID_ARGUMENT);
        assert_eq!(tcp_stream_set_ulp_timeout(client, 1.0, 2), MARLINE_ERR_INVALID_ARGUMENT);
        assert_eq!(tcp_stream_set_ulp_timeout(client, 30.0, TCP_STREAM_ULP_ABORT), MARLINE_OK);
        assert_eq!(tcp_stream_set_ulp_timeout(client, 0.0, TCP_STREAM_ULP_REPORT), MARLINE_OK);
        assert_eq!(tcp_stream_set_ulp_timeout(null_mut(), 0.0, TCP_STREAM_ULP_REPORT), MARLINE_ERR_NULL_POINTER);
        assert_eq!(tcp_stream_passive_open_on(client, c"127.0.0.1".as_ptr(), 70000), MARLINE_ERR_INVALID_ARGUMENT);
        assert_eq!(tcp_stream_passive_open_on(server, c"localhost".as_ptr(), 0), MARLINE_ERR_BAD_ADDRESS);
        // 192.0.2.1 (TEST-NET-1) is no address of this host: EADDRNOTAVAIL.
        let fresh = new_stream();
        assert_eq!(tcp_stream_passive_open_on(fresh, c"192.0.2.1".as_ptr(), 0), MARLINE_ERR_BAD_ADDRESS);
        assert_eq!(tcp_stream_free(fresh), MARLINE_OK);
        assert_eq!(tcp_stream_active_open(client, 0, null_mut(), 80, 1.0), MARLINE_ERR_NULL_POINTER);
        assert_eq!(tcp_stream_active_open(client, 0, c"127.0.0.1".as_ptr(), 0, 1.0), MARLINE_ERR_INVALID_ARGUMENT);
        assert_eq!(tcp_stream_wait(server, -2.0), MARLINE_ERR_INVALID_ARGUMENT);
        assert_eq!(tcp_stream_close(client, f64::NAN), MARLINE_ERR_INVALID_ARGUMENT);
        assert_eq!(tcp_stream_isdone(server, null_mut()), MARLINE_ERR_NULL_POINTER);
        assert_eq!(tcp_stream_get_sock_name(server, null_mut()), MARLINE_ERR_NULL_POINTER);
        assert_eq!(tcp_stream_status(server, null_mut()), MARLINE_ERR_NULL_POINTER);

        // Data then flags, with timeout 0 = no limit.
        let msg = *b"hey";
        assert_eq!(tcp_stream_send(client, msg.as_ptr(), 3, true, true), MARLINE_OK);
        assert_eq!(tcp_stream_rcv(server, 0.0, buf.as_mut_ptr(), 8, &mut len, &mut urgent, &mut mark), MARLINE_OK);
        assert_eq!((&buf[..len], urgent, mark), (&b"he"[..], true, false));
        assert_eq!(tcp_stream_rcv(server, 0.0, buf.as_mut_ptr(), 8, &mut len, &mut urgent, &mut mark), MARLINE_OK);
        assert_eq!((&buf[..len], urgent, mark), (&b"y"[..], false, true));

        // Send on a closed stream.
        assert_eq!(tcp_stream_close(client, 5.0), MARLINE_OK);
        assert_eq!(tcp_stream_send(client, msg.as_ptr(), 3, true, false), MARLINE_ERR_CLOSED);
        assert_eq!(tcp_stream_rcv(server, 5.0, buf.as_mut_ptr(), 8, &mut len, &mut urgent, &mut mark), MARLINE_ERR_CONNECTION_CLOSING);
    }
    assert_eq!(tcp_stream_free(server), MARLINE_OK);
    assert_eq!(tcp_stream_free(client), MARLINE_OK);
}

#[test]
fn status_record_size_rule() {
    let (server, client) = pair();
    let (r, st) = status_of(server);
    assert_eq!(r, MARLINE_OK);
    assert_eq!(st.size, std::mem::size_of::<tcp_stream_status_t>());
    assert_eq!(st.state, TCP_STREAM_STATE_ESTABLISHED);
    assert_eq!(st.family, 4);
    assert_eq!(&st.local_host[..4], &[127, 0, 0, 1]);
    assert_eq!(st.local_port as i32, port_of(server));
    assert_eq!(st.remote_port as i32, port_of(client));

    // An older, smaller record: only its bytes are written.
    let mut small = [0xAAu8; 64];
    let min = std::mem::offset_of!(tcp_stream_status_t, state) + 4;
    small[..8].copy_from_slice(&min.to_ne_bytes());
    // SAFETY: 64 writable bytes, size field set to `min` ≤ 64.
    assert_eq!(unsafe { tcp_stream_status(server, small.as_mut_ptr() as *mut tcp_stream_status_t) }, MARLINE_OK);
    assert_eq!(usize::from_ne_bytes(small[..8].try_into().unwrap()), min);
    assert_eq!(i32::from_ne_bytes(small[8..12].try_into().unwrap()), TCP_STREAM_STATE_ESTABLISHED);
    assert!(small[12..].iter().all(|&b| b == 0xAA), "wrote past the given size");
    // Too small to hold even the state.
    small[..8].copy_from_slice(&8usize.to_ne_bytes());
    // SAFETY: as above.
    assert_eq!(unsafe { tcp_stream_status(server, small.as_mut_ptr() as *mut tcp_stream_status_t) }, MARLINE_ERR_INVALID_ARGUMENT);

    assert_eq!(tcp_stream_abort(client), MARLINE_OK);
    assert_eq!(status_of(client).1.state, TCP_STREAM_STATE_CLOSED);
    tcp_stream_free(server);
    tcp_stream_free(client);
}

static EVENTS: AtomicUsize = AtomicUsize::new(0);
static LAST_EVENT: AtomicI32 = AtomicI32::new(0);
static LAST_DETAIL: AtomicI32 = AtomicI32::new(0);
static SAME_HANDLE: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn asr(stream: *mut tcp_stream_t, event: tcp_stream_event_t, detail: i32, user: *mut c_void) {
    if std::ptr::eq(stream as *const c_void, user) {
        SAME_HANDLE.fetch_add(1, Ordering::SeqCst);
    }
    LAST_EVENT.store(event as i32, Ordering::SeqCst);
    LAST_DETAIL.store(detail, Ordering::SeqCst);
    EVENTS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn refused_active_open_through_the_c_asr() {
    let s = new_stream();
    // SAFETY: `asr` is callable from any thread; user is the handle itself.
    assert_eq!(unsafe { tcp_stream_set_asr(s, Some(asr), s as *mut c_void) }, MARLINE_OK);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // SAFETY: literal host.
    assert_eq!(unsafe { tcp_stream_active_open(s, 0, c"127.0.0.1".as_ptr(), port as i32, 5.0) }, MARLINE_ERR_REFUSED);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while EVENTS.load(Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(LAST_EVENT.load(Ordering::SeqCst), tcp_stream_event_t::TCP_STREAM_EVENT_TERMINATE as i32);
    assert_eq!(LAST_DETAIL.load(Ordering::SeqCst), TCP_STREAM_REASON_REMOTE_ABORT);
    assert_eq!(SAME_HANDLE.load(Ordering::SeqCst), 1);
    // SAFETY: NULL removes the routine.
    assert_eq!(unsafe { tcp_stream_set_asr(s, None, null_mut()) }, MARLINE_OK);
    assert_eq!(tcp_stream_free(s), MARLINE_OK);
}

#[test]
fn new_status_codes_have_messages() {
    for (code, text) in [(503, "the peer has closed the connection and all its data has been read"), (504, "another call on this stream is in progress")] {
        // SAFETY: static NUL-terminated string.
        let got = unsafe { std::ffi::CStr::from_ptr(marline_strerror(code)) };
        assert_eq!(got.to_str().unwrap(), text);
    }
    assert_eq!(MARLINE_ERR_CONNECTION_CLOSING as i32, 503);
    assert_eq!(MARLINE_ERR_STREAM_BUSY as i32, 504);
}

#[test]
fn the_errno_of_a_failure_on_the_engine_thread_reaches_marline_last_os_error() {
    let s = new_stream();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // The kernel refuses the connection on the stream's engine thread; the
    // errno comes with the error to this thread's record.
    // SAFETY: literal NUL-terminated host.
    assert_eq!(unsafe { tcp_stream_active_open(s, 0, c"127.0.0.1".as_ptr(), closed_port.into(), 5.0) }, MARLINE_ERR_REFUSED);
    assert_eq!(marline_last_os_error(), libc::ECONNREFUSED);
    // A failure without an operating-system cause records 0.
    assert_eq!(tcp_stream_close(s, f64::NAN), MARLINE_ERR_INVALID_ARGUMENT);
    assert_eq!(marline_last_os_error(), 0);
    assert_eq!(tcp_stream_free(s), MARLINE_OK);
}
