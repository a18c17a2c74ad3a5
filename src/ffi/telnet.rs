//! Telnet: the telnet_protocol_t callback table, listening and connecting, and the calls on
//! a telnet transport (a transport_t whose other calls — transport_write and friends —
//! work as on any transport, with IAC escaping and newline translation on write).

use std::ffi::{c_char, c_void};

use super::handle::{listening_port_t, reactor_t, transport_t};
use super::protocol::{user_of, FirstUser};
use super::tcp::port_handle;
use super::reason::{as_c, marline_reason_t};
use super::status::marline_status_t::{self, *};
use super::sized::{read_sized, SizedStruct};
use super::{c_array, c_bytes, c_str, encode_transport, endpoint, guard, reactor_of, seconds, transport_of, vec_for, Out, CResult};
use crate::telnet::options::{EnvKind, EnvVar, EnvVarKind};
use crate::telnet::transport::{Completion, OptionState, Policy, Side};
use crate::telnet::{Telnet, TelnetProtocol};
use crate::transport::{Reason, Transport};

/// Telnet option: TRANSMIT-BINARY (RFC 856).
pub const TELNET_OPT_BINARY: u8 = 0;
/// Telnet option: ECHO (RFC 857).
pub const TELNET_OPT_ECHO: u8 = 1;
/// Telnet option: SUPPRESS-GO-AHEAD (RFC 858).
pub const TELNET_OPT_SGA: u8 = 3;
/// Telnet option: STATUS (RFC 859).
pub const TELNET_OPT_STATUS: u8 = 5;
/// Telnet option: TIMING-MARK (RFC 860).
pub const TELNET_OPT_TIMING_MARK: u8 = 6;
/// Telnet option: TERMINAL-TYPE (RFC 1091).
pub const TELNET_OPT_TTYPE: u8 = 24;
/// Telnet option: END-OF-RECORD (RFC 885).
pub const TELNET_OPT_EOR: u8 = 25;
/// Telnet option: NAWS, window size (RFC 1073).
pub const TELNET_OPT_NAWS: u8 = 31;
/// Telnet option: TERMINAL-SPEED (RFC 1079).
pub const TELNET_OPT_TSPEED: u8 = 32;
/// Telnet option: REMOTE-FLOW-CONTROL (RFC 1372).
pub const TELNET_OPT_LFLOW: u8 = 33;
/// Telnet option: LINEMODE (RFC 1184).
pub const TELNET_OPT_LINEMODE: u8 = 34;
/// Telnet option: NEW-ENVIRON (RFC 1572).
pub const TELNET_OPT_NEW_ENVIRON: u8 = 39;

/// Telnet command: end of record.
pub const TELNET_CMD_EOR: u8 = 239;
/// Telnet command: end of subnegotiation (not sendable on its own).
pub const TELNET_CMD_SE: u8 = 240;
/// Telnet command: no operation.
pub const TELNET_CMD_NOP: u8 = 241;
/// Telnet command: data mark; telnet_send_command(t, TELNET_CMD_DM) sends a Synch.
pub const TELNET_CMD_DM: u8 = 242;
/// Telnet command: break.
pub const TELNET_CMD_BRK: u8 = 243;
/// Telnet command: interrupt process.
pub const TELNET_CMD_IP: u8 = 244;
/// Telnet command: abort output.
pub const TELNET_CMD_AO: u8 = 245;
/// Telnet command: are you there.
pub const TELNET_CMD_AYT: u8 = 246;
/// Telnet command: erase character.
pub const TELNET_CMD_EC: u8 = 247;
/// Telnet command: erase line.
pub const TELNET_CMD_EL: u8 = 248;
/// Telnet command: go ahead.
pub const TELNET_CMD_GA: u8 = 249;
/// Telnet command: start of subnegotiation (use telnet_request_negotiation).
pub const TELNET_CMD_SB: u8 = 250;
/// Telnet command: WILL (use telnet_will).
pub const TELNET_CMD_WILL: u8 = 251;
/// Telnet command: WONT (use telnet_wont).
pub const TELNET_CMD_WONT: u8 = 252;
/// Telnet command: DO (use telnet_do).
pub const TELNET_CMD_DO: u8 = 253;
/// Telnet command: DONT (use telnet_dont).
pub const TELNET_CMD_DONT: u8 = 254;
/// Telnet command: interpret as command (the escape byte).
pub const TELNET_CMD_IAC: u8 = 255;

/// How a telnet_will / telnet_wont / telnet_do / telnet_dont request ended. The completion
/// callback gets OK, OPTION_REFUSED, CONNECTION_LOST or TIMED_OUT; the ALREADY_* values
/// name the immediate failures, which the call itself returns as
/// MARLINE_ERR_ALREADY_ENABLED / _DISABLED / _NEGOTIATING (and then the callback is never
/// called). Numbers are stable.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum marline_telnet_result_t {
    /// The peer agreed: the option side is now in the requested state.
    MARLINE_TELNET_OK = 0,
    /// The peer refused (WONT to our DO, DONT to our WILL).
    MARLINE_TELNET_OPTION_REFUSED = 1,
    /// Enable requested while already enabled (returned by the call, never a completion).
    MARLINE_TELNET_ALREADY_ENABLED = 2,
    /// Disable requested while already disabled (returned by the call).
    MARLINE_TELNET_ALREADY_DISABLED = 3,
    /// A negotiation of this option side is already under way and the one-slot queue
    /// cannot take this request (returned by the call).
    MARLINE_TELNET_ALREADY_NEGOTIATING = 4,
    /// The connection went before the peer answered (the reason is passed too).
    MARLINE_TELNET_CONNECTION_LOST = 5,
    /// The negotiation timeout (telnet_set_negotiation_timeout) passed first.
    MARLINE_TELNET_TIMED_OUT = 6,
}

