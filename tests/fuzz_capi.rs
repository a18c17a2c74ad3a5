//! The C API under random call sequences: the extern "C" functions called
//! from Rust (marline::ffi::*) on live handles, on handles made stale by
//! connection_lost or reactor_free, on handles of the wrong kind and on
//! garbage pointer values, from the top level and re-entered from inside
//! every kind of callback. Long-run mode:
//!
//! ```text
//! MARLINE_FUZZ_SECONDS=3600 cargo test --release --test fuzz_capi -- --nocapture
//! ```
//!
//! Properties: never a crash and never MARLINE_ERR_PANIC; a handle whose
//! connection_lost has returned gives MARLINE_ERR_STALE_HANDLE to every call;
//! garbage gives NULL_POINTER, WRONG_HANDLE_TYPE or STALE_HANDLE; a live
//! handle of another kind gives WRONG_HANDLE_TYPE; running or freeing the
//! reactor from its own callback gives REENTRANT; every connection gets
//! exactly one connection_lost or connection_failed, also when the reactor
//! is freed with connections open.
mod fuzz_util;

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::ptr::{null, null_mut};

use fuzz_util::*;
use marline::ffi::marline_status_t::*;
use marline::ffi::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    /// A handle that may be live (or closing): anything but a panic.
    Live,
    /// connection_lost (or reactor_free) has returned: STALE_HANDLE.
    Dead,
    /// Not a handle at all.
    Garbage,
    /// A live handle of another kind.
    WrongKind,
}

#[derive(Default)]
struct Conn {
    made: u32,
    lost: u32,
    failed: u32,
    telnet: bool,
}

struct World {
    rng: Rng,
    reactor: *mut reactor_t,
    /// This reactor's slot bits (see "Handle layout" below).
    slot_bits: u64,
    dead_reactors: Vec<*mut reactor_t>,
    live: Vec<*mut transport_t>,
    dead: Vec<*mut transport_t>,
    /// Died during the current turn: dead once run_once has returned.
    dying: Vec<*mut transport_t>,
    /// Inner TCP transports of telnet ones (dead with them).
    inner_of: HashMap<usize, *mut transport_t>,
    ports: Vec<*mut listening_port_t>,
    dead_ports: Vec<*mut listening_port_t>,
    calls: Vec<*mut delayed_call_t>,
    conns: HashMap<usize, Conn>,
    depth: u32,
    echo_port: i32,
    telnet_port: i32,
    statuses: HashMap<i32, u64>,
    ops: u64,
}

thread_local! {
    static W: RefCell<Option<World>> = const { RefCell::new(None) };
}

thread_local! {
    /// A failed check inside a callback (which cannot unwind into marline).
    static FAIL: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs a callback body; a panic is kept and re-raised by [`check_fail`]
/// once control is back in Rust.
fn cb<R: Default>(f: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(e) => {
            let msg = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
            FAIL.with(|f| f.borrow_mut().get_or_insert(msg.unwrap_or_default()).clone());
            R::default()
        }
    }
}

fn check_fail() {
    if let Some(msg) = FAIL.with(|f| f.borrow_mut().take()) {
        panic!("inside a callback: {msg}");
    }
}

fn with<R>(f: impl FnOnce(&mut World) -> R) -> R {
    W.with(|w| f(w.borrow_mut().as_mut().expect("world")))
}

fn record(op: &str, s: marline_status_t, target: Target) {
    with(|w| *w.statuses.entry(s as i32).or_default() += 1);
    assert_ne!(s, MARLINE_ERR_PANIC, "{op}: a panic was caught inside marline");
    match target {
        Target::Live => {}
        Target::Dead => assert_eq!(s, MARLINE_ERR_STALE_HANDLE, "{op} on a dead handle"),
        Target::Garbage => assert!(
            matches!(s, MARLINE_ERR_NULL_POINTER | MARLINE_ERR_WRONG_HANDLE_TYPE | MARLINE_ERR_STALE_HANDLE),
            "{op} on garbage gave {s:?}"
        ),
        Target::WrongKind => assert_eq!(s, MARLINE_ERR_WRONG_HANDLE_TYPE, "{op} on a handle of another kind"),
    }
}

