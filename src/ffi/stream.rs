//! Blocking MacTCP-style streams: tcp_stream_t, its notification routine,
//! its status record and the constants MacTCP programs know.
//!
//! Stream handles are not bound to a reactor or a thread: they live in one
//! process-wide generation-checked table, so a freed handle is detected.

use std::ffi::{c_char, c_void};
use std::sync::{Arc, Mutex, MutexGuard};

use super::address::{give_address, marline_address_t};
use super::handle::{decode_stream, encode_stream};
use super::status::marline_status_t::{self, *};
use super::{c_str, guard, non_null, seconds, Out, CResult};
use crate::reactor::handles::{Handle, HandleTable, Limits};
use crate::stream::{Event, Status, TcpStream, UlpAction};
use crate::transport::Address;

/// A blocking TCP stream in the style of MacTCP. Created by tcp_stream_new,
/// freed by tcp_stream_free; a freed handle is detected (every call then
/// returns MARLINE_ERR_STALE_HANDLE). Not bound to a thread: it may be used
/// from any thread. One receive (tcp_stream_rcv) and one send
/// (tcp_stream_send or tcp_stream_close) may be in progress at once, from
/// two threads; a second call of the same kind, or a receive, send, close
/// or open during tcp_stream_active_open, fails with
/// MARLINE_ERR_STREAM_BUSY.
/// tcp_stream_abort ends whatever is in progress; tcp_stream_free cancels
/// it. Each stream has two threads of its own: an engine thread that owns
/// the socket, and an asr thread on which its notification routine (asr)
/// runs.
///
/// "It is safe to do further calls from the asr" (MacTCP): every call
/// works inside the asr as it does elsewhere. A blocking call there blocks
/// the asr (notifications that come meanwhile are delivered after it
/// returns, in order) but never the stream: tcp_stream_abort from the asr
/// has taken effect when it returns, and tcp_stream_free from another
/// thread ends a call the asr is blocked in (MARLINE_ERR_STALE_HANDLE).
///
/// Methods: tcp_stream_new, tcp_stream_free, tcp_stream_set_asr,
/// tcp_stream_passive_open_on, tcp_stream_passive_open, tcp_stream_wait,
/// tcp_stream_isdone, tcp_stream_get_sock_name, tcp_stream_active_open,
/// tcp_stream_send, tcp_stream_rcv, tcp_stream_close, tcp_stream_abort,
/// tcp_stream_status, tcp_stream_set_ulp_timeout.
pub struct tcp_stream_t {
    _private: [u8; 0],
}

/// Events given to the notification routine (MacTCP's numbers).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tcp_stream_event_t {
    /// The peer has closed and all its data has been read.
    TCP_STREAM_EVENT_CLOSING = 1,
    /// tcp_stream_close's time limit passed with data unacknowledged, or
    /// the ULP timeout did with TCP_STREAM_ULP_REPORT (the connection goes
    /// on); detail 0.
    TCP_STREAM_EVENT_ULP_TIMEOUT = 2,
    /// The connection is gone; detail is a TCP_STREAM_REASON_* value.
    TCP_STREAM_EVENT_TERMINATE = 3,
    /// Data came while no tcp_stream_rcv was waiting (sent once, then not
    /// again until the next tcp_stream_rcv).
    TCP_STREAM_EVENT_DATA_ARRIVAL = 4,
    /// Urgent data came (once per urgent mark).
    TCP_STREAM_EVENT_URGENT = 5,
    /// An ICMP error came for the established connection (a router said
    /// host or network unreachable, for example); detail is the errno it
    /// stands for (EHOSTUNREACH, ENETUNREACH, …). As in MacTCP the stream
    /// stays open: TCP goes on retransmitting, and the connection ends
    /// only if the peer stays unreachable until it times out (then
    /// TERMINATE with TCP_STREAM_REASON_NETWORK_FAILURE).
    TCP_STREAM_EVENT_ICMP_RECEIVED = 6,
    /// The passive open completed: detail 0 on success, -1 on failure
    /// (tcp_stream_wait reports which).
    TCP_STREAM_EVENT_PASSIVE_OPEN_DONE = 32766,
}