/// Which side of an option: LOCAL is ours (WILL/WONT, the peer answers DO/DONT), REMOTE is
/// the peer's (DO/DONT, the peer answers WILL/WONT).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum marline_telnet_side_t {
    /// Our side.
    MARLINE_TELNET_LOCAL = 0,
    /// The peer's side.
    MARLINE_TELNET_REMOTE = 1,
}

/// The RFC 1143 state of one option side. Only YES and the WANTNO states count as enabled.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum marline_telnet_option_state_t {
    /// Disabled, nothing pending.
    MARLINE_TELNET_NO = 0,
    /// Enabled, nothing pending.
    MARLINE_TELNET_YES = 1,
    /// We asked to disable (still enabled).
    MARLINE_TELNET_WANTNO = 2,
    /// We asked to disable and an enable request is queued.
    MARLINE_TELNET_WANTNO_OPPOSITE = 3,
    /// We asked to enable (still disabled).
    MARLINE_TELNET_WANTYES = 4,
    /// We asked to enable and a disable request is queued.
    MARLINE_TELNET_WANTYES_OPPOSITE = 5,
}

/// How to answer the peer asking to enable an option side (telnet_set_policy).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum marline_telnet_policy_t {
    /// Ask the protocol's enable_local / enable_remote (NULL entry: refuse). The default.
    MARLINE_TELNET_POLICY_ASK = 0,
    /// Agree without asking.
    MARLINE_TELNET_POLICY_ACCEPT = 1,
    /// Refuse without asking.
    MARLINE_TELNET_POLICY_REFUSE = 2,
}

/// A NEW-ENVIRON list: IS answers telnet_request_environment, INFO is an update.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum marline_telnet_env_kind_t {
    /// SB NEW-ENVIRON IS.
    MARLINE_TELNET_ENV_IS = 0,
    /// SB NEW-ENVIRON INFO.
    MARLINE_TELNET_ENV_INFO = 2,
}

/// The kind of a NEW-ENVIRON variable.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum marline_telnet_env_var_kind_t {
    /// A well-known variable (USER, DISPLAY, …).
    MARLINE_TELNET_ENV_VAR = 0,
    /// A user variable.
    MARLINE_TELNET_ENV_USERVAR = 3,
}

/// One NEW-ENVIRON variable, as the environment callback receives it and
/// telnet_send_environment takes it. The bytes are not NUL-terminated. Passed to a
/// callback, it and the bytes it points to are valid for the call only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct marline_telnet_env_var_t {
    /// A marline_telnet_env_var_kind_t value: VAR or USERVAR.
    pub kind: i32,
    /// The name (unescaped); NULL only when name_len is 0.
    pub name: *const u8,
    /// Its length.
    pub name_len: usize,
    /// Whether the variable has a value (false: the peer says it is undefined).
    pub has_value: bool,
    /// The value (unescaped); NULL only when value_len is 0.
    pub value: *const u8,
    /// Its length.
    pub value_len: usize,
}

/// Called once with the outcome of a request. `reason` is non-NULL only with
/// MARLINE_TELNET_CONNECTION_LOST and valid for the call only. `t` is still usable during
/// the call (writes fail with MARLINE_ERR_CLOSED once the connection is gone).
pub type marline_telnet_completion_cb = Option<
    unsafe extern "C" fn(
        t: *mut transport_t,
        option: u8,
        result: marline_telnet_result_t,
        reason: *const marline_reason_t,
        user: *mut c_void,
    ),
>;

/// A per-option subnegotiation handler (telnet_set_subnegotiation_handler): the payload,
/// unescaped, valid for the call only.
pub type marline_telnet_subnegotiation_cb =
    Option<unsafe extern "C" fn(t: *mut transport_t, option: u8, data: *const u8, len: usize, user: *mut c_void)>;