/// A transport-ish pointer and what calls on it must give.
fn pick_transport(w: &mut World) -> (*mut transport_t, Target) {
    let r = w.rng.below(100);
    if r < 55 && !w.live.is_empty() {
        let i = w.rng.below(w.live.len());
        return (w.live[i], Target::Live);
    }
    if r < 75 && !w.dead.is_empty() {
        let i = w.rng.below(w.dead.len());
        return (w.dead[i], Target::Dead);
    }
    if r < 80 && !w.ports.is_empty() {
        // A live listening port passed as a transport.
        let i = w.rng.below(w.ports.len());
        return (w.ports[i] as *mut transport_t, Target::WrongKind);
    }
    if r < 85 && !w.live.is_empty() {
        // A live handle with another generation: stale.
        let i = w.rng.below(w.live.len());
        let bits = w.live[i] as usize as u64;
        let gen = (bits & GEN_MASK) as u32;
        let other = (gen % (GEN_MASK as u32 - 1)) + 1 + (w.rng.below(3) as u32);
        let other = if other == gen || other as u64 > GEN_MASK { if gen == 1 { 2 } else { 1 } } else { other };
        return (((bits & !GEN_MASK) | other as u64) as usize as *mut transport_t, Target::Dead);
    }
    let g = match w.rng.below(4) {
        0 => 0,
        1 => w.rng.next(),
        // Transport kind, this reactor's slot, random index/generation.
        2 => w.slot_bits | (2 << 60) | (w.rng.next() & HANDLE_MASK),
        // Transport kind with a slot no reactor has.
        _ => (0xFF0u64 << 48) | (2 << 60) | (w.rng.next() & HANDLE_MASK),
    };
    (not_ours(w, g) as usize as *mut transport_t, Target::Garbage)
}

// Handle layout: kind (4 bits) | reactor slot (12) | index (20) | generation (28).
const GEN_MASK: u64 = (1 << 28) - 1;
const HANDLE_MASK: u64 = (1 << 48) - 1;
const SLOT_MASK: u64 = 0xFFF << 48;

/// Garbage that happens to carry this reactor's slot could name a live
/// object by chance: flip a bit so it never does.
fn not_ours(w: &World, g: u64) -> u64 {
    if g & SLOT_MASK == w.slot_bits && g != 0 {
        g ^ (1 << 59)
    } else {
        g
    }
}

fn random_bytes(w: &mut World) -> Vec<u8> {
    let n = w.rng.below(64);
    w.rng.telnet_bytes(n)
}

// ----- callbacks -----

unsafe extern "C" fn made(t: *mut transport_t, _user: *mut c_void) {
    cb(|| {
        with(|w| {
            w.conns.entry(t as usize).or_default().made += 1;
            if !w.live.contains(&t) {
                w.live.push(t);
            }
        });
        reenter("connection_made");
    })
}

unsafe extern "C" fn data(t: *mut transport_t, d: *const u8, len: usize, _user: *mut c_void) {
    cb(|| {
        // Echo (a server) or ignore; data is valid for the call.
        if with(|w| w.rng.chance(1, 2)) {
            // SAFETY: d has len bytes for the call.
            let s = unsafe { transport_write(t, d, len) };
            record("transport_write(echo)", s, Target::Live);
        }
        reenter("data_received");
    })
}

fn gone(t: *mut transport_t, failed: bool) {
    with(|w| {
        let c = w.conns.entry(t as usize).or_default();
        if failed {
            c.failed += 1;
        } else {
            c.lost += 1;
        }
        assert_eq!(c.lost + c.failed, 1, "second connection_lost/failed for {t:?}");
        w.live.retain(|x| *x != t);
        w.dying.push(t);
        if let Some(inner) = w.inner_of.remove(&(t as usize)) {
            w.live.retain(|x| *x != inner);
            w.dying.push(inner);
        }
    });
}

unsafe extern "C" fn lost(t: *mut transport_t, reason: *const marline_reason_t, _user: *mut c_void) {
    cb(|| {
        // SAFETY: the reason is valid for the call.
        let kind = unsafe { marline_reason_kind(reason) };
        assert_ne!(kind, marline_reason_kind_t::MARLINE_REASON_INVALID);
        gone(t, false);
        // The handle is usable during the call; writes are refused.
        // SAFETY: a valid one-byte buffer.
        let s = unsafe { transport_write(t, b"x".as_ptr(), 1) };
        assert!(matches!(s, MARLINE_ERR_CLOSED | MARLINE_OK | MARLINE_ERR_NOT_CONNECTED), "write in connection_lost: {s:?}");
        reenter("connection_lost");
    })
}