impl From<Event> for tcp_stream_event_t {
    fn from(e: Event) -> tcp_stream_event_t {
        use tcp_stream_event_t::*;
        match e {
            Event::Closing => TCP_STREAM_EVENT_CLOSING,
            Event::UlpTimeout => TCP_STREAM_EVENT_ULP_TIMEOUT,
            Event::Terminate => TCP_STREAM_EVENT_TERMINATE,
            Event::DataArrival => TCP_STREAM_EVENT_DATA_ARRIVAL,
            Event::Urgent => TCP_STREAM_EVENT_URGENT,
            Event::IcmpReceived => TCP_STREAM_EVENT_ICMP_RECEIVED,
            Event::PassiveOpenDone => TCP_STREAM_EVENT_PASSIVE_OPEN_DONE,
        }
    }
}

/// Terminate reason: the peer reset or refused the connection.
pub const TCP_STREAM_REASON_REMOTE_ABORT: i32 = 2;
/// Terminate reason: the network failed (unreachable, timed out).
pub const TCP_STREAM_REASON_NETWORK_FAILURE: i32 = 3;
/// Terminate reason: an active open's time limit passed, or data stayed
/// unacknowledged past the ULP timeout with TCP_STREAM_ULP_ABORT.
pub const TCP_STREAM_REASON_ULP_TIMEOUT: i32 = 5;
/// Terminate reason: tcp_stream_abort was called.
pub const TCP_STREAM_REASON_ULP_ABORT: i32 = 6;
/// Terminate reason: both sides closed and everything was delivered.
pub const TCP_STREAM_REASON_ULP_CLOSE: i32 = 7;
/// Terminate reason: an internal or system failure.
pub const TCP_STREAM_REASON_SERVICE_ERROR: i32 = 8;

/// Connection state (tcp_stream_status_t.state): no connection.
pub const TCP_STREAM_STATE_CLOSED: i32 = 0;
/// Connection state: listening (not reported by tcp_stream_status, which
/// fails with MARLINE_ERR_PASSIVE_OPEN_IN_PROGRESS during a passive open).
pub const TCP_STREAM_STATE_LISTEN: i32 = 2;
/// Connection state: a connection request was received and answered.
pub const TCP_STREAM_STATE_SYN_RECEIVED: i32 = 4;
/// Connection state: a connection request was sent.
pub const TCP_STREAM_STATE_SYN_SENT: i32 = 6;
/// Connection state: open: data flows both ways.
pub const TCP_STREAM_STATE_ESTABLISHED: i32 = 8;
/// Connection state: we closed; our FIN is not yet acknowledged.
pub const TCP_STREAM_STATE_FIN_WAIT_1: i32 = 10;
/// Connection state: we closed and our FIN is acknowledged; the peer has not closed.
pub const TCP_STREAM_STATE_FIN_WAIT_2: i32 = 12;
/// Connection state: both sides closed at once; our FIN is not yet acknowledged.
pub const TCP_STREAM_STATE_CLOSING: i32 = 16;
/// Connection state: the peer has closed; we may still send.
pub const TCP_STREAM_STATE_CLOSE_WAIT: i32 = 18;
/// Connection state: both sides closed; waiting for stray segments.
pub const TCP_STREAM_STATE_TIME_WAIT: i32 = 20;
/// Connection state: the peer closed, then we did; our FIN is not yet acknowledged.
pub const TCP_STREAM_STATE_LAST_ACK: i32 = 22;

/// A notification routine: receives the stream, the event, its detail
/// (a TCP_STREAM_REASON_* for TERMINATE, see each event otherwise) and the
/// user pointer given to tcp_stream_set_asr. It runs on the stream's asr
/// thread, one notification at a time in the order they happened, never
/// concurrently with another call of it for the same stream, and never
/// after tcp_stream_free has returned. It may call any tcp_stream_*
/// function, on its own stream too. Events that happen while no routine is
/// set are dropped.
pub type tcp_stream_asr_t =
    Option<unsafe extern "C" fn(stream: *mut tcp_stream_t, event: tcp_stream_event_t, detail: i32, user: *mut c_void)>;