/// Callbacks of a telnet connection. Every entry may be NULL (default: ignore the event;
/// for enable_local / enable_remote: refuse). Each receives the telnet transport first and
/// its user pointer last (transport_set_user changes it). Callbacks run on the reactor
/// thread only; data pointers are valid for the call only. Setting read_connection_lost or
/// write_connection_lost opts into half-close.
///
/// Writing through a telnet transport (transport_write, transport_write_sequence, and the
/// producers' writes): 0xFF is doubled; LF and CR LF are sent as CR LF and any other CR as
/// CR NUL, unless our side of TRANSMIT-BINARY is on (then only 0xFF is doubled). Each
/// write is translated on its own: a CR that ends a write is a bare CR (CR NUL) even if the
/// next write starts with LF (then CR LF by itself), so writing "a\r" then "\nb" sends
/// CR NUL CR LF and the peer reads back "a\r\nb", what was written. The buffers of one
/// transport_write_sequence are one write ("a\r", "\nb" sends CR LF).
///
/// Methods (on the telnet transport_t): telnet_will, telnet_wont, telnet_do, telnet_dont,
/// telnet_get_option_state, telnet_is_enabled, telnet_set_policy,
/// telnet_request_negotiation, telnet_send_command, telnet_send_synch,
/// telnet_set_negotiation_timeout, telnet_set_max_subnegotiation,
/// telnet_set_subnegotiation_handler, telnet_send_window_size,
/// telnet_request_terminal_type, telnet_set_terminal_type, telnet_request_environment,
/// telnet_send_environment, telnet_get_inner, and every transport_* call.
/// Start it with `MARLINE_INIT(&t)` (zeroes it and sets `size` to
/// sizeof(telnet_protocol_t)), then set the entries you use: marline reads
/// `size` bytes, so a program built against another version of this header
/// keeps working (see "ABI policy" in the README; a `size` no version had,
/// or an entry this library does not know set, is
/// MARLINE_ERR_INVALID_ARGUMENT).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct telnet_protocol_t {
    /// sizeof(telnet_protocol_t), set by the caller.
    pub size: usize,
    /// The connection is established.
    pub connection_made: Option<unsafe extern "C" fn(t: *mut transport_t, user: *mut c_void)>,
    /// Application data: unescaped, CR LF → LF and CR NUL → CR (CR untouched while the
    /// peer's TRANSMIT-BINARY is on). Each run of data between two other events of one
    /// read is one call. The peer's binary mode starts at the byte after its WILL that
    /// answers our DO, and ends at the byte after its WONT; after its unsolicited WILL
    /// (agreed with DO) the rest of that read is still NVT and binary starts with the next
    /// read, since the peer switches only once our DO reaches it (RFC 856).
    pub data_received: Option<unsafe extern "C" fn(t: *mut transport_t, data: *const u8, len: usize, user: *mut c_void)>,
    /// The connection ended, after every pending request completed with CONNECTION_LOST.
    /// Fires exactly once; the handle is stale once it returns. An oversized
    /// subnegotiation gives MARLINE_REASON_PROTOCOL_VIOLATION.
    pub connection_lost: Option<unsafe extern "C" fn(t: *mut transport_t, reason: *const marline_reason_t, user: *mut c_void)>,
    /// A client connection could not be made (instead of connection_lost).
    pub connection_failed: Option<unsafe extern "C" fn(t: *mut transport_t, reason: *const marline_reason_t, user: *mut c_void)>,
    /// Our side of option is being enabled; called in two cases. (1) The peer sent DO
    /// option while our side was disabled with nothing pending (state NO) and the policy
    /// is ASK: return true to agree (WILL is sent) or false to refuse (WONT). (2) Our own
    /// telnet_will was accepted: called right after its completion, with the option
    /// already on; the return value cannot undo that and is ignored (false is logged at
    /// debug level; telnet_wont turns the option off).
    pub enable_local: Option<unsafe extern "C" fn(t: *mut transport_t, option: u8, user: *mut c_void) -> bool>,
    /// The peer's side of option is being enabled, as enable_local: (1) the peer sent WILL
    /// option while its side was disabled with nothing pending (state NO) and the policy is
    /// ASK: return true to agree (DO) or false to refuse (DONT); (2) our own telnet_do was
    /// accepted: called right after its completion; the return value is ignored.
    pub enable_remote: Option<unsafe extern "C" fn(t: *mut transport_t, option: u8, user: *mut c_void) -> bool>,
    /// Our side of option went from enabled to disabled: the peer's DONT, or its agreement
    /// to our telnet_wont (then right after that request's completion).
    pub disable_local: Option<unsafe extern "C" fn(t: *mut transport_t, option: u8, user: *mut c_void)>,
    /// The peer's side of option went from enabled to disabled: its WONT, also when it
    /// answers our telnet_dont (then right after that request's completion).
    pub disable_remote: Option<unsafe extern "C" fn(t: *mut transport_t, option: u8, user: *mut c_void)>,
    /// A command (NOP, DM, BRK, IP, AO, AYT, EC, EL, GA, EOR) or IAC followed by an
    /// unknown byte.
    pub unhandled_command: Option<unsafe extern "C" fn(t: *mut transport_t, command: u8, user: *mut c_void)>,
    /// A subnegotiation that no per-option handler nor built-in helper consumed.
    pub unhandled_subnegotiation:
        Option<unsafe extern "C" fn(t: *mut transport_t, option: u8, data: *const u8, len: usize, user: *mut c_void)>,
    /// NAWS: the peer's window size.
    pub window_size: Option<unsafe extern "C" fn(t: *mut transport_t, width: u16, height: u16, user: *mut c_void)>,
    /// TERMINAL-TYPE: the peer's answer to telnet_request_terminal_type.
    pub terminal_type: Option<unsafe extern "C" fn(t: *mut transport_t, name: *const u8, len: usize, user: *mut c_void)>,
    /// NEW-ENVIRON: variables from the peer.
    pub environment: Option<
        unsafe extern "C" fn(
            t: *mut transport_t,
            kind: marline_telnet_env_kind_t,
            vars: *const marline_telnet_env_var_t,
            count: usize,
            user: *mut c_void,
        ),
    >,
    /// The peer closed its sending side (half-close only).
    pub read_connection_lost: Option<unsafe extern "C" fn(t: *mut transport_t, user: *mut c_void)>,
    /// Our sending side was shut down (half-close only).
    pub write_connection_lost: Option<unsafe extern "C" fn(t: *mut transport_t, user: *mut c_void)>,
}

// SAFETY: a size and nullable function pointers, none over 8 bytes.
unsafe impl SizedStruct for telnet_protocol_t {}

/// A C callback table acting as a telnet protocol.
struct CTelnet {
    table: telnet_protocol_t,
    user: FirstUser,
}

