//! TCP: listening, connecting, listening_port_t and the TCP option calls.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use super::address::{give_address, marline_address_t};
use super::handle::{encode, listening_port_t, object_of, reactor_t, transport_t, Kind};
use super::protocol::{marline_protocol_t, CProtocol, FirstUser};
use super::status::marline_status_t::{self, *};
use super::sized::read_sized;
use super::{encode_transport, endpoint, guard, reactor_of, seconds, transport_of, Out, CResult};
use crate::reactor::Reactor;
use crate::tcp::{KeepAlive, ListenOptions, ListeningPort};
use crate::transport::Protocol;

/// Flag for reactor_listen_tcp_flags: set SO_REUSEPORT, so that reactors
/// on other threads can listen on the same address and port (each with this
/// flag) and the kernel spreads incoming connections over them.
pub const MARLINE_LISTEN_REUSEPORT: u32 = 1;

/// Listens on `interface` ("127.0.0.1", "::1", "::", "" for every IPv4
/// interface) and `port` (0 picks a free port; listening_port_get_port tells
/// which), and writes the listening port to `*out`. `backlog` ≤ 0 means the
/// system maximum. Each accepted connection runs the callbacks of `protocol`
/// (copied once, shared by the port's connections) with `user` as its initial
/// user pointer (connection_made may replace it with transport_set_user).
///
/// Errors: MARLINE_ERR_ADDRESS_IN_USE (the port is in use),
/// MARLINE_ERR_BAD_ADDRESS (an interface that does not parse or is no address
/// of this host), MARLINE_ERR_PERMISSION_DENIED (a privileged port),
/// MARLINE_ERR_INVALID_ARGUMENT (a port outside 0..65535, an interface that is
/// not UTF-8, a table whose `size` no version had or with an entry this library
/// does not know), MARLINE_ERR_EXHAUSTED, MARLINE_ERR_OS
/// (marline_last_os_error), and the handle errors. `reactor`, `interface`,
/// `protocol` and `out` must not be NULL; `user` may be NULL (it is only passed
/// back).
///
/// # Safety
/// `interface` is a NUL-terminated string; `protocol` points to a
/// marline_protocol_t with `size` readable bytes; `out` points to a writable
/// `listening_port_t *`.
#[no_mangle]
pub unsafe extern "C" fn reactor_listen_tcp(
    reactor: *mut reactor_t,
    interface: *const c_char,
    port: i32,
    backlog: i32,
    protocol: *const marline_protocol_t,
    user: *mut c_void,
    out: *mut *mut listening_port_t,
) -> marline_status_t {
    // SAFETY: forwarded contract.
    unsafe { reactor_listen_tcp_flags(reactor, interface, port, backlog, 0, protocol, user, out) }
}

/// As reactor_listen_tcp, with `flags`: 0 or MARLINE_LISTEN_REUSEPORT
/// (SO_REUSEPORT: one reactor per thread on one port, the kernel spreads the
/// connections; see examples-c/echo_server_mt.c).
///
/// Errors: as reactor_listen_tcp, and MARLINE_ERR_INVALID_ARGUMENT for unknown
/// flag bits. `reactor`, `interface`, `protocol` and `out` must not be NULL;
/// `user` may be NULL.
///
/// # Safety
/// As for reactor_listen_tcp.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn reactor_listen_tcp_flags(
    reactor: *mut reactor_t,
    interface: *const c_char,
    port: i32,
    backlog: i32,
    flags: u32,
    protocol: *const marline_protocol_t,
    user: *mut c_void,
    out: *mut *mut listening_port_t,
) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let out = unsafe { Out::new(out) }?;
        // SAFETY: forwarded contract; the table is copied.
        let table = unsafe { read_sized(protocol) }?;
        if flags & !MARLINE_LISTEN_REUSEPORT != 0 {
            return Err(MARLINE_ERR_INVALID_ARGUMENT.into());
        }
        let options = ListenOptions { reuse_port: flags & MARLINE_LISTEN_REUSEPORT != 0 };
        // SAFETY: forwarded contract.
        let (interface, port) = unsafe { endpoint(interface, port) }?;
        let r = reactor_of(reactor)?;
        let table = std::rc::Rc::new(table);
        let user = user as usize;
        let lp = r.listen_tcp_with(interface, port, backlog, options, move |_| {
            Box::new(CProtocol::new(&table, FirstUser::accepted(user as *mut c_void))) as Box<dyn Protocol>
        })?;
        out.write(port_handle(&r, &lp));
        Ok(())
    })
}

