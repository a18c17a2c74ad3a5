//! TCP: listening, connecting, listening_port_t and the TCP option calls.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use super::address::{give_address, marline_address_t};
use super::handle::{encode, listening_port_t, object_of, reactor_t, transport_t, Kind};
use super::protocol::{marline_protocol_t, CProtocol};
use super::status::marline_status_t;
use super::{c_str, encode_transport, guard, non_null, port_number, put, reactor_of, seconds, transport_of};
use crate::error::{Error, Result};
use crate::tcp::{KeepAlive, ListenOptions, ListeningPort};
use crate::transport::Protocol;

/// Flag for reactor_listen_tcp_flags: set SO_REUSEPORT, so that reactors
/// on other threads can listen on the same address and port (each with this
/// flag) and the kernel spreads incoming connections over them.
pub const MARLINE_LISTEN_REUSEPORT: u32 = 1;

/// Listens on `interface` ("127.0.0.1", "::1", "::", "" for every IPv4
/// interface) and `port` (0 picks a free port; listening_port_get_port
/// tells which). `backlog` ≤ 0 means the system maximum. Each accepted
/// connection gets its own copy of `protocol`, and `user` as its initial
/// user pointer (connection_made may replace it with transport_set_user).
/// A port in use fails with MARLINE_ERR_ADDRESS_IN_USE, an unparsable
/// interface with MARLINE_ERR_BAD_ADDRESS, a port outside 0..65535 with
/// MARLINE_ERR_INVALID_ARGUMENT.
///
/// # Safety
/// `interface` is NULL or a NUL-terminated string; `protocol` is NULL or
/// readable (it is copied); `out` is NULL or writable.
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
/// (one reactor per thread on one port: see examples-c/echo_server_mt.c).
/// Unknown flag bits fail with MARLINE_ERR_INVALID_ARGUMENT.
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
        non_null(out)?;
        non_null(protocol)?;
        if flags & !MARLINE_LISTEN_REUSEPORT != 0 {
            return Err(Error::InvalidArgument);
        }
        let options = ListenOptions { reuse_port: flags & MARLINE_LISTEN_REUSEPORT != 0 };
        // SAFETY: forwarded contract.
        let interface = unsafe { c_str(interface) }?;
        let port = port_number(port)?;
        let r = reactor_of(reactor)?;
        // SAFETY: checked non-NULL; copied once here, shared by every
        // connection of the port.
        let table = std::rc::Rc::new(unsafe { *protocol });
        let user = user as usize;
        let lp = r.listen_tcp_with(interface, port, backlog, options, move |_| {
            Box::new(CProtocol::shared(&table, user as *mut c_void)) as Box<dyn Protocol>
        })?;
        // SAFETY: checked non-NULL.
        unsafe { put(out, encode(r.core.serial, Kind::ListeningPort, lp.handle)) };
        Ok(())
    })
}

/// Connects to `host` (a name or literal address; names resolve off the
/// loop thread) and `port`, giving up after `timeout_seconds` (≤ 0 or
/// +infinity: no limit; NaN: MARLINE_ERR_INVALID_ARGUMENT). The transport handle is written to `*out` at once; writes made
/// before the connection is up are queued. The protocol then gets
/// connection_made, or connection_failed with MARLINE_REASON_REFUSED,
/// _TIMED_OUT, _UNREACHABLE, _RESOLVE_FAILED or _CANCELLED.
///
/// # Safety
/// As for reactor_listen_tcp, with `host` for `interface`.
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
        non_null(out)?;
        non_null(protocol)?;
        // SAFETY: forwarded contract.
        let host = unsafe { c_str(host) }?;
        let port = port_number(port)?;
        let timeout = seconds(timeout_seconds)?.limit_if_positive();
        let r = reactor_of(reactor)?;
        // SAFETY: checked non-NULL.
        let p = unsafe { CProtocol::new(protocol, user) };
        let t = r.connect_tcp(host, port, timeout, Box::new(p))?;
        t.set_user_data(user as usize)?;
        // SAFETY: checked non-NULL.
        unsafe { put(out, encode_transport(&t)) };
        Ok(())
    })
}