fn h(t: &Telnet) -> *mut transport_t {
    encode_transport(t.transport())
}

fn env_kind(k: EnvKind) -> marline_telnet_env_kind_t {
    match k {
        EnvKind::Is => marline_telnet_env_kind_t::MARLINE_TELNET_ENV_IS,
        EnvKind::Info => marline_telnet_env_kind_t::MARLINE_TELNET_ENV_INFO,
    }
}

impl TelnetProtocol for CTelnet {
    fn connection_made(&mut self, t: &Telnet) {
        let user = self.user.of(t);
        call_c!(self.table.connection_made, h(t), user);
    }
    fn data_received(&mut self, t: &Telnet, data: &[u8]) {
        call_c!(self.table.data_received, h(t), data.as_ptr(), data.len(), user_of(t));
    }
    fn connection_lost(&mut self, t: &Telnet, reason: &Reason) {
        call_c!(self.table.connection_lost, h(t), as_c(reason), self.user.of(t));
    }
    fn connection_failed(&mut self, t: &Telnet, reason: &Reason) {
        call_c!(self.table.connection_failed, h(t), as_c(reason), self.user.of(t));
    }
    fn half_close(&self) -> bool {
        self.table.read_connection_lost.is_some() || self.table.write_connection_lost.is_some()
    }
    fn read_connection_lost(&mut self, t: &Telnet) {
        call_c!(self.table.read_connection_lost, h(t), user_of(t));
    }
    fn write_connection_lost(&mut self, t: &Telnet) {
        call_c!(self.table.write_connection_lost, h(t), user_of(t));
    }
    fn enable_local(&mut self, t: &Telnet, o: u8) -> bool {
        call_c!(self.table.enable_local, h(t), o, user_of(t)).unwrap_or(false)
    }
    fn enable_remote(&mut self, t: &Telnet, o: u8) -> bool {
        call_c!(self.table.enable_remote, h(t), o, user_of(t)).unwrap_or(false)
    }
    fn disable_local(&mut self, t: &Telnet, o: u8) {
        call_c!(self.table.disable_local, h(t), o, user_of(t));
    }
    fn disable_remote(&mut self, t: &Telnet, o: u8) {
        call_c!(self.table.disable_remote, h(t), o, user_of(t));
    }
    fn unhandled_command(&mut self, t: &Telnet, c: u8) {
        call_c!(self.table.unhandled_command, h(t), c, user_of(t));
    }
    fn unhandled_subnegotiation(&mut self, t: &Telnet, o: u8, data: &[u8]) {
        call_c!(self.table.unhandled_subnegotiation, h(t), o, data.as_ptr(), data.len(), user_of(t));
    }
    fn window_size(&mut self, t: &Telnet, w: u16, hgt: u16) {
        call_c!(self.table.window_size, h(t), w, hgt, user_of(t));
    }
    fn terminal_type(&mut self, t: &Telnet, name: &[u8]) {
        call_c!(self.table.terminal_type, h(t), name.as_ptr(), name.len(), user_of(t));
    }
    fn environment(&mut self, t: &Telnet, kind: EnvKind, vars: &[EnvVar]) {
        if self.table.environment.is_none() {
            return;
        }
        let c: Vec<marline_telnet_env_var_t> = vars
            .iter()
            .map(|v| marline_telnet_env_var_t {
                kind: match v.kind {
                    EnvVarKind::Var => marline_telnet_env_var_kind_t::MARLINE_TELNET_ENV_VAR as i32,
                    EnvVarKind::UserVar => marline_telnet_env_var_kind_t::MARLINE_TELNET_ENV_USERVAR as i32,
                },
                name: v.name.as_ptr(),
                name_len: v.name.len(),
                has_value: v.value.is_some(),
                value: v.value.as_ref().map_or(std::ptr::null(), |x| x.as_ptr()),
                value_len: v.value.as_ref().map_or(0, |x| x.len()),
            })
            .collect();
        call_c!(self.table.environment, h(t), env_kind(kind), c.as_ptr(), c.len(), user_of(t));
    }
}

fn telnet_of(t: *mut transport_t) -> CResult<Telnet> {
    Ok(Telnet::from_transport(&transport_of(t)?)?)
}

fn side_of(side: i32) -> CResult<Side> {
    match side {
        0 => Ok(Side::Local),
        1 => Ok(Side::Remote),
        _ => Err(MARLINE_ERR_INVALID_ARGUMENT.into()),
    }
}