/// Connects to `host` (a name or literal address; names resolve off the loop
/// thread) and `port`, giving up after `timeout_seconds` (≤ 0 or +infinity: no
/// limit). The transport handle is written to `*out` at once, with `user` as
/// its user pointer; writes made before the connection is up are queued. The
/// protocol (copied) then gets connection_made, or connection_failed with
/// MARLINE_REASON_REFUSED, _TIMED_OUT, _UNREACHABLE, _RESOLVE_FAILED or
/// _CANCELLED: failures to connect come through the callback, not the status.
///
/// Errors: MARLINE_ERR_BAD_ADDRESS (an empty host),
/// MARLINE_ERR_INVALID_ARGUMENT (a NaN timeout, a port outside 0..65535, a host
/// that is not UTF-8, a table whose `size` no version had or with an entry this
/// library does not know), MARLINE_ERR_EXHAUSTED, MARLINE_ERR_OS (no socket:
/// marline_last_os_error), and the handle errors. `reactor`, `host`, `protocol`
/// and `out` must not be NULL; `user` may be NULL (it is only passed back).
///
/// # Safety
/// `host` is a NUL-terminated string; `protocol` points to a marline_protocol_t
/// with `size` readable bytes; `out` points to a writable `transport_t *`.
#[no_mangle]
pub unsafe extern "C" fn reactor_connect_tcp(
    reactor: *mut reactor_t,
    host: *const c_char,
    port: i32,
    timeout_seconds: f64,
    protocol: *const marline_protocol_t,
    user: *mut c_void,
    out: *mut *mut transport_t,
) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let out = unsafe { Out::new(out) }?;
        // SAFETY: forwarded contract; the table is copied.
        let table = unsafe { read_sized(protocol) }?;
        // SAFETY: forwarded contract.
        let (host, port) = unsafe { endpoint(host, port) }?;
        let timeout = seconds(timeout_seconds)?.limit_if_positive();
        let r = reactor_of(reactor)?;
        let table = std::rc::Rc::new(table);
        let t = r.connect_tcp(host, port, timeout, Box::new(CProtocol::new(&table, FirstUser::none())))?;
        t.set_user_data(user as usize)?;
        out.write(encode_transport(&t));
        Ok(())
    })
}

/// The C handle of listening port `lp` of reactor `r`.
pub(crate) fn port_handle(r: &Reactor, lp: &ListeningPort) -> *mut listening_port_t {
    encode(r.core.serial, Kind::ListeningPort, lp.handle)
}

fn port_of(p: *mut listening_port_t) -> CResult<ListeningPort> {
    let (core, h) = object_of(p, Kind::ListeningPort)?;
    Ok(ListeningPort::new(&core, h))
}

/// Writes the address the port is bound to to `*out`, allocated: free it with
/// marline_address_free.
///
/// Errors: only the handle errors (MARLINE_ERR_STALE_HANDLE after
/// listening_port_stop). `p` and `out` must not be NULL.
///
/// # Safety
/// `out` points to a writable `marline_address_t *`.
#[no_mangle]
pub unsafe extern "C" fn listening_port_get_host(p: *mut listening_port_t, out: *mut *mut marline_address_t) -> marline_status_t {
    give_address(out, || Ok(port_of(p)?.host()?))
}

/// Writes the port number the port is bound to to `*port` (the one the system
/// picked for port 0).
///
/// Errors: only the handle errors (MARLINE_ERR_STALE_HANDLE after
/// listening_port_stop). `p` and `port` must not be NULL.
///
/// # Safety
/// `port` points to a writable `int32_t`.
#[no_mangle]
pub unsafe extern "C" fn listening_port_get_port(p: *mut listening_port_t, port: *mut i32) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let port = unsafe { Out::new(port) }?;
        let n = match port_of(p)?.host()? {
            crate::Address::Inet(a) => a.port() as i32,
            crate::Address::Process { .. } => return Err(MARLINE_ERR_WRONG_HANDLE_TYPE.into()),
        };
        port.write(n);
        Ok(())
    })
}

/// Stops listening and closes the port; connections it accepted are left alone.
/// The handle is stale afterwards.
///
/// Errors: only the handle errors (MARLINE_ERR_STALE_HANDLE when it was stopped
/// already). `p` must not be NULL.
#[no_mangle]
pub extern "C" fn listening_port_stop(p: *mut listening_port_t) -> marline_status_t {
    guard(|| Ok(port_of(p)?.stop_listening()?))
}

/// Writes whether TCP_NODELAY is set on the transport's socket (read from the
/// socket) to `*on`.
///
/// Errors: MARLINE_ERR_NOT_SUPPORTED (not a TCP transport),
/// MARLINE_ERR_NOT_CONNECTED (still connecting), and the handle errors. `t` and
/// `on` must not be NULL.
///
/// # Safety
/// `on` points to a writable `bool`.
#[no_mangle]
pub unsafe extern "C" fn transport_get_tcp_nodelay(t: *mut transport_t, on: *mut bool) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let on = unsafe { Out::new(on) }?;
        let v = transport_of(t)?.tcp_nodelay()?;
        on.write(v);
        Ok(())
    })
}

