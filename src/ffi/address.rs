//! Addresses returned by transport_get_host / transport_get_peer.

use std::ffi::{c_char, CString};

use super::status::marline_status_t::{self, MARLINE_ERR_BUFFER_TOO_SMALL, MARLINE_ERR_NULL_POINTER};
use super::{guard, non_null, with_out, CResult, Out};
use crate::transport::Address;

/// An endpoint address, allocated by marline; free it with
/// marline_address_free.
///
/// Methods: marline_address_family, marline_address_port,
/// marline_address_bytes, marline_address_string, marline_address_free.
pub struct marline_address_t {
    address: Address,
    text: CString,
}

/// Address families. Numbers are stable.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum marline_family_t {
    /// The pointer was NULL.
    MARLINE_FAMILY_INVALID = -1,
    MARLINE_FAMILY_IPV4 = 4,
    MARLINE_FAMILY_IPV6 = 6,
    /// A process transport: no socket address; marline_address_port gives
    /// the pid.
    MARLINE_FAMILY_PROCESS = 100,
}

/// Writes the address `get` returns to `*out`, allocated (the caller frees
/// it with marline_address_free).
///
/// # Safety
/// `out` is NULL or writable.
pub(crate) unsafe fn give_address(out: *mut *mut marline_address_t, get: impl FnOnce() -> CResult<Address>) -> marline_status_t {
    // SAFETY: forwarded contract.
    unsafe {
        with_out(out, || {
            let address = get()?;
            let text = CString::new(address.to_string()).expect("addresses print without NUL");
            Ok(Box::into_raw(Box::new(marline_address_t { address, text })))
        })
    }
}

/// # Safety
/// `a` is NULL or a live address from marline.
unsafe fn addr<'a>(a: *const marline_address_t) -> Option<&'a marline_address_t> {
    // SAFETY: caller contract.
    unsafe { a.as_ref() }
}

/// The family of `address`: MARLINE_FAMILY_IPV4, _IPV6 or _PROCESS. Never
/// fails. `address` may be NULL: MARLINE_FAMILY_INVALID.
///
/// # Safety
/// `address`, when not NULL, is a live address from marline.
#[no_mangle]
pub unsafe extern "C" fn marline_address_family(address: *const marline_address_t) -> marline_family_t {
    // SAFETY: forwarded contract.
    match unsafe { addr(address) }.map(|a| a.address) {
        None => marline_family_t::MARLINE_FAMILY_INVALID,
        Some(Address::Inet(s)) if s.is_ipv4() => marline_family_t::MARLINE_FAMILY_IPV4,
        Some(Address::Inet(_)) => marline_family_t::MARLINE_FAMILY_IPV6,
        Some(Address::Process { .. }) => marline_family_t::MARLINE_FAMILY_PROCESS,
    }
}

/// The port of `address` (the pid for a process address). Never fails.
/// `address` may be NULL: -1.
///
/// # Safety
/// As for marline_address_family.
#[no_mangle]
pub unsafe extern "C" fn marline_address_port(address: *const marline_address_t) -> i64 {
    // SAFETY: forwarded contract.
    match unsafe { addr(address) }.map(|a| a.address) {
        None => -1,
        Some(Address::Inet(s)) => s.port() as i64,
        Some(Address::Process { pid }) => pid as i64,
    }
}

/// Copies the raw address bytes (4 for IPv4, 16 for IPv6, none for a process)
/// into `out`, whose capacity is `cap` bytes, and writes their number to
/// `*len`. Nothing is written on failure.
///
/// Errors: MARLINE_ERR_BUFFER_TOO_SMALL (`cap` below the number of bytes),
/// MARLINE_ERR_NULL_POINTER. `address` and `len` must not be NULL; `out` may be
/// NULL only when there are no bytes to copy (a process address).
///
/// # Safety
/// `address` is a live address from marline; `out` has `cap` writable bytes;
/// `len` points to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn marline_address_bytes(
    address: *const marline_address_t,
    out: *mut u8,
    cap: usize,
    len: *mut usize,
) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let len = unsafe { Out::new(len) }?;
        // SAFETY: forwarded contract.
        let a = unsafe { addr(address) }.ok_or(MARLINE_ERR_NULL_POINTER)?;
        let bytes: Vec<u8> = match a.address {
            Address::Inet(std::net::SocketAddr::V4(s)) => s.ip().octets().to_vec(),
            Address::Inet(std::net::SocketAddr::V6(s)) => s.ip().octets().to_vec(),
            Address::Process { .. } => Vec::new(),
        };
        if bytes.len() > cap {
            return Err(MARLINE_ERR_BUFFER_TOO_SMALL.into());
        }
        if !bytes.is_empty() {
            non_null(out)?;
            // SAFETY: out has cap >= bytes.len() writable bytes.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), out, bytes.len()) };
        }
        len.write(bytes.len());
        Ok(())
    })
}

/// The printable form of `address` ("127.0.0.1:8080", "[::1]:8080", "process
/// 1234"), NUL-terminated, valid until the address is freed. Never fails.
/// `address` may be NULL: "".
///
/// # Safety
/// As for marline_address_family.
#[no_mangle]
pub unsafe extern "C" fn marline_address_string(address: *const marline_address_t) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { addr(address) }.map_or(c"".as_ptr(), |a| a.text.as_ptr())
}

/// Frees an address that marline allocated (transport_get_host,
/// transport_get_peer, listening_port_get_host, tcp_stream_get_sock_name).
/// Never fails. `address` may be NULL: nothing happens.
///
/// # Safety
/// `address`, when not NULL, is an address from marline not yet freed.
#[no_mangle]
pub unsafe extern "C" fn marline_address_free(address: *mut marline_address_t) {
    if !address.is_null() {
        // SAFETY: it came from Box::into_raw in `give` and is freed once.
        drop(unsafe { Box::from_raw(address) });
    }
}