unsafe extern "C" fn failed(t: *mut transport_t, _reason: *const marline_reason_t, _user: *mut c_void) {
    cb(|| {
        gone(t, true);
        reenter("connection_failed");
    })
}

unsafe extern "C" fn read_lost(_t: *mut transport_t, _user: *mut c_void) {
    cb(|| {
        reenter("read_connection_lost");
    })
}

unsafe extern "C" fn tn_enable(_t: *mut transport_t, option: u8, _user: *mut c_void) -> bool {
    cb(|| {
        reenter("enable_*");
        option % 2 == 0
    })
}

unsafe extern "C" fn tn_opt(_t: *mut transport_t, _option: u8, _user: *mut c_void) {
    cb(|| {
        reenter("disable_*/command");
    })
}

unsafe extern "C" fn tn_done(
    _t: *mut transport_t,
    _option: u8,
    _result: marline_telnet_result_t,
    _reason: *const marline_reason_t,
    _user: *mut c_void,
) {
    cb(|| {
        reenter("telnet completion");
    })
}

unsafe extern "C" fn timer(_r: *mut reactor_t, _user: *mut c_void) {
    cb(|| {
        reenter("delayed call");
    })
}

unsafe extern "C" fn producer_cb(_t: *mut transport_t, _user: *mut c_void) {
    cb(|| {
        reenter("producer");
    })
}

const PROTOCOL: marline_protocol_t = marline_protocol_t {
    size: std::mem::size_of::<marline_protocol_t>(),
    connection_made: Some(made),
    data_received: Some(data),
    connection_lost: Some(lost),
    connection_failed: Some(failed),
    read_connection_lost: None,
    write_connection_lost: None,
    urgent_data_received: Some(data),
};

const HALF_CLOSE: marline_protocol_t = marline_protocol_t { read_connection_lost: Some(read_lost), ..PROTOCOL };

fn telnet_table() -> telnet_protocol_t {
    telnet_protocol_t {
        size: std::mem::size_of::<telnet_protocol_t>(),
        connection_made: Some(made),
        data_received: Some(data),
        connection_lost: Some(lost),
        connection_failed: Some(failed),
        enable_local: Some(tn_enable),
        enable_remote: Some(tn_enable),
        disable_local: Some(tn_opt),
        disable_remote: Some(tn_opt),
        unhandled_command: Some(tn_opt),
        unhandled_subnegotiation: None,
        window_size: None,
        terminal_type: None,
        environment: None,
        read_connection_lost: None,
        write_connection_lost: None,
    }
}

const PRODUCER: marline_producer_t =
    marline_producer_t { size: std::mem::size_of::<marline_producer_t>(), pause_producing: Some(producer_cb), resume_producing: Some(producer_cb), stop_producing: Some(producer_cb) };

/// From inside a callback: a few random calls, and the reactor calls that
/// must be refused there.
fn reenter(from: &str) {
    let (n, reactor) = with(|w| {
        if w.depth > 2 {
            return (0, w.reactor);
        }
        (if w.rng.chance(1, 2) { 1 + w.rng.below(3) } else { 0 }, w.reactor)
    });
    with(|w| w.depth += 1);
    for _ in 0..n {
        random_op(true);
    }
    // Producer callbacks may also come from inside the user's own call
    // (pause from a write, stop from registering on a dead transport).
    if from != "producer" && with(|w| w.rng.chance(1, 10)) {
        record("reactor_run_once in a callback", reactor_run_once(reactor, 0.0), Target::Live);
        assert_eq!(reactor_run_once(reactor, 0.0), MARLINE_ERR_REENTRANT);
        assert_eq!(reactor_run(reactor), MARLINE_ERR_REENTRANT);
        assert_eq!(reactor_free(reactor), MARLINE_ERR_REENTRANT);
    }
    with(|w| w.depth -= 1);
}

// ----- operations -----