/// Sets or clears TCP_NODELAY on the transport's socket (off by default): small
/// writes are sent at once instead of waiting to coalesce.
///
/// Errors: MARLINE_ERR_NOT_SUPPORTED (not a TCP transport),
/// MARLINE_ERR_NOT_CONNECTED (still connecting), and the handle errors. `t`
/// must not be NULL.
#[no_mangle]
pub extern "C" fn transport_set_tcp_nodelay(t: *mut transport_t, on: bool) -> marline_status_t {
    guard(|| Ok(transport_of(t)?.set_tcp_nodelay(on)?))
}

/// Writes whether SO_KEEPALIVE is set on the transport's socket (read from the
/// socket) to `*on`.
///
/// Errors: MARLINE_ERR_NOT_SUPPORTED (not a TCP transport),
/// MARLINE_ERR_NOT_CONNECTED (still connecting), and the handle errors. `t` and
/// `on` must not be NULL.
///
/// # Safety
/// `on` points to a writable `bool`.
#[no_mangle]
pub unsafe extern "C" fn transport_get_tcp_keepalive(t: *mut transport_t, on: *mut bool) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let on = unsafe { Out::new(on) }?;
        let v = transport_of(t)?.tcp_keepalive()?;
        on.write(v);
        Ok(())
    })
}

/// Sets or clears SO_KEEPALIVE on the transport's socket (off by default), with
/// the timing in force (transport_set_tcp_keepalive_params).
///
/// Errors: MARLINE_ERR_NOT_SUPPORTED (not a TCP transport),
/// MARLINE_ERR_NOT_CONNECTED (still connecting), and the handle errors. `t`
/// must not be NULL.
#[no_mangle]
pub extern "C" fn transport_set_tcp_keepalive(t: *mut transport_t, on: bool) -> marline_status_t {
    guard(|| Ok(transport_of(t)?.set_tcp_keepalive(on)?))
}

/// Turns keepalive on with `idle_seconds` before the first probe,
/// `interval_seconds` between probes and `count` probes before the connection
/// is dropped.
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (a value below 1),
/// MARLINE_ERR_NOT_SUPPORTED (not a TCP transport), MARLINE_ERR_NOT_CONNECTED
/// (still connecting), and the handle errors. `t` must not be NULL.
#[no_mangle]
pub extern "C" fn transport_set_tcp_keepalive_params(
    t: *mut transport_t,
    idle_seconds: i32,
    interval_seconds: i32,
    count: i32,
) -> marline_status_t {
    guard(|| {
        let positive = |v: i32| u32::try_from(v).ok().filter(|&v| v > 0).ok_or(MARLINE_ERR_INVALID_ARGUMENT);
        let k = KeepAlive {
            idle: Duration::from_secs(positive(idle_seconds)? as u64),
            interval: Duration::from_secs(positive(interval_seconds)? as u64),
            count: positive(count)?,
        };
        let tr = transport_of(t)?;
        tr.set_tcp_keepalive_params(k)?;
        Ok(tr.set_tcp_keepalive(true)?)
    })
}

/// Writes the keepalive timing in force on the transport's socket: seconds
/// before the first probe, seconds between probes, and the number of probes.
///
/// Errors: MARLINE_ERR_NOT_SUPPORTED (not a TCP transport),
/// MARLINE_ERR_NOT_CONNECTED (still connecting), and the handle errors. `t`,
/// `idle_seconds`, `interval_seconds` and `count` must not be NULL.
///
/// # Safety
/// `idle_seconds`, `interval_seconds` and `count` point to writable `int32_t`s.
#[no_mangle]
pub unsafe extern "C" fn transport_get_tcp_keepalive_params(
    t: *mut transport_t,
    idle_seconds: *mut i32,
    interval_seconds: *mut i32,
    count: *mut i32,
) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let idle_seconds = unsafe { Out::new(idle_seconds) }?;
        // SAFETY: forwarded contract.
        let interval_seconds = unsafe { Out::new(interval_seconds) }?;
        // SAFETY: forwarded contract.
        let count = unsafe { Out::new(count) }?;
        let k = transport_of(t)?.tcp_keepalive_params()?;
        idle_seconds.write(k.idle.as_secs() as i32);
        interval_seconds.write(k.interval.as_secs() as i32);
        count.write(k.count as i32);
        Ok(())
    })
}