/// A stream's status record, filled by tcp_stream_status.
///
/// ABI rule: set `size` to sizeof(tcp_stream_status_t) before the call.
/// marline fills at most `size` bytes and sets `size` to the number it
/// filled, so a program built against an older (smaller) or newer (larger)
/// version of this struct keeps working: new fields are only ever
/// appended. Fields beyond the returned `size` were not written.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tcp_stream_status_t {
    /// In: sizeof(tcp_stream_status_t). Out: bytes filled.
    pub size: usize,
    /// A TCP_STREAM_STATE_* value.
    pub state: i32,
    /// 4 or 6 (MARLINE_FAMILY_IPV4/IPV6); 0 with no connection.
    pub family: i32,
    /// Local address bytes (4 used for IPv4, 16 for IPv6).
    pub local_host: [u8; 16],
    /// Remote address bytes.
    pub remote_host: [u8; 16],
    pub local_port: u16,
    pub remote_port: u16,
    /// IP type of service (IPv4) or traffic class (IPv6).
    pub tos: u32,
    /// The peer's advertised receive window, in bytes.
    pub send_window: u32,
    /// Our advertised receive window, in bytes.
    pub receive_window: u32,
    /// Bytes sent and not yet acknowledged (SIOCOUTQ; counts our FIN).
    pub unacked_bytes: u32,
    /// Bytes received and not yet read (SIOCINQ).
    pub unread_bytes: u32,
    /// Congestion window, in segments.
    pub congestion_window: u32,
    /// Smoothed round-trip time, microseconds.
    pub smoothed_rtt_us: u32,
    /// Round-trip time variance, microseconds.
    pub rtt_variance_us: u32,
    /// Smallest round-trip time seen, microseconds (Linux keeps no "last
    /// RTT" sample).
    pub min_rtt_us: u32,
    /// Maximum segment size for sending.
    pub max_segment_size: u32,
    /// Send progress: bytes sent (retransmissions included), the send
    /// sequence number relative to the initial one.
    pub bytes_sent: u64,
    /// Send progress: bytes the peer acknowledged: our data, and our FIN
    /// as one. The SYN is not counted, after an active open as after a
    /// passive one.
    pub bytes_acked: u64,
    /// Receive progress: bytes received in order, the receive sequence
    /// number relative to the peer's initial one (the peer's FIN counts
    /// as one, as a sequence number does).
    pub bytes_received: u64,
}

/// The least `size` tcp_stream_status accepts: `size` and `state`.
const STATUS_MIN_SIZE: usize = std::mem::offset_of!(tcp_stream_status_t, state) + 4;

fn to_c(s: &Status) -> tcp_stream_status_t {
    // SAFETY: every field is an integer or an integer array: all-zero is
    // valid, and padding bytes are zero too (they are copied to C).
    let mut c: tcp_stream_status_t = unsafe { std::mem::zeroed() };
    c.size = std::mem::size_of::<tcp_stream_status_t>();
    c.state = s.state as i32;
    let put_addr = |a: Option<std::net::SocketAddr>, host: &mut [u8; 16], port: &mut u16| -> i32 {
        match a {
            Some(std::net::SocketAddr::V4(a)) => {
                host[..4].copy_from_slice(&a.ip().octets());
                *port = a.port();
                4
            }
            Some(std::net::SocketAddr::V6(a)) => {
                host.copy_from_slice(&a.ip().octets());
                *port = a.port();
                6
            }
            None => 0,
        }
    };
    c.family = put_addr(s.local, &mut c.local_host, &mut c.local_port);
    put_addr(s.remote, &mut c.remote_host, &mut c.remote_port);
    c.tos = s.tos as u32;
    c.send_window = s.send_window;
    c.receive_window = s.receive_window;
    c.unacked_bytes = s.unacked_bytes;
    c.unread_bytes = s.unread_bytes;
    c.congestion_window = s.congestion_window;
    c.smoothed_rtt_us = s.smoothed_rtt_us;
    c.rtt_variance_us = s.rtt_variance_us;
    c.min_rtt_us = s.min_rtt_us;
    c.max_segment_size = s.max_segment_size;
    c.bytes_sent = s.bytes_sent;
    c.bytes_acked = s.bytes_acked;
    c.bytes_received = s.bytes_received;
    c
}

