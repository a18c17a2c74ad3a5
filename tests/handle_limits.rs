//! Handles over a process's whole life (issue 12 items 8 and 9): a stale
//! handle is never taken for a live one, however many objects are made,
//! and a table with no identity left refuses with MARLINE_ERR_EXHAUSTED.
//!
//! The real ends are 2^28 generations per slot and 2^48 identities per
//! table; the hooks in `marline::ffi::testing` restrict a table (its free
//! slots retired, a few new ones allowed, a low last generation) so each
//! test reaches them in a few calls. The registry and stream limits are
//! process-wide, hence this binary of its own, and a lock around each test.

use std::ffi::{c_void, CString};
use std::ptr::null_mut;
use std::sync::Mutex;

use marline::ffi::marline_status_t::*;
use marline::ffi::testing::*;
use marline::ffi::*;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

unsafe extern "C" fn noop(_r: *mut reactor_t, _user: *mut c_void) {}

fn new_reactor() -> *mut reactor_t {
    let mut r = null_mut();
    // SAFETY: a valid out pointer.
    assert_eq!(unsafe { reactor_new(&mut r) }, MARLINE_OK);
    r
}

fn call_later(r: *mut reactor_t) -> (marline_status_t, *mut delayed_call_t) {
    let mut c = null_mut();
    // SAFETY: a valid out pointer.
    let s = unsafe { reactor_call_later(r, 60.0, Some(noop), null_mut(), &mut c) };
    (s, c)
}

fn listen(r: *mut reactor_t) -> (marline_status_t, *mut listening_port_t) {
    let table = marline_protocol_t {
        size: std::mem::size_of::<marline_protocol_t>(),
        connection_made: None,
        data_received: None,
        connection_lost: None,
        connection_failed: None,
        read_connection_lost: None,
        write_connection_lost: None,
        urgent_data_received: None,
    };
    let any = CString::new("127.0.0.1").unwrap();
    let mut p = null_mut();
    // SAFETY: valid strings, table and out pointer.
    let s = unsafe { reactor_listen_tcp(r, any.as_ptr(), 0, 0, &table, null_mut(), &mut p) };
    (s, p)
}

/// The first case: after 65,535 reactor lifetimes the 16-bit serial
/// came round, and the first reactor's handles cancelled the new reactor's
/// timer, stopped it and freed it. Now they stay stale for ever.
#[test]
fn the_first_reactors_handles_stay_stale_over_70000_reactor_lifetimes() {
    let _l = lock();
    let first = new_reactor();
    let (s, first_call) = call_later(first);
    assert_eq!(s, MARLINE_OK);
    let (s, first_port) = listen(first);
    assert_eq!(s, MARLINE_OK);
    assert_eq!(reactor_free(first), MARLINE_OK);
    let mut seen = std::collections::HashSet::new();
    for i in 0..70_000 {
        let r = new_reactor();
        assert!(seen.insert(r as usize), "reactor handle {r:?} handed out twice (lifetime {i})");
        let (s, call) = call_later(r);
        assert_eq!(s, MARLINE_OK);
        assert_eq!(delayed_call_cancel(first_call), MARLINE_ERR_NOT_ACTIVE, "lifetime {i}");
        assert!(delayed_call_active(call), "the old handle cancelled lifetime {i}'s call");
        assert_eq!(reactor_stop(first), MARLINE_ERR_STALE_HANDLE);
        assert_eq!(reactor_call_from_thread(first, Some(noop), null_mut()), MARLINE_ERR_STALE_HANDLE);
        assert_eq!(reactor_free(first), MARLINE_ERR_STALE_HANDLE, "lifetime {i}");
        if i % 1000 == 0 {
            let (s, port) = listen(r);
            assert_eq!(s, MARLINE_OK);
            assert_eq!(listening_port_stop(first_port), MARLINE_ERR_STALE_HANDLE);
            let mut n = 0;
            // SAFETY: a valid out pointer.
            assert_eq!(unsafe { listening_port_get_port(port, &mut n) }, MARLINE_OK, "the old handle stopped the port");
        }
        assert_eq!(reactor_free(r), MARLINE_OK);
    }
}