/// Listens for telnet connections over TCP, as reactor_listen_tcp with a telnet
/// callback table, and writes the listening port to `*out`. Each accepted
/// connection gets its own telnet transport running the callbacks of `protocol`
/// (copied), with `user` as its initial user pointer.
///
/// Errors: as reactor_listen_tcp: MARLINE_ERR_ADDRESS_IN_USE,
/// MARLINE_ERR_BAD_ADDRESS, MARLINE_ERR_PERMISSION_DENIED,
/// MARLINE_ERR_INVALID_ARGUMENT (a port outside 0..65535, an interface that is
/// not UTF-8, a table whose `size` no version had or with an entry this library
/// does not know), MARLINE_ERR_EXHAUSTED, MARLINE_ERR_OS, and the handle
/// errors. `reactor`, `interface`, `protocol` and `out` must not be NULL;
/// `user` may be NULL (it is only passed back).
///
/// # Safety
/// `interface` is a NUL-terminated string; `protocol` points to a
/// telnet_protocol_t with `size` readable bytes; `out` points to a writable
/// `listening_port_t *`.
#[no_mangle]
pub unsafe extern "C" fn reactor_listen_telnet(
    reactor: *mut reactor_t,
    interface: *const c_char,
    port: i32,
    backlog: i32,
    protocol: *const telnet_protocol_t,
    user: *mut c_void,
    out: *mut *mut listening_port_t,
) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let out = unsafe { Out::new(out) }?;
        // SAFETY: forwarded contract; the table is copied.
        let table = unsafe { read_sized(protocol) }?;
        // SAFETY: forwarded contract.
        let (interface, port) = unsafe { endpoint(interface, port) }?;
        let r = reactor_of(reactor)?;
        let user = user as usize;
        let lp = r.listen_telnet(interface, port, backlog, move |_| {
            Box::new(CTelnet { table, user: FirstUser::accepted(user as *mut c_void) }) as Box<dyn TelnetProtocol>
        })?;
        out.write(port_handle(&r, &lp));
        Ok(())
    })
}

/// Connects to a telnet server over TCP, as reactor_connect_tcp with a telnet
/// callback table (copied). The telnet transport is written to `*out` at once,
/// with `user` as its user pointer; option requests and writes made before the
/// connection is up are queued.
///
/// Errors: as reactor_connect_tcp: MARLINE_ERR_BAD_ADDRESS (an empty host),
/// MARLINE_ERR_INVALID_ARGUMENT (a NaN timeout, a port outside 0..65535, a host
/// that is not UTF-8, a table whose `size` no version had or with an entry this
/// library does not know), MARLINE_ERR_EXHAUSTED, MARLINE_ERR_OS, and the
/// handle errors. `reactor`, `host`, `protocol` and `out` must not be NULL;
/// `user` may be NULL (it is only passed back).
///
/// # Safety
/// `host` is a NUL-terminated string; `protocol` points to a telnet_protocol_t
/// with `size` readable bytes; `out` points to a writable `transport_t *`.
#[no_mangle]
pub unsafe extern "C" fn reactor_connect_telnet(
    reactor: *mut reactor_t,
    host: *const c_char,
    port: i32,
    timeout_seconds: f64,
    protocol: *const telnet_protocol_t,
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
        let t = r.connect_telnet(host, port, timeout, Box::new(CTelnet { table, user: FirstUser::none() }))?;
        t.set_user_data(user as usize)?;
        out.write(encode_transport(t.transport()));
        Ok(())
    })
}

fn result_of(c: Completion) -> marline_telnet_result_t {
    use marline_telnet_result_t::*;
    match c {
        Completion::Ok => MARLINE_TELNET_OK,
        Completion::Refused => MARLINE_TELNET_OPTION_REFUSED,
        Completion::ConnectionLost => MARLINE_TELNET_CONNECTION_LOST,
        Completion::TimedOut => MARLINE_TELNET_TIMED_OUT,
    }
}

fn request(t: *mut transport_t, o: u8, side: Side, enable: bool, cb: marline_telnet_completion_cb, user: *mut c_void) -> marline_status_t {
    guard(|| {
        let tn = telnet_of(t)?;
        let user = user as usize;
        tn.request(o, side, enable, move |t: &Telnet, result: Completion, reason: Option<&Reason>| {
            call_c!(cb, h(t), o, result_of(result), reason.map_or(std::ptr::null(), as_c), user as *mut c_void);
        })?;
        Ok(())
    })
}

/// Offers to enable our side of `option` (sends IAC WILL option). Unless the
/// call fails, `cb` is called exactly once, later, from the loop, with `user`
/// and the outcome (see marline_telnet_result_t). When the peer agrees, `cb`
/// gets MARLINE_TELNET_OK and then the protocol's enable_local is called for
/// the option (its answer is ignored). marline keeps nothing of `user` but the
/// pointer value.
///
/// Errors, returned at once and then `cb` is never called:
/// MARLINE_ERR_ALREADY_ENABLED (our side is on already),
/// MARLINE_ERR_ALREADY_NEGOTIATING (a negotiation of this side is under way and
/// its one-slot queue cannot take this request), MARLINE_ERR_CLOSED,
/// MARLINE_ERR_NOT_CONNECTED, MARLINE_ERR_WRONG_HANDLE_TYPE (not a telnet
/// transport), and the handle errors. `t` must not be NULL; `cb` may be NULL
/// (no completion wanted); `user` may be NULL (it is only passed back).
#[no_mangle]
pub extern "C" fn telnet_will(t: *mut transport_t, option: u8, cb: marline_telnet_completion_cb, user: *mut c_void) -> marline_status_t {
    request(t, option, Side::Local, true, cb, user)
}

/// Disables our side of `option` (sends IAC WONT option), as telnet_will. When
/// the peer agrees, `cb` gets MARLINE_TELNET_OK and then the protocol's
/// disable_local is called.
///
/// Errors, returned at once and then `cb` is never called:
/// MARLINE_ERR_ALREADY_DISABLED (our side is off already),
/// MARLINE_ERR_ALREADY_NEGOTIATING (a negotiation of this side is under way and
/// its one-slot queue cannot take this request), MARLINE_ERR_CLOSED,
/// MARLINE_ERR_NOT_CONNECTED, MARLINE_ERR_WRONG_HANDLE_TYPE (not a telnet
/// transport), and the handle errors. `t` must not be NULL; `cb` may be NULL
/// (no completion wanted); `user` may be NULL (it is only passed back).
#[no_mangle]
pub extern "C" fn telnet_wont(t: *mut transport_t, option: u8, cb: marline_telnet_completion_cb, user: *mut c_void) -> marline_status_t {
    request(t, option, Side::Local, false, cb, user)
}