fn port_of(p: *mut listening_port_t) -> Result<ListeningPort> {
    let (core, h) = object_of(p, Kind::ListeningPort)?;
    Ok(ListeningPort::new(&core, h))
}

/// Writes the bound address to `*out` (free with marline_address_free).
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn listening_port_get_host(p: *mut listening_port_t, out: *mut *mut marline_address_t) -> marline_status_t {
    give_address(out, || port_of(p)?.host())
}

/// Writes the bound port number to `*port`.
///
/// # Safety
/// `port` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn listening_port_get_port(p: *mut listening_port_t, port: *mut i32) -> marline_status_t {
    guard(|| {
        non_null(port)?;
        let n = match port_of(p)?.host()? {
            crate::Address::Inet(a) => a.port() as i32,
            crate::Address::Process { .. } => return Err(Error::WrongHandleType),
        };
        // SAFETY: checked non-NULL.
        unsafe { put(port, n) };
        Ok(())
    })
}

/// Stops listening and closes the port; accepted connections are left
/// alone. The handle is stale afterwards.
#[no_mangle]
pub extern "C" fn listening_port_stop(p: *mut listening_port_t) -> marline_status_t {
    guard(|| port_of(p)?.stop_listening())
}

/// Writes whether TCP_NODELAY is set (read from the socket) to `*on`.
///
/// # Safety
/// `on` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn transport_get_tcp_nodelay(t: *mut transport_t, on: *mut bool) -> marline_status_t {
    guard(|| {
        non_null(on)?;
        let v = transport_of(t)?.tcp_nodelay()?;
        // SAFETY: checked non-NULL.
        unsafe { put(on, v) };
        Ok(())
    })
}

/// Sets TCP_NODELAY (off by default).
#[no_mangle]
pub extern "C" fn transport_set_tcp_nodelay(t: *mut transport_t, on: bool) -> marline_status_t {
    guard(|| transport_of(t)?.set_tcp_nodelay(on))
}

/// Writes whether SO_KEEPALIVE is set (read from the socket) to `*on`.
///
/// # Safety
/// `on` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn transport_get_tcp_keepalive(t: *mut transport_t, on: *mut bool) -> marline_status_t {
    guard(|| {
        non_null(on)?;
        let v = transport_of(t)?.tcp_keepalive()?;
        // SAFETY: checked non-NULL.
        unsafe { put(on, v) };
        Ok(())
    })
}

/// Sets SO_KEEPALIVE (off by default).
#[no_mangle]
pub extern "C" fn transport_set_tcp_keepalive(t: *mut transport_t, on: bool) -> marline_status_t {
    guard(|| transport_of(t)?.set_tcp_keepalive(on))
}

/// Turns keepalive on with `idle_seconds` before the first probe,
/// `interval_seconds` between probes and `count` probes (all ≥ 1).
#[no_mangle]
pub extern "C" fn transport_set_tcp_keepalive_params(
    t: *mut transport_t,
    idle_seconds: i32,
    interval_seconds: i32,
    count: i32,
) -> marline_status_t {
    guard(|| {
        let positive = |v: i32| u32::try_from(v).ok().filter(|&v| v > 0).ok_or(Error::InvalidArgument);
        let k = KeepAlive {
            idle: Duration::from_secs(positive(idle_seconds)? as u64),
            interval: Duration::from_secs(positive(interval_seconds)? as u64),
            count: positive(count)?,
        };
        let tr = transport_of(t)?;
        tr.set_tcp_keepalive_params(k)?;
        tr.set_tcp_keepalive(true)
    })
}

/// Writes the keepalive timing in force (seconds, seconds, probes).
///
/// # Safety
/// Each out pointer is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn transport_get_tcp_keepalive_params(
    t: *mut transport_t,
    idle_seconds: *mut i32,
    interval_seconds: *mut i32,
    count: *mut i32,
) -> marline_status_t {
    guard(|| {
        non_null(idle_seconds)?;
        non_null(interval_seconds)?;
        non_null(count)?;
        let k = transport_of(t)?.tcp_keepalive_params()?;
        // SAFETY: all checked non-NULL.
        unsafe {
            put(idle_seconds, k.idle.as_secs() as i32);
            put(interval_seconds, k.interval.as_secs() as i32);
            put(count, k.count as i32);
        }
        Ok(())
    })
}