/// Every live stream of the process.
static STREAMS: Mutex<HandleTable<Arc<TcpStream>>> = Mutex::new(HandleTable::new(Limits::FULL));

fn table() -> MutexGuard<'static, HandleTable<Arc<TcpStream>>> {
    STREAMS.lock().unwrap_or_else(|e| e.into_inner())
}

fn encode(h: Handle) -> *mut tcp_stream_t {
    encode_stream(h)
}

fn decode(p: *const tcp_stream_t) -> CResult<Handle> {
    decode_stream(p)
}

/// Test hooks (see ffi::testing).
pub(crate) fn restrict_table(new_slots: u32, last_generation: u32) {
    table().restrict(new_slots, last_generation);
}

pub(crate) fn lift_table_restriction() {
    table().lift_restriction(Limits::FULL);
}

fn stream_of(p: *const tcp_stream_t) -> CResult<Arc<TcpStream>> {
    let h = decode(p)?;
    table().get(h).cloned().ok_or_else(|| MARLINE_ERR_STALE_HANDLE.into())
}

/// Creates a stream with no connection (its engine and asr threads start) and
/// writes its handle to `*out`.
///
/// Errors: MARLINE_ERR_EXHAUSTED (no stream handle is left: 2^20 streams live
/// at once, or 2^48 created over the process's life), MARLINE_ERR_OS (a thread
/// or socket could not be made: marline_last_os_error),
/// MARLINE_ERR_NULL_POINTER. `out` must not be NULL.
///
/// # Safety
/// `out` points to a writable `tcp_stream_t *`.
#[no_mangle]
pub unsafe extern "C" fn tcp_stream_new(out: *mut *mut tcp_stream_t) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let out = unsafe { Out::new(out) }?;
        let stream = Arc::new(TcpStream::new()?);
        let h = table().insert(stream)?;
        out.write(encode(h));
        Ok(())
    })
}

/// Frees a stream: a pending passive open is cancelled, a connection is closed
/// (as close(2) does: FIN, or RST if data was left unread), a call blocked in
/// another thread or in the asr returns MARLINE_ERR_STALE_HANDLE, and no asr
/// runs once this returns: it waits for a running one to return (so an asr must
/// not wait for the thread that frees its stream). From inside the stream's own
/// asr it returns once the connection is closed, without waiting for that asr
/// (its caller); no further asr follows. The handle is stale afterwards.
///
/// Errors: only the handle errors (MARLINE_ERR_STALE_HANDLE when it was freed
/// already). `stream` must not be NULL.
#[no_mangle]
pub extern "C" fn tcp_stream_free(stream: *mut tcp_stream_t) -> marline_status_t {
    guard(|| {
        let h = decode(stream)?;
        let s = table().remove(h).ok_or(MARLINE_ERR_STALE_HANDLE)?;
        s.free();
        drop(s);
        Ok(())
    })
}

/// Sets the notification routine `asr` and the `user` pointer it receives; NULL
/// removes the routine. A call of the old routine that is running when it is
/// replaced goes on to its end with the old user pointer: this call does not
/// wait for it (tcp_stream_free does). Works from inside the asr.
///
/// Errors: only the handle errors (MARLINE_ERR_STALE_HANDLE once freed).
/// `stream` must not be NULL; `asr` may be NULL (no routine); `user` may be
/// NULL (it is only passed back).
///
/// # Safety
/// `asr`, when not NULL, must be callable from the stream's asr thread with
/// `user` until it is replaced or the stream is freed.
#[no_mangle]
pub unsafe extern "C" fn tcp_stream_set_asr(stream: *mut tcp_stream_t, asr: tcp_stream_asr_t, user: *mut c_void) -> marline_status_t {
    guard(|| {
        let s = stream_of(stream)?;
        let routine = asr.map(|f| {
            let (handle, user) = (stream as usize, user as usize);
            Box::new(move |event: Event, detail: i32| {
                // SAFETY: the caller promised `f` may be called with `user`.
                unsafe { f(handle as *mut tcp_stream_t, event.into(), detail, user as *mut c_void) }
            }) as crate::stream::Asr
        });
        Ok(s.set_asr(routine)?)
    })
}