/// Asks the peer to enable its side of `option` (sends IAC DO option), as
/// telnet_will. When the peer agrees, `cb` gets MARLINE_TELNET_OK and then
/// enable_remote is called (its answer is ignored).
///
/// Errors, returned at once and then `cb` is never called:
/// MARLINE_ERR_ALREADY_ENABLED (the peer's side is on already),
/// MARLINE_ERR_ALREADY_NEGOTIATING (a negotiation of this side is under way and
/// its one-slot queue cannot take this request), MARLINE_ERR_CLOSED,
/// MARLINE_ERR_NOT_CONNECTED, MARLINE_ERR_WRONG_HANDLE_TYPE (not a telnet
/// transport), and the handle errors. `t` must not be NULL; `cb` may be NULL
/// (no completion wanted); `user` may be NULL (it is only passed back).
#[no_mangle]
pub extern "C" fn telnet_do(t: *mut transport_t, option: u8, cb: marline_telnet_completion_cb, user: *mut c_void) -> marline_status_t {
    request(t, option, Side::Remote, true, cb, user)
}

/// Asks the peer to disable its side of `option` (sends IAC DONT option), as
/// telnet_wont. When the peer agrees, `cb` gets MARLINE_TELNET_OK and then
/// disable_remote is called.
///
/// Errors, returned at once and then `cb` is never called:
/// MARLINE_ERR_ALREADY_DISABLED (the peer's side is off already),
/// MARLINE_ERR_ALREADY_NEGOTIATING (a negotiation of this side is under way and
/// its one-slot queue cannot take this request), MARLINE_ERR_CLOSED,
/// MARLINE_ERR_NOT_CONNECTED, MARLINE_ERR_WRONG_HANDLE_TYPE (not a telnet
/// transport), and the handle errors. `t` must not be NULL; `cb` may be NULL
/// (no completion wanted); `user` may be NULL (it is only passed back).
#[no_mangle]
pub extern "C" fn telnet_dont(t: *mut transport_t, option: u8, cb: marline_telnet_completion_cb, user: *mut c_void) -> marline_status_t {
    request(t, option, Side::Remote, false, cb, user)
}

/// Writes the RFC 1143 state of one side of `option` to `*state`; `side` is a
/// marline_telnet_side_t.
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (`side` is no marline_telnet_side_t),
/// MARLINE_ERR_WRONG_HANDLE_TYPE (not a telnet transport), and the handle
/// errors. `t` and `state` must not be NULL.
///
/// # Safety
/// `state` points to a writable marline_telnet_option_state_t.
#[no_mangle]
pub unsafe extern "C" fn telnet_get_option_state(
    t: *mut transport_t,
    option: u8,
    side: i32,
    state: *mut marline_telnet_option_state_t,
) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let state = unsafe { Out::new(state) }?;
        use marline_telnet_option_state_t::*;
        let s = match telnet_of(t)?.option_state(option, side_of(side)?)? {
            OptionState::No => MARLINE_TELNET_NO,
            OptionState::Yes => MARLINE_TELNET_YES,
            OptionState::WantNo => MARLINE_TELNET_WANTNO,
            OptionState::WantNoOpposite => MARLINE_TELNET_WANTNO_OPPOSITE,
            OptionState::WantYes => MARLINE_TELNET_WANTYES,
            OptionState::WantYesOpposite => MARLINE_TELNET_WANTYES_OPPOSITE,
        };
        state.write(s);
        Ok(())
    })
}

/// Writes whether one side of `option` is in effect (state YES or a WANTNO
/// state) to `*enabled`; `side` is a marline_telnet_side_t.
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (`side` is no marline_telnet_side_t),
/// MARLINE_ERR_WRONG_HANDLE_TYPE (not a telnet transport), and the handle
/// errors. `t` and `enabled` must not be NULL.
///
/// # Safety
/// `enabled` points to a writable `bool`.
#[no_mangle]
pub unsafe extern "C" fn telnet_is_enabled(t: *mut transport_t, option: u8, side: i32, enabled: *mut bool) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let enabled = unsafe { Out::new(enabled) }?;
        let v = telnet_of(t)?.is_enabled(option, side_of(side)?)?;
        enabled.write(v);
        Ok(())
    })
}

/// Sets how to answer the peer asking to enable `side` of `option`: a
/// marline_telnet_policy_t. ASK, the default, calls enable_local /
/// enable_remote (refusing when it is NULL); ACCEPT and REFUSE answer without
/// asking.
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (`side` or `policy` out of range),
/// MARLINE_ERR_WRONG_HANDLE_TYPE (not a telnet transport), and the handle
/// errors. `t` must not be NULL.
#[no_mangle]
pub extern "C" fn telnet_set_policy(t: *mut transport_t, option: u8, side: i32, policy: i32) -> marline_status_t {
    guard(|| {
        let p = match policy {
            0 => Policy::Ask,
            1 => Policy::Accept,
            2 => Policy::Refuse,
            _ => return Err(MARLINE_ERR_INVALID_ARGUMENT.into()),
        };
        Ok(telnet_of(t)?.set_policy(option, side_of(side)?, p)?)
    })
}