/// An object handle of a freed reactor whose slot another thread's reactor
/// took over cannot be checked here: WRONG_THREAD, and nothing happens to
/// the other reactor's objects.
#[test]
fn an_old_handle_whose_slot_went_to_another_thread_gets_wrong_thread() {
    let _l = lock();
    let r = new_reactor();
    let (_, old_call) = call_later(r);
    assert_eq!(reactor_free(r), MARLINE_OK);
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let th = std::thread::spawn(move || {
        let r = new_reactor();
        let (_, call) = call_later(r);
        tx.send((r as usize, call as usize)).unwrap();
        done_rx.recv().unwrap();
        assert!(delayed_call_active(call));
        assert_eq!(reactor_free(r), MARLINE_OK);
    });
    let (other, _) = rx.recv().unwrap();
    assert_eq!(other & (0xFFF << 48), r as usize & (0xFFF << 48), "the thread's reactor took the freed slot");
    assert_eq!(delayed_call_cancel(old_call), MARLINE_ERR_WRONG_THREAD);
    done_tx.send(()).unwrap();
    th.join().unwrap();
    assert_eq!(delayed_call_cancel(old_call), MARLINE_ERR_STALE_HANDLE);
}

/// The second case, at lowered limits: a delayed-call slot whose
/// generation reaches the last one is retired, not wrapped to 1, and once
/// every slot is retired call_later fails with EXHAUSTED.
#[test]
fn delayed_call_slots_are_retired_at_their_last_generation_then_exhausted() {
    let _l = lock();
    let r = new_reactor();
    restrict_reactor_tables(r, 3, 4).unwrap();
    // One call stays pending in the first slot; the others cycle through
    // the other two.
    let (s, kept) = call_later(r);
    assert_eq!(s, MARLINE_OK);
    let mut old = Vec::new();
    loop {
        let (s, c) = call_later(r);
        if s != MARLINE_OK {
            assert_eq!(s, MARLINE_ERR_EXHAUSTED);
            assert!(c.is_null(), "out is written only on success");
            break;
        }
        assert!(!old.contains(&c) && c != kept, "{c:?} handed out twice");
        assert_eq!(delayed_call_cancel(c), MARLINE_OK);
        old.push(c);
        for &o in &old {
            assert_eq!(delayed_call_cancel(o), MARLINE_ERR_NOT_ACTIVE);
        }
        assert!(delayed_call_active(kept));
    }
    // Two slots, four generations each.
    assert_eq!(old.len(), 8);
    // The pending call's slot has three generations left.
    assert_eq!(delayed_call_cancel(kept), MARLINE_OK);
    for _ in 0..3 {
        let (s, c) = call_later(r);
        assert_eq!(s, MARLINE_OK);
        assert!(!old.contains(&c) && c != kept, "{c:?} handed out twice");
        assert_eq!(delayed_call_cancel(c), MARLINE_OK);
    }
    assert_eq!(call_later(r).0, MARLINE_ERR_EXHAUSTED);
    // A reactor whose tables ran out gives its slot up for good: the next
    // reactor gets another one and can schedule.
    assert_eq!(reactor_free(r), MARLINE_OK);
    let next = new_reactor();
    assert_ne!(next as usize & (0xFFF << 48), r as usize & (0xFFF << 48));
    let (s, c) = call_later(next);
    assert_eq!(s, MARLINE_OK);
    assert_eq!(delayed_call_cancel(kept), MARLINE_ERR_STALE_HANDLE, "the old slot has no reactor");
    assert!(delayed_call_active(c));
    assert_eq!(reactor_free(next), MARLINE_OK);
}