fn random_op(in_callback: bool) {
    let (op, (t, target), bytes, reactor, a, b) = with(|w| {
        w.ops += 1;
        let op = w.rng.below(44);
        let pick = pick_transport(w);
        let bytes = random_bytes(w);
        let (a, b) = (w.rng.next(), w.rng.next());
        (op, pick, bytes, w.reactor, a, b)
    });
    let opt = (a % 8) as u8;
    // SAFETY (all calls below): every pointer argument is NULL, a live local,
    // or a handle value (never dereferenced by marline).
    unsafe {
        let s = match op {
            0..=3 => transport_write(t, bytes.as_ptr(), bytes.len()),
            4 => {
                let iov = [marline_iovec_t { base: bytes.as_ptr(), len: bytes.len() / 2 }, marline_iovec_t { base: bytes.as_ptr(), len: bytes.len() }];
                transport_write_sequence(t, iov.as_ptr(), 2)
            }
            5 => transport_write_urgent(t, bytes.as_ptr(), bytes.len().min(1)),
            6 if a % 4 == 0 => transport_lose_connection(t),
            7 if a % 6 == 0 => transport_lose_write_connection(t),
            8 if a % 8 == 0 => transport_abort_connection(t),
            9 | 10 => {
                let mut addr: *mut marline_address_t = null_mut();
                let s = if a % 2 == 0 { transport_get_host(t, &mut addr) } else { transport_get_peer(t, &mut addr) };
                if s == MARLINE_OK {
                    assert!(!marline_address_string(addr).is_null());
                    marline_address_free(addr);
                }
                s
            }
            11 => {
                let mut u: *mut c_void = null_mut();
                transport_get_user(t, &mut u)
            }
            12 => transport_set_user(t, null_mut()),
            13 => {
                let mut n = 0usize;
                transport_get_write_queue_size(t, &mut n)
            }
            14 => transport_set_write_high_water(t, 1 + (a % 100_000) as usize),
            15 => transport_pause_producing(t),
            16 => transport_resume_producing(t),
            17 if a % 8 == 0 => transport_stop_producing(t),
            18 if a % 3 == 0 => transport_register_reading_as_producer(t),
            18 => transport_register_producer(t, &PRODUCER, null_mut(), a % 2 == 0),
            19 => transport_unregister_producer(t),
            20 => {
                let mut on = false;
                if a % 2 == 0 { transport_get_tcp_nodelay(t, &mut on) } else { transport_set_tcp_nodelay(t, b % 2 == 0) }
            }
            21 => {
                let mut on = false;
                if a % 2 == 0 { transport_get_tcp_keepalive(t, &mut on) } else { transport_set_tcp_keepalive(t, b % 2 == 0) }
            }
            22 => match a % 4 {
                0 => telnet_will(t, opt, Some(tn_done), null_mut()),
                1 => telnet_wont(t, opt, Some(tn_done), null_mut()),
                2 => telnet_do(t, opt, Some(tn_done), null_mut()),
                _ => telnet_dont(t, opt, None, null_mut()),
            },
            23 => telnet_request_negotiation(t, opt, bytes.as_ptr(), bytes.len()),
            24 => {
                let c = [241u8, 246, 249, 5, 250][(b % 5) as usize];
                let s = telnet_send_command(t, c);
                if target == Target::Live && (c == 5 || c == 250) {
                    assert!(matches!(s, MARLINE_ERR_INVALID_ARGUMENT | MARLINE_ERR_WRONG_HANDLE_TYPE), "send_command({c}): {s:?}");
                }
                s
            }
            25 => telnet_set_policy(t, opt, (b % 2) as i32, (a % 3) as i32),
            26 => {
                let mut st = marline_telnet_option_state_t::MARLINE_TELNET_NO;
                telnet_get_option_state(t, opt, (b % 2) as i32, &mut st)
            }
            27 => {
                let mut on = false;
                telnet_is_enabled(t, opt, (b % 2) as i32, &mut on)
            }
            28 => telnet_set_negotiation_timeout(t, (a % 3) as f64 * 0.01),
            29 => telnet_set_max_subnegotiation(t, 1 + (a % 64) as usize),
            30 => {
                let mut inner: *mut transport_t = null_mut();
                let s = telnet_get_inner(t, &mut inner);
                if s == MARLINE_OK && target == Target::Live {
                    with(|w| {
                        w.inner_of.insert(t as usize, inner);
                        if !w.live.contains(&inner) {
                            w.live.push(inner);
                        }
                    });
                }
                s
            }
            31 => telnet_send_window_size(t, a as u16, b as u16),
            32 => {
                let name = CString::new("xterm").unwrap();
                telnet_set_terminal_type(t, if a % 2 == 0 { name.as_ptr() } else { null() })
            }
            33 => match a % 4 {
                0 => process_close_stdin(t),
                1 => process_signal(t, 0),
                2 => process_signal_group(t, 0),
                _ => {
                    let mut pid = 0;
                    process_get_pid(t, &mut pid)
                }
            },
            // Reactor-level calls (not on `t`).
            34 => return connect(reactor, a % 2 == 0),
            35 => {
                let mut call: *mut delayed_call_t = null_mut();
                let s = reactor_call_later(reactor, (a % 3) as f64 * 0.001, Some(timer), null_mut(), &mut call);
                record("reactor_call_later", s, Target::Live);
                if s == MARLINE_OK {
                    with(|w| w.calls.push(call));
                }
                return;
            }
            36 => {
                let call = with(|w| if w.calls.is_empty() { null_mut() } else { let i = w.rng.below(w.calls.len()); w.calls[i] });
                let s = match a % 5 {
                    0 => delayed_call_cancel(call),
                    1 => delayed_call_reset(call, 0.001),
                    2 => delayed_call_delay(call, 0.001),
                    3 => {
                        delayed_call_active(call);
                        MARLINE_OK
                    }
                    _ => {
                        let mut left = 0.0;
                        delayed_call_get_time_left(call, &mut left)
                    }
                };
                // An inactive call gives NOT_ACTIVE; a NULL one NULL_POINTER.
                record("delayed_call_*", s, Target::Live);
                // A delayed call is not a transport.
                record("transport_write(delayed call)", transport_write(call as *mut transport_t, null(), 0), if call.is_null() { Target::Garbage } else { Target::WrongKind });
                return;
            }
            37 => {
                let (p, dead) = with(|w| {
                    if !w.dead_ports.is_empty() && w.rng.chance(1, 2) {
                        let i = w.rng.below(w.dead_ports.len());
                        (w.dead_ports[i], true)
                    } else if !w.ports.is_empty() {
                        let i = w.rng.below(w.ports.len());
                        (w.ports[i], false)
                    } else {
                        (null_mut(), false)
                    }
                });
                let mut port = 0;
                let s = listening_port_get_port(p, &mut port);
                record("listening_port_get_port", s, if p.is_null() { Target::Garbage } else if dead { Target::Dead } else { Target::Live });
                return;
            }
            38 => {
                let mut fd = 0;
                let mut secs = 0.0;
                record("reactor_backend_fd", reactor_backend_fd(reactor, &mut fd), Target::Live);
                record("reactor_next_timeout", reactor_next_timeout(reactor, &mut secs), Target::Live);
                return;
            }
            39 => {
                // Stale reactors answer STALE to everything.
                let dead = with(|w| w.dead_reactors.last().copied());
                if let Some(d) = dead {
                    record("reactor_run_once(dead)", reactor_run_once(d, 0.0), Target::Dead);
                    record("reactor_stop(dead)", reactor_stop(d), Target::Dead);
                    record("reactor_free(dead)", reactor_free(d), Target::Dead);
                    let mut call = null_mut();
                    record("reactor_call_later(dead)", reactor_call_later(d, 0.0, Some(timer), null_mut(), &mut call), Target::Dead);
                    let mut out = null_mut();
                    let host = CString::new("127.0.0.1").unwrap();
                    record("reactor_connect_tcp(dead)", reactor_connect_tcp(d, host.as_ptr(), 1, 0.0, &PROTOCOL, null_mut(), &mut out), Target::Dead);
                }
                return;
            }
            40 => {
                // Garbage reactor values.
                let g = [0u64, 1, with(|w| not_ours(w, a)), (1 << 60) | (0xFF1u64 << 48) | 1, (2 << 60) | with(|w| w.slot_bits)][(b % 5) as usize];
                let s = reactor_run_once(g as usize as *mut reactor_t, 0.0);
                record("reactor_run_once(garbage)", s, Target::Garbage);
                return;
            }
            41 => {
                // Streams: garbage and freed handles.
                let g = (a as usize) as *mut tcp_stream_t;
                record("tcp_stream_close(garbage)", tcp_stream_close(if b % 2 == 0 { null_mut() } else { g }, 0.001), Target::Garbage);
                let mut s: *mut tcp_stream_t = null_mut();
                if b % 16 == 1 && tcp_stream_new(&mut s) == MARLINE_OK {
                    assert_eq!(tcp_stream_free(s), MARLINE_OK);
                    record("tcp_stream_free(freed)", tcp_stream_free(s), Target::Dead);
                    record("tcp_stream_abort(freed)", tcp_stream_abort(s), Target::Dead);
                }
                return;
            }
            42 if !in_callback && a % 16 == 0 => {
                // Stop listening on one port.
                let p = with(|w| w.ports.pop());
                if let Some(p) = p {
                    record("listening_port_stop", listening_port_stop(p), Target::Live);
                    with(|w| w.dead_ports.push(p));
                }
                return;
            }
            _ => return,
        };
        record(&format!("op {op}"), s, target);
    }
}