/// Sends IAC SB option data IAC SE, with 0xFF in `data` doubled. The caller
/// keeps ownership of `data`.
///
/// Errors: MARLINE_ERR_NULL_POINTER (`data` NULL with a non-zero `len`),
/// MARLINE_ERR_CLOSED (the connection is closing or gone),
/// MARLINE_ERR_NOT_CONNECTED (a client not connected yet),
/// MARLINE_ERR_WRONG_HANDLE_TYPE (not a telnet transport), and the handle
/// errors. `t` must not be NULL; `data` may be NULL only when `len` is 0.
///
/// # Safety
/// `data` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn telnet_request_negotiation(t: *mut transport_t, option: u8, data: *const u8, len: usize) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let bytes = unsafe { c_bytes(data, len) }?;
        Ok(telnet_of(t)?.request_negotiation(option, bytes)?)
    })
}

/// Sends IAC command (NOP, GA, AYT, EOR, …). TELNET_CMD_DM sends a Synch (as
/// telnet_send_synch).
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (WILL, WONT, DO, DONT, SB, SE, IAC, or
/// a byte below 236, which is no telnet command), MARLINE_ERR_CLOSED (the
/// connection is closing or gone), MARLINE_ERR_NOT_CONNECTED (a client not
/// connected yet), MARLINE_ERR_WRONG_HANDLE_TYPE (not a telnet transport), and
/// the handle errors. `t` must not be NULL.
#[no_mangle]
pub extern "C" fn telnet_send_command(t: *mut transport_t, command: u8) -> marline_status_t {
    guard(|| Ok(telnet_of(t)?.send_command(command)?))
}

/// Sends a Synch: IAC DM with the DM as TCP urgent data, after everything
/// written before (RFC 854), so the peer can discard what it has not yet read.
///
/// Errors: MARLINE_ERR_NOT_SUPPORTED (the inner transport has no urgent data),
/// MARLINE_ERR_CLOSED (the connection is closing or gone),
/// MARLINE_ERR_NOT_CONNECTED (a client not connected yet),
/// MARLINE_ERR_WRONG_HANDLE_TYPE (not a telnet transport), and the handle
/// errors. `t` must not be NULL.
#[no_mangle]
pub extern "C" fn telnet_send_synch(t: *mut transport_t) -> marline_status_t {
    guard(|| Ok(telnet_of(t)?.send_synch()?))
}

/// Requests made from now on complete with MARLINE_TELNET_TIMED_OUT when the
/// peer has not answered within `seconds`; ≤ 0 or +infinity turns the timeout
/// off (the default). The option side stays negotiating until the peer's answer
/// does arrive (new requests on it meanwhile get
/// MARLINE_ERR_ALREADY_NEGOTIATING or are queued, as usual); that late answer
/// settles the state (enable/disable callbacks) without a second completion.
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (NaN), MARLINE_ERR_WRONG_HANDLE_TYPE
/// (not a telnet transport), and the handle errors. `t` must not be NULL.
#[no_mangle]
pub extern "C" fn telnet_set_negotiation_timeout(t: *mut transport_t, seconds_: f64) -> marline_status_t {
    guard(|| {
        let timeout = seconds(seconds_)?.limit_if_positive();
        Ok(telnet_of(t)?.set_negotiation_timeout(timeout)?)
    })
}

/// Bounds the payload of the peer's subnegotiations (default 4096 bytes). A
/// peer exceeding it loses the connection with
/// MARLINE_REASON_PROTOCOL_VIOLATION.
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (`bytes` 0),
/// MARLINE_ERR_WRONG_HANDLE_TYPE (not a telnet transport), and the handle
/// errors. `t` must not be NULL.
#[no_mangle]
pub extern "C" fn telnet_set_max_subnegotiation(t: *mut transport_t, bytes: usize) -> marline_status_t {
    guard(|| Ok(telnet_of(t)?.set_max_subnegotiation(bytes)?))
}

/// Handles the peer's subnegotiations of `option` with `cb`, called with
/// `user`, instead of the built-in helpers and unhandled_subnegotiation; a NULL
/// `cb` removes the handler.
///
/// Errors: MARLINE_ERR_WRONG_HANDLE_TYPE (not a telnet transport), and the
/// handle errors. `t` must not be NULL; `cb` may be NULL (removes the handler);
/// `user` may be NULL (it is only passed back).
#[no_mangle]
pub extern "C" fn telnet_set_subnegotiation_handler(
    t: *mut transport_t,
    option: u8,
    cb: marline_telnet_subnegotiation_cb,
    user: *mut c_void,
) -> marline_status_t {
    guard(|| {
        let tn = telnet_of(t)?;
        let user = user as usize;
        let handler = cb.map(|f| {
            Box::new(move |t: &Telnet, data: &[u8]| {
                call_c!(Some(f), h(t), option, data.as_ptr(), data.len(), user as *mut c_void);
            }) as crate::telnet::SubnegotiationFn
        });
        Ok(tn.set_subnegotiation_handler(option, handler)?)
    })
}

/// NAWS, client side: sends our window size (SB NAWS width height). Enable our
/// NAWS side first (telnet_will, or accept the server's DO).
///
/// Errors: MARLINE_ERR_CLOSED (the connection is closing or gone),
/// MARLINE_ERR_NOT_CONNECTED (a client not connected yet),
/// MARLINE_ERR_WRONG_HANDLE_TYPE (not a telnet transport), and the handle
/// errors. `t` must not be NULL.
#[no_mangle]
pub extern "C" fn telnet_send_window_size(t: *mut transport_t, width: u16, height: u16) -> marline_status_t {
    guard(|| Ok(telnet_of(t)?.send_window_size(width, height)?))
}

/// TERMINAL-TYPE, server side: asks for the peer's terminal type (SB TTYPE
/// SEND); the answer arrives through the terminal_type callback.
///
/// Errors: MARLINE_ERR_CLOSED (the connection is closing or gone),
/// MARLINE_ERR_NOT_CONNECTED (a client not connected yet),
/// MARLINE_ERR_WRONG_HANDLE_TYPE (not a telnet transport), and the handle
/// errors. `t` must not be NULL.
#[no_mangle]
pub extern "C" fn telnet_request_terminal_type(t: *mut transport_t) -> marline_status_t {
    guard(|| Ok(telnet_of(t)?.request_terminal_type()?))
}

/// TERMINAL-TYPE, client side: sets the name to answer the peer's SB TTYPE SEND
/// with (copied); NULL stops answering (such requests then reach
/// unhandled_subnegotiation).
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (`name` is not UTF-8),
/// MARLINE_ERR_WRONG_HANDLE_TYPE (not a telnet transport), and the handle
/// errors. `t` must not be NULL; `name` may be NULL (stop answering).
///
/// # Safety
/// `name`, when not NULL, is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn telnet_set_terminal_type(t: *mut transport_t, name: *const c_char) -> marline_status_t {
    guard(|| {
        let tn = telnet_of(t)?;
        if name.is_null() {
            return Ok(tn.set_terminal_type(None)?);
        }
        // SAFETY: forwarded contract.
        let name = unsafe { c_str(name) }?;
        Ok(tn.set_terminal_type(Some(name.as_bytes()))?)
    })
}