/// Waits for one incoming connection on `port` of every IPv4 interface:
/// tcp_stream_passive_open_on with interface "0.0.0.0". Prefer
/// tcp_stream_passive_open_on with "127.0.0.1" or "::1" when only this host
/// should connect.
///
/// Errors: as tcp_stream_passive_open_on (MARLINE_ERR_ADDRESS_IN_USE,
/// MARLINE_ERR_INVALID_ARGUMENT, MARLINE_ERR_INVALID_STATE, …), and the handle
/// errors. `stream` must not be NULL.
#[no_mangle]
pub extern "C" fn tcp_stream_passive_open(stream: *mut tcp_stream_t, port_number: i32) -> marline_status_t {
    guard(|| Ok(stream_of(stream)?.passive_open(super::port_number(port_number)?)?))
}

/// Waits for one incoming connection on `interface` and `port`. `interface` is
/// a literal address of this host: "127.0.0.1" or "::1" (this host only),
/// "0.0.0.0" or "" (every IPv4 interface), "::" (every interface), or another
/// local address. `port` 0 picks a free port (tcp_stream_get_sock_name tells
/// which). Returns at once. Until the open completes only tcp_stream_wait,
/// tcp_stream_isdone and tcp_stream_get_sock_name work; other calls fail with
/// MARLINE_ERR_PASSIVE_OPEN_IN_PROGRESS. The asr then gets
/// TCP_STREAM_EVENT_PASSIVE_OPEN_DONE.
///
/// Errors: MARLINE_ERR_ADDRESS_IN_USE (the port is in use),
/// MARLINE_ERR_BAD_ADDRESS (an interface that does not parse or is no address
/// of this host), MARLINE_ERR_INVALID_ARGUMENT (a port outside 0..65535, an
/// interface that is not UTF-8), MARLINE_ERR_INVALID_STATE (the stream has a
/// connection or an open pending), MARLINE_ERR_PERMISSION_DENIED,
/// MARLINE_ERR_OS, and the handle errors. `stream` and `interface` must not be
/// NULL.
///
/// # Safety
/// `interface` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn tcp_stream_passive_open_on(stream: *mut tcp_stream_t, interface: *const c_char, port_number: i32) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let interface = unsafe { c_str(interface) }?;
        let local = crate::tcp::parse_interface(interface, super::port_number(port_number)?)?;
        Ok(stream_of(stream)?.passive_open_on(local)?)
    })
}

/// Blocks until the passive open completes, or `timeout_seconds` pass (0: no
/// limit), then the open goes on. A failed passive open is reported by the
/// first wait after it, with the failure's status; with nothing pending and
/// nothing to report, returns MARLINE_OK at once.
///
/// Errors: MARLINE_ERR_TIMED_OUT (the time passed),
/// MARLINE_ERR_INVALID_ARGUMENT (a negative, infinite or NaN timeout), the
/// status of a failed open (MARLINE_ERR_OS with marline_last_os_error, for
/// example), and the handle errors. `stream` must not be NULL.
#[no_mangle]
pub extern "C" fn tcp_stream_wait(stream: *mut tcp_stream_t, timeout_seconds: f64) -> marline_status_t {
    guard(|| {
        let t = seconds(timeout_seconds)?.limit()?;
        Ok(stream_of(stream)?.wait(t)?)
    })
}

/// Writes false to `*done` while a passive open is in progress, else true (also
/// when it failed: tcp_stream_wait reports how).
///
/// Errors: only the handle errors (MARLINE_ERR_STALE_HANDLE once freed).
/// `stream` and `done` must not be NULL.
///
/// # Safety
/// `done` points to a writable `bool`.
#[no_mangle]
pub unsafe extern "C" fn tcp_stream_isdone(stream: *mut tcp_stream_t, done: *mut bool) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let done = unsafe { Out::new(done) }?;
        let d = stream_of(stream)?.is_done();
        done.write(d);
        Ok(())
    })
}