/// The object table (transports, ports, bridges) the same way.
#[test]
fn listening_ports_run_out_of_handles_with_exhausted() {
    let _l = lock();
    let r = new_reactor();
    restrict_reactor_tables(r, 2, 2).unwrap();
    let mut old = Vec::new();
    loop {
        let (s, p) = listen(r);
        if s != MARLINE_OK {
            assert_eq!(s, MARLINE_ERR_EXHAUSTED);
            break;
        }
        assert!(!old.contains(&p));
        assert_eq!(listening_port_stop(p), MARLINE_OK);
        old.push(p);
    }
    assert_eq!(old.len(), 4);
    for p in old {
        assert_eq!(listening_port_stop(p), MARLINE_ERR_STALE_HANDLE);
    }
    assert_eq!(reactor_free(r), MARLINE_OK);
}

/// Reactor slots: each is used for `last_generation` reactors, then
/// retired; with every slot retired or live, reactor_new fails with
/// EXHAUSTED (4,096 live reactors, or 2^40 over the process's life, at the
/// real limits).
#[test]
fn reactor_slots_are_retired_and_the_registry_runs_out() {
    let _l = lock();
    restrict_reactor_registry(2, 3);
    let mut old = Vec::new();
    let status = loop {
        let mut r = null_mut();
        // SAFETY: a valid out pointer.
        let s = unsafe { reactor_new(&mut r) };
        if s != MARLINE_OK {
            assert!(r.is_null(), "out is written only on success");
            break s;
        }
        assert!(!old.contains(&r), "{r:?} handed out twice");
        old.push(r);
        assert_eq!(reactor_free(r), MARLINE_OK);
        assert!(old.len() <= 6, "the registry never ran out");
    };
    assert_eq!(status, MARLINE_ERR_EXHAUSTED);
    assert_eq!(old.len(), 6, "two slots, three reactors each");
    for &r in &old {
        assert_eq!(reactor_run_once(r, 0.0), MARLINE_ERR_STALE_HANDLE);
    }
    // Live reactors count too.
    restrict_reactor_registry(2, 3);
    let (a, b) = (new_reactor(), new_reactor());
    let mut c = null_mut();
    // SAFETY: a valid out pointer.
    assert_eq!(unsafe { reactor_new(&mut c) }, MARLINE_ERR_EXHAUSTED);
    assert_eq!(reactor_free(a), MARLINE_OK);
    assert_eq!(reactor_free(b), MARLINE_OK);
    lift_reactor_registry_restriction();
    let r = new_reactor();
    assert!(!old.contains(&r));
    assert_eq!(reactor_free(r), MARLINE_OK);
}

/// tcp_stream_t handles come from the same table code.
#[test]
fn stream_handles_are_retired_and_the_table_runs_out() {
    let _l = lock();
    restrict_stream_table(2, 3);
    let mut old = Vec::new();
    let status = loop {
        let mut s = null_mut();
        // SAFETY: a valid out pointer.
        let st = unsafe { tcp_stream_new(&mut s) };
        if st != MARLINE_OK {
            break st;
        }
        assert!(!old.contains(&s), "{s:?} handed out twice");
        old.push(s);
        assert_eq!(tcp_stream_free(s), MARLINE_OK);
        assert!(old.len() <= 6, "the stream table never ran out");
    };
    assert_eq!(status, MARLINE_ERR_EXHAUSTED);
    assert_eq!(old.len(), 6, "two slots, three streams each");
    for &s in &old {
        assert_eq!(tcp_stream_abort(s), MARLINE_ERR_STALE_HANDLE);
    }
    lift_stream_table_restriction();
    let mut s = null_mut();
    // SAFETY: a valid out pointer.
    assert_eq!(unsafe { tcp_stream_new(&mut s) }, MARLINE_OK);
    assert!(!old.contains(&s));
    assert_eq!(tcp_stream_free(s), MARLINE_OK);
}