/// NEW-ENVIRON, server side: asks for all the peer's variables (SB NEW-ENVIRON
/// SEND); they arrive through the environment callback.
///
/// Errors: MARLINE_ERR_CLOSED (the connection is closing or gone),
/// MARLINE_ERR_NOT_CONNECTED (a client not connected yet),
/// MARLINE_ERR_WRONG_HANDLE_TYPE (not a telnet transport), and the handle
/// errors. `t` must not be NULL.
#[no_mangle]
pub extern "C" fn telnet_request_environment(t: *mut transport_t) -> marline_status_t {
    guard(|| Ok(telnet_of(t)?.request_environment()?))
}

/// NEW-ENVIRON, client side: sends `count` variables (kind IS answers a
/// request, INFO is an update). Everything is copied; the caller keeps
/// ownership.
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (`kind` or a variable's kind out of
/// range, or `count` above MARLINE_IOV_MAX, before `vars` is read),
/// MARLINE_ERR_NULL_POINTER (`vars` NULL with a non-zero `count`, or a NULL
/// name or value with a non-zero length), MARLINE_ERR_NO_MEMORY,
/// MARLINE_ERR_CLOSED (the connection is closing or gone),
/// MARLINE_ERR_NOT_CONNECTED (a client not connected yet),
/// MARLINE_ERR_WRONG_HANDLE_TYPE (not a telnet transport), and the handle
/// errors. `t` must not be NULL; `vars` may be NULL only when `count` is 0.
///
/// # Safety
/// `vars` points to `count` readable elements whose pointers satisfy their
/// lengths.
#[no_mangle]
pub unsafe extern "C" fn telnet_send_environment(
    t: *mut transport_t,
    kind: i32,
    vars: *const marline_telnet_env_var_t,
    count: usize,
) -> marline_status_t {
    guard(|| {
        let kind = match kind {
            0 => EnvKind::Is,
            2 => EnvKind::Info,
            _ => return Err(MARLINE_ERR_INVALID_ARGUMENT.into()),
        };
        // SAFETY: forwarded contract.
        let elems = unsafe { c_array(vars, count) }?;
        let mut list = vec_for(count)?;
        for v in elems {
            let kind = match v.kind {
                0 => EnvVarKind::Var,
                3 => EnvVarKind::UserVar,
                _ => return Err(MARLINE_ERR_INVALID_ARGUMENT.into()),
            };
            // SAFETY: forwarded contract.
            let name = unsafe { c_bytes(v.name, v.name_len) }?.to_vec();
            let value = if v.has_value {
                // SAFETY: forwarded contract.
                Some(unsafe { c_bytes(v.value, v.value_len) }?.to_vec())
            } else {
                None
            };
            list.push(EnvVar { kind, name, value });
        }
        Ok(telnet_of(t)?.send_environment(kind, &list)?)
    })
}

/// Writes the transport the telnet transport wraps (a TCP transport for
/// reactor_listen_telnet / reactor_connect_telnet) to `*out`. It is owned by
/// the reactor, like every transport; use it for TCP options, not for writing
/// (that bypasses telnet escaping).
///
/// Errors: MARLINE_ERR_NOT_CONNECTED (a client not connected yet),
/// MARLINE_ERR_WRONG_HANDLE_TYPE (not a telnet transport), and the handle
/// errors. `t` and `out` must not be NULL.
///
/// # Safety
/// `out` points to a writable `transport_t *`.
#[no_mangle]
pub unsafe extern "C" fn telnet_get_inner(t: *mut transport_t, out: *mut *mut transport_t) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let out = unsafe { Out::new(out) }?;
        let inner: Transport = telnet_of(t)?.inner()?;
        out.write(encode_transport(&inner));
        Ok(())
    })
}