fn connect(reactor: *mut reactor_t, telnet: bool) {
    let (port, tport, half) = with(|w| (w.echo_port, w.telnet_port, w.rng.chance(1, 4)));
    let host = CString::new("127.0.0.1").unwrap();
    let mut out: *mut transport_t = null_mut();
    // SAFETY: valid strings, tables and out pointer.
    let s = unsafe {
        if telnet {
            reactor_connect_telnet(reactor, host.as_ptr(), tport, 5.0, &telnet_table(), null_mut(), &mut out)
        } else {
            reactor_connect_tcp(reactor, host.as_ptr(), port, 5.0, if half { &HALF_CLOSE } else { &PROTOCOL }, null_mut(), &mut out)
        }
    };
    record("reactor_connect", s, Target::Live);
    if s == MARLINE_OK {
        with(|w| {
            w.conns.entry(out as usize).or_default().telnet = telnet;
            if !w.live.contains(&out) {
                w.live.push(out);
            }
        });
    }
}

fn new_world(rng: Rng) -> World {
    let mut r: *mut reactor_t = null_mut();
    // SAFETY: a valid out pointer.
    assert_eq!(unsafe { reactor_new(&mut r) }, MARLINE_OK);
    let slot_bits = (r as usize as u64) & SLOT_MASK;
    let any = CString::new("127.0.0.1").unwrap();
    let (mut p1, mut p2): (*mut listening_port_t, *mut listening_port_t) = (null_mut(), null_mut());
    // SAFETY: valid strings, tables and out pointers.
    unsafe {
        assert_eq!(reactor_listen_tcp(r, any.as_ptr(), 0, 0, &PROTOCOL, null_mut(), &mut p1), MARLINE_OK);
        assert_eq!(reactor_listen_telnet(r, any.as_ptr(), 0, 0, &telnet_table(), null_mut(), &mut p2), MARLINE_OK);
    }
    let (mut a, mut b) = (0, 0);
    // SAFETY: valid out pointers.
    unsafe {
        assert_eq!(listening_port_get_port(p1, &mut a), MARLINE_OK);
        assert_eq!(listening_port_get_port(p2, &mut b), MARLINE_OK);
    }
    World {
        rng,
        reactor: r,
        slot_bits,
        dead_reactors: Vec::new(),
        live: Vec::new(),
        dead: Vec::new(),
        dying: Vec::new(),
        inner_of: HashMap::new(),
        ports: vec![p1, p2],
        dead_ports: Vec::new(),
        calls: Vec::new(),
        conns: HashMap::new(),
        depth: 0,
        echo_port: a,
        telnet_port: b,
        statuses: HashMap::new(),
        ops: 0,
    }
}