/// Writes this side's address to `*out`, allocated (free it with
/// marline_address_free): during a passive open the listening address (for
/// example 127.0.0.1:port), then the connection's.
///
/// Errors: MARLINE_ERR_NOT_CONNECTED (before any open), and the handle errors.
/// `stream` and `out` must not be NULL.
///
/// # Safety
/// `out` points to a writable `marline_address_t *`.
#[no_mangle]
pub unsafe extern "C" fn tcp_stream_get_sock_name(stream: *mut tcp_stream_t, out: *mut *mut marline_address_t) -> marline_status_t {
    give_address(out, || Ok(Address::Inet(stream_of(stream)?.sock_name()?)))
}

/// Connects from `local_port` (0: any) to `host` (a name or literal) and
/// `remote_port`, blocking until established or failed, at most
/// `timeout_seconds` (0: no limit). A failure also sends
/// TCP_STREAM_EVENT_TERMINATE to the asr. Allowed on a new stream or one whose
/// connection has terminated.
///
/// Errors: MARLINE_ERR_REFUSED, MARLINE_ERR_TIMED_OUT,
/// MARLINE_ERR_CONNECTION_RESET, MARLINE_ERR_OS (the connection failed;
/// marline_last_os_error), MARLINE_ERR_BAD_ADDRESS (an empty host, or a name
/// that does not resolve), MARLINE_ERR_INVALID_ARGUMENT (a port outside
/// 0..65535, remote port 0, a negative, infinite or NaN timeout, a host that is
/// not UTF-8), MARLINE_ERR_INVALID_STATE (a connection or an open is there),
/// MARLINE_ERR_PASSIVE_OPEN_IN_PROGRESS, MARLINE_ERR_STREAM_BUSY, and the
/// handle errors. `stream` and `host` must not be NULL.
///
/// # Safety
/// `host` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn tcp_stream_active_open(
    stream: *mut tcp_stream_t,
    local_port: i32,
    host: *const c_char,
    remote_port: i32,
    timeout_seconds: f64,
) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let host = unsafe { c_str(host) }?;
        let (lp, rp) = (super::port_number(local_port)?, super::port_number(remote_port)?);
        let t = seconds(timeout_seconds)?.limit()?;
        Ok(stream_of(stream)?.active_open(lp, host, rp, t)?)
    })
}

/// Sends `len` bytes, blocking until the kernel has taken them all (they are
/// copied). `push`: send now rather than coalesce with the next send. `urgent`:
/// send as TCP urgent data, the urgent pointer at its end. Allowed in
/// ESTABLISHED and CLOSE_WAIT only.
///
/// Errors: MARLINE_ERR_CLOSED (after tcp_stream_close), MARLINE_ERR_TERMINATED
/// (the connection terminated, or does while the call waits),
/// MARLINE_ERR_NOT_CONNECTED (before any open), MARLINE_ERR_INVALID_ARGUMENT
/// (an empty urgent send), MARLINE_ERR_STREAM_BUSY (a send or close in
/// progress), MARLINE_ERR_PASSIVE_OPEN_IN_PROGRESS, MARLINE_ERR_NULL_POINTER
/// (`buf` NULL with a non-zero `len`), and the handle errors. `stream` must not
/// be NULL; `buf` may be NULL only when `len` is 0.
///
/// # Safety
/// `buf` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn tcp_stream_send(stream: *mut tcp_stream_t, buf: *const u8, len: usize, push: bool, urgent: bool) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let data = unsafe { super::c_bytes(buf, len) }?;
        Ok(stream_of(stream)?.send(data, push, urgent)?)
    })
}

/// Receives the next piece of data into `buf` (at most `cap` bytes), waiting up
/// to `timeout_seconds` (0: no limit) for some to arrive, and writes its length
/// to `*len`. Urgent data (everything up to the urgent mark) comes first and is
/// never merged with normal data. As in MacTCP, "the first call returning
/// urgent data will have the urgent flag set, the last will have the mark flag
/// set": `*urgent` is true for the first piece of it only, `*mark` for the
/// last, which is the urgent byte itself (the last byte of the urgent data,
/// returned alone); pieces between have neither, and a lone urgent byte has
/// both. Out parameters are written only on success.
///
/// Errors: MARLINE_ERR_CONNECTION_CLOSING (the peer has closed and everything
/// was read), MARLINE_ERR_TIMED_OUT (nothing came in time),
/// MARLINE_ERR_TERMINATED, MARLINE_ERR_NOT_CONNECTED,
/// MARLINE_ERR_INVALID_ARGUMENT (`cap` 0; a negative, infinite or NaN timeout),
/// MARLINE_ERR_STREAM_BUSY (a receive in progress),
/// MARLINE_ERR_PASSIVE_OPEN_IN_PROGRESS, and the handle errors. `stream`,
/// `buf`, `len`, `urgent` and `mark` must not be NULL.
///
/// # Safety
/// `buf` has `cap` writable bytes; `len`, `urgent` and `mark` point to a
/// writable `size_t`, `bool` and `bool`.
#[no_mangle]
pub unsafe extern "C" fn tcp_stream_rcv(
    stream: *mut tcp_stream_t,
    timeout_seconds: f64,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
    urgent: *mut bool,
    mark: *mut bool,
) -> marline_status_t {
    guard(|| {
        if cap == 0 {
            return Err(MARLINE_ERR_INVALID_ARGUMENT.into());
        }
        non_null(buf)?;
        // SAFETY: forwarded contract.
        let len = unsafe { Out::new(len) }?;
        // SAFETY: forwarded contract.
        let urgent = unsafe { Out::new(urgent) }?;
        // SAFETY: forwarded contract.
        let mark = unsafe { Out::new(mark) }?;
        let t = seconds(timeout_seconds)?.limit()?;
        let r = stream_of(stream)?.rcv(cap, t)?;
        let n = r.data.len().min(cap);
        // SAFETY: buf has cap ≥ n writable bytes.
        unsafe { std::ptr::copy_nonoverlapping(r.data.as_ptr(), buf, n) };
        len.write(n);
        urgent.write(r.urgent);
        mark.write(r.mark);
        Ok(())
    })
}

/// Closes our side and blocks until the peer has acknowledged all our data
/// (SIOCOUTQ reaches 0), at most `timeout_seconds` (0: no limit); past that,
/// MARLINE_ERR_TIMED_OUT and TCP_STREAM_EVENT_ULP_TIMEOUT to the asr.
/// tcp_stream_rcv goes on working until the peer closes; when both sides are
/// closed the asr gets TERMINATE with TCP_STREAM_REASON_ULP_CLOSE.
///
/// Errors: MARLINE_ERR_TIMED_OUT (see above), MARLINE_ERR_CLOSED (closed
/// already), MARLINE_ERR_TERMINATED, MARLINE_ERR_NOT_CONNECTED,
/// MARLINE_ERR_INVALID_ARGUMENT (a negative, infinite or NaN timeout),
/// MARLINE_ERR_STREAM_BUSY (a send in progress),
/// MARLINE_ERR_PASSIVE_OPEN_IN_PROGRESS, and the handle errors. `stream` must
/// not be NULL.
#[no_mangle]
pub extern "C" fn tcp_stream_close(stream: *mut tcp_stream_t, timeout_seconds: f64) -> marline_status_t {
    guard(|| {
        let t = seconds(timeout_seconds)?.limit()?;
        Ok(stream_of(stream)?.close(t)?)
    })
}

/// ULP timeout action (MacTCP's ulpTimeoutAction 0): send
/// TCP_STREAM_EVENT_ULP_TIMEOUT to the asr and keep the connection.
pub const TCP_STREAM_ULP_REPORT: i32 = 0;
/// ULP timeout action (MacTCP's ulpTimeoutAction 1): end the connection;
/// the asr gets TERMINATE with TCP_STREAM_REASON_ULP_TIMEOUT.
pub const TCP_STREAM_ULP_ABORT: i32 = 1;