/// One turn of the loop; what died in it is dead afterwards.
fn turn() {
    let r = with(|w| w.reactor);
    assert_eq!(reactor_run_once(r, 0.0), MARLINE_OK);
    check_fail();
    with(|w| {
        let dying = std::mem::take(&mut w.dying);
        w.dead.extend(dying);
        if w.dead.len() > 200 {
            w.dead.drain(..100);
        }
    });
}

fn check_every_connection_ended_once(w: &World) {
    for (h, c) in &w.conns {
        assert_eq!(c.lost + c.failed, 1, "handle {h:#x}: lost {} failed {} made {} telnet {}", c.lost, c.failed, c.made, c.telnet);
        assert!(c.made <= 1);
        if c.failed == 1 {
            assert_eq!(c.made, 0, "connection_failed after connection_made");
        }
    }
}

#[test]
fn random_call_sequences_on_live_dead_and_garbage_handles() {
    let mut total_ops = 0;
    let mut statuses: HashMap<i32, u64> = HashMap::new();
    run_seeds("capi", 60, |rng| {
        W.with(|w| *w.borrow_mut() = Some(new_world(rng.clone())));
        for _ in 0..4 {
            connect(with(|w| w.reactor), false);
            connect(with(|w| w.reactor), true);
        }
        let steps = 300 + rng.below(300);
        for _ in 0..steps {
            if rng.chance(1, 3) {
                turn();
            } else {
                random_op(false);
                check_fail();
            }
            if rng.chance(1, 40) {
                connect(with(|w| w.reactor), rng.chance(1, 2));
            }
        }
        for _ in 0..5 {
            turn();
        }
        // Free the reactor with connections open: every one gets its final
        // callback before reactor_free returns; everything is stale after.
        let r = with(|w| w.reactor);
        let open = with(|w| w.live.len());
        assert_eq!(reactor_free(r), MARLINE_OK);
        check_fail();
        let world = W.with(|w| w.borrow_mut().take()).unwrap();
        check_every_connection_ended_once(&world);
        W.with(|w| *w.borrow_mut() = Some(World { dead_reactors: vec![r], ..new_world(rng.clone()) }));
        with(|w| {
            w.dead.extend(world.live.iter().copied().chain(world.dying.iter().copied()).chain(world.dead.iter().copied()));
        });
        // Every old handle is now stale, whatever its state was.
        for t in world.live.iter().chain(world.dead.iter()) {
            // SAFETY: handle values only.
            unsafe {
                assert_eq!(transport_write(*t, b"x".as_ptr(), 1), MARLINE_ERR_STALE_HANDLE);
                assert_eq!(transport_lose_connection(*t), MARLINE_ERR_STALE_HANDLE);
                assert_eq!(telnet_will(*t, 1, None, null_mut()), MARLINE_ERR_STALE_HANDLE);
            }
        }
        for p in world.ports.iter().chain(world.dead_ports.iter()) {
            assert_eq!(listening_port_stop(*p), MARLINE_ERR_STALE_HANDLE);
        }
        // The new reactor took over the old one's slot: its timer table goes
        // on from the old one's, so an old call is not active in it.
        for c in &world.calls {
            assert_eq!(delayed_call_cancel(*c), MARLINE_ERR_NOT_ACTIVE);
        }
        assert_eq!(reactor_run_once(r, 0.0), MARLINE_ERR_STALE_HANDLE);
        assert_eq!(reactor_free(r), MARLINE_ERR_STALE_HANDLE);
        // A short second life on the new reactor, poking the old handles.
        for _ in 0..100 {
            random_op(false);
            if rng.chance(1, 4) {
                turn();
            }
        }
        let r2 = with(|w| w.reactor);
        assert_eq!(reactor_free(r2), MARLINE_OK);
        check_fail();
        let w2 = W.with(|w| w.borrow_mut().take()).unwrap();
        check_every_connection_ended_once(&w2);
        total_ops += world.ops + w2.ops;
        for (k, v) in world.statuses.iter().chain(w2.statuses.iter()) {
            *statuses.entry(*k).or_default() += v;
        }
        let _ = open;
    });
    let mut s: Vec<_> = statuses.into_iter().collect();
    s.sort();
    println!("{total_ops} random calls; statuses {s:?}");
}

#[test]
fn calls_from_another_thread_are_refused_with_wrong_thread() {
    let mut r: *mut reactor_t = null_mut();
    // SAFETY: a valid out pointer.
    assert_eq!(unsafe { reactor_new(&mut r) }, MARLINE_OK);
    let any = CString::new("127.0.0.1").unwrap();
    let mut p: *mut listening_port_t = null_mut();
    // SAFETY: valid arguments.
    assert_eq!(unsafe { reactor_listen_tcp(r, any.as_ptr(), 0, 0, &PROTOCOL, null_mut(), &mut p) }, MARLINE_OK);
    let (rv, pv) = (r as usize, p as usize);
    std::thread::spawn(move || {
        let (r, p) = (rv as *mut reactor_t, pv as *mut listening_port_t);
        assert_eq!(reactor_run_once(r, 0.0), MARLINE_ERR_WRONG_THREAD);
        assert_eq!(reactor_free(r), MARLINE_ERR_WRONG_THREAD);
        assert_eq!(listening_port_stop(p), MARLINE_ERR_WRONG_THREAD);
        // The thread-safe doorway works.
        assert_eq!(reactor_stop(r), MARLINE_OK);
    })
    .join()
    .unwrap();
    assert_eq!(reactor_run(r), MARLINE_OK, "the stop requested from the other thread ends run at once");
    assert_eq!(reactor_free(r), MARLINE_OK);
}