/// Sets the stream's ULP timeout, as MacTCP's ulpTimeoutValue and
/// ulpTimeoutAction: when data we sent (or our FIN) stays unacknowledged by the
/// peer for `timeout_seconds`, TCP_STREAM_ULP_ABORT ends the connection
/// (TERMINATE with TCP_STREAM_REASON_ULP_TIMEOUT; a call in progress fails with
/// MARLINE_ERR_TIMED_OUT), and TCP_STREAM_ULP_REPORT sends
/// TCP_STREAM_EVENT_ULP_TIMEOUT (detail 0) to the asr and goes on, once more
/// for every further `timeout_seconds` with no acknowledgement. The wait
/// restarts whenever the peer acknowledges more data and stops when everything
/// is acknowledged. `timeout_seconds` 0 turns it off: the default, where the
/// kernel's own retransmission limit (about 15 minutes) ends the connection
/// with TCP_STREAM_REASON_NETWORK_FAILURE. Applies to the connection there is
/// and to later ones of the stream. Works from inside the asr and while another
/// thread is blocked in a call.
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (a negative, infinite or NaN timeout,
/// or another action), MARLINE_ERR_PASSIVE_OPEN_IN_PROGRESS (set it before the
/// passive open), and the handle errors. `stream` must not be NULL.
#[no_mangle]
pub extern "C" fn tcp_stream_set_ulp_timeout(stream: *mut tcp_stream_t, timeout_seconds: f64, action: i32) -> marline_status_t {
    guard(|| {
        let action = match action {
            TCP_STREAM_ULP_REPORT => UlpAction::Report,
            TCP_STREAM_ULP_ABORT => UlpAction::Abort,
            _ => return Err(MARLINE_ERR_INVALID_ARGUMENT.into()),
        };
        let t = seconds(timeout_seconds)?.limit()?;
        Ok(stream_of(stream)?.set_ulp_timeout(t, action)?)
    })
}

/// Resets the connection at once (RST), dropping queued data both ways; a call
/// blocked in another thread or in the asr returns MARLINE_ERR_TERMINATED. The
/// asr gets TERMINATE with TCP_STREAM_REASON_ULP_ABORT. From inside the asr
/// too, the connection is gone when this returns.
///
/// Errors: MARLINE_ERR_NOT_CONNECTED (before any open), MARLINE_ERR_TERMINATED
/// (the connection terminated already), MARLINE_ERR_PASSIVE_OPEN_IN_PROGRESS,
/// and the handle errors. `stream` must not be NULL.
#[no_mangle]
pub extern "C" fn tcp_stream_abort(stream: *mut tcp_stream_t) -> marline_status_t {
    guard(|| Ok(stream_of(stream)?.abort()?))
}

/// Fills `*status` (see tcp_stream_status_t for the `size` rule). With no
/// connection the state is TCP_STREAM_STATE_CLOSED and the rest is zero.
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (`status->size` smaller than its `size`
/// and `state` fields), MARLINE_ERR_PASSIVE_OPEN_IN_PROGRESS, MARLINE_ERR_OS
/// (the kernel's TCP_INFO failed), and the handle errors. `stream` and `status`
/// must not be NULL.
///
/// # Safety
/// `status` points to at least `status->size` writable bytes whose first field,
/// `size`, is set.
#[no_mangle]
pub unsafe extern "C" fn tcp_stream_status(stream: *mut tcp_stream_t, status: *mut tcp_stream_status_t) -> marline_status_t {
    guard(|| {
        non_null(status)?;
        // SAFETY: non-NULL; the caller set the first field.
        let size = unsafe { std::ptr::addr_of!((*status).size).read_unaligned() };
        if size < STATUS_MIN_SIZE {
            return Err(MARLINE_ERR_INVALID_ARGUMENT.into());
        }
        let s = stream_of(stream)?.status()?;
        let mut c = to_c(&s);
        let n = size.min(std::mem::size_of::<tcp_stream_status_t>());
        c.size = n;
        // SAFETY: the caller provides `size` ≥ n writable bytes; `c` is a
        // fully initialised (zeroed, then filled) value of n or more bytes.
        unsafe { std::ptr::copy_nonoverlapping(&c as *const tcp_stream_status_t as *const u8, status as *mut u8, n) };
        Ok(())
    })
}
