"""Loading libmarline's C API and declaring the C functions the binding calls (ctypes).

The C API is looked up, in order:

1. ``$MARLINE_LIB``: a path to libmarline.so (or any file name ctypes can load);
2. the package's extension module ``marline._native``, which `pip install` builds: it
   links marline and exports its whole C API;
3. in the source tree (this file in ``bindings/python/marline/`` of the repository), the
   build's ``target/release/libmarline.so``, then ``target/debug/libmarline.so``;
4. the system: the soname of this version's ABI (``SONAME``, e.g. ``libmarline.so.0.2``)
   through the dynamic loader (``make install``), or what
   ``ctypes.util.find_library("marline")`` finds.

The library must have the binding's own version (``VERSION``): anything else is an
ImportError, never a crash later.
"""

import ctypes
import ctypes.util
import importlib.util
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char_p, c_double, c_int,
                    c_int32, c_int64, c_size_t, c_uint8, c_uint16, c_uint32, c_uint64, c_void_p)
from pathlib import Path

# The binding's version: the library it loads must say the same (marline_version).
VERSION = "0.2.0"
# The soname of that version's ABI (the rule of build.rs: 0.MINOR while 0.x, else MAJOR).
_MAJOR, _MINOR = VERSION.split(".")[:2]
SONAME = f"libmarline.so.{_MAJOR}.{_MINOR}" if _MAJOR == "0" else f"libmarline.so.{_MAJOR}"

REPO_ROOT = Path(__file__).resolve().parents[3]


def _candidates():
    env = os.environ.get("MARLINE_LIB")
    if env:
        yield env
        return
    native = importlib.util.find_spec("marline._native")
    if native is not None and native.origin:
        yield native.origin
    if (REPO_ROOT / "include" / "marline.h").is_file():
        for profile in ("release", "debug"):
            p = REPO_ROOT / "target" / profile / "libmarline.so"
            if p.is_file():
                yield str(p)
    yield SONAME
    found = ctypes.util.find_library("marline")
    if found:
        yield found


def _load():
    errors = []
    for name in _candidates():
        try:
            lib = ctypes.CDLL(name)
        except OSError as e:
            errors.append(f"{name}: {e}")
            continue
        try:
            version = ctypes.CFUNCTYPE(c_char_p)(("marline_version", lib))().decode()
        except AttributeError:
            version = "none (no marline_version)"
        if version != VERSION:
            raise ImportError(f"marline: {name} is libmarline {version}, but this binding is {VERSION}: "
                              "install the package again (pip install ./bindings/python) or point MARLINE_LIB "
                              "at a matching library")
        return lib, name
    raise ImportError(
        "marline: cannot load libmarline; install the package with `pip install ./bindings/python`, "
        "build the library with `make`, or point MARLINE_LIB at it. Tried:\n  " + "\n  ".join(errors or ["nothing"]))


lib, path = _load()

# ----- callback types (marline.h) -----
reactor_cb = CFUNCTYPE(None, c_void_p, c_void_p)
made_cb = CFUNCTYPE(None, c_void_p, c_void_p)
data_cb = CFUNCTYPE(None, c_void_p, c_void_p, c_size_t, c_void_p)
lost_cb = CFUNCTYPE(None, c_void_p, c_void_p, c_void_p)
option_bool_cb = CFUNCTYPE(c_bool, c_void_p, c_uint8, c_void_p)
option_cb = CFUNCTYPE(None, c_void_p, c_uint8, c_void_p)
subneg_cb = CFUNCTYPE(None, c_void_p, c_uint8, c_void_p, c_size_t, c_void_p)
window_cb = CFUNCTYPE(None, c_void_p, c_uint16, c_uint16, c_void_p)
bytes_cb = CFUNCTYPE(None, c_void_p, c_void_p, c_size_t, c_void_p)
env_cb = CFUNCTYPE(None, c_void_p, c_int, c_void_p, c_size_t, c_void_p)
completion_cb = CFUNCTYPE(None, c_void_p, c_uint8, c_int, c_void_p, c_void_p)
log_cb = CFUNCTYPE(None, c_int, c_char_p, c_void_p)


class _Sized(Structure):
    """A struct whose first field is its size (a callback table): the ABI rule asks for
    size = sizeof, set here when the struct is made; other arguments fill the fields
    after it."""

    def __init__(self, *args, **kwargs):
        super().__init__(ctypes.sizeof(self), *args, **kwargs)


class marline_protocol_t(_Sized):
    _fields_ = [
        ("size", c_size_t),
        ("connection_made", made_cb),
        ("data_received", data_cb),
        ("connection_lost", lost_cb),
        ("connection_failed", lost_cb),
        ("read_connection_lost", made_cb),
        ("write_connection_lost", made_cb),
        ("urgent_data_received", data_cb),
    ]


class telnet_protocol_t(_Sized):
    _fields_ = [
        ("size", c_size_t),
        ("connection_made", made_cb),
        ("data_received", data_cb),
        ("connection_lost", lost_cb),
        ("connection_failed", lost_cb),
        ("enable_local", option_bool_cb),
        ("enable_remote", option_bool_cb),
        ("disable_local", option_cb),
        ("disable_remote", option_cb),
        ("unhandled_command", option_cb),
        ("unhandled_subnegotiation", subneg_cb),
        ("window_size", window_cb),
        ("terminal_type", bytes_cb),
        ("environment", env_cb),
        ("read_connection_lost", made_cb),
        ("write_connection_lost", made_cb),
    ]


class marline_iovec_t(Structure):
    _fields_ = [("base", c_void_p), ("len", c_size_t)]


class marline_producer_t(_Sized):
    _fields_ = [("size", c_size_t), ("pause_producing", made_cb), ("resume_producing", made_cb),
                ("stop_producing", made_cb)]


# ----- processes -----
child_data_cb = CFUNCTYPE(None, c_void_p, c_int32, c_void_p, c_size_t, c_void_p)
child_lost_cb = CFUNCTYPE(None, c_void_p, c_int32, c_void_p)


class marline_child_fd_t(Structure):
    _fields_ = [("child_fd", c_int32), ("kind", c_int32), ("parent_fd", c_int32)]


class marline_process_protocol_t(_Sized):
    _fields_ = [
        ("size", c_size_t),
        ("connection_made", made_cb),
        ("child_data_received", child_data_cb),
        ("child_connection_lost", child_lost_cb),
        ("process_exited", lost_cb),
        ("process_ended", lost_cb),
    ]


# ----- process bridges -----
bridge_data_cb = CFUNCTYPE(None, c_void_p, c_void_p, c_void_p, c_size_t, c_void_p)
bridge_status_cb = CFUNCTYPE(None, c_void_p, c_void_p, c_int32, c_void_p)
bridge_signal_cb = CFUNCTYPE(None, c_void_p, c_void_p, c_char_p, c_bool, c_void_p)
bridge_ended_cb = CFUNCTYPE(None, c_void_p, c_void_p, c_void_p, c_void_p)


class marline_bridge_callbacks_t(_Sized):
    _fields_ = [
        ("size", c_size_t),
        ("extended_data", bridge_data_cb),
        ("exit_status", bridge_status_cb),
        ("exit_signal", bridge_signal_cb),
        ("process_ended", bridge_ended_cb),
    ]


# ----- blocking streams -----
stream_asr_cb = CFUNCTYPE(None, c_void_p, c_int, c_int32, c_void_p)


class tcp_stream_status_t(Structure):
    _fields_ = [
        ("size", c_size_t),
        ("state", c_int32),
        ("family", c_int32),
        ("local_host", c_uint8 * 16),
        ("remote_host", c_uint8 * 16),
        ("local_port", c_uint16),
        ("remote_port", c_uint16),
        ("tos", c_uint32),
        ("send_window", c_uint32),
        ("receive_window", c_uint32),
        ("unacked_bytes", c_uint32),
        ("unread_bytes", c_uint32),
        ("congestion_window", c_uint32),
        ("smoothed_rtt_us", c_uint32),
        ("rtt_variance_us", c_uint32),
        ("min_rtt_us", c_uint32),
        ("max_segment_size", c_uint32),
        ("bytes_sent", c_uint64),
        ("bytes_acked", c_uint64),
        ("bytes_received", c_uint64),
    ]


_S = c_int  # marline_status_t
P = c_void_p

_prototypes = {
    # errors, version, logging
    "marline_strerror": (c_char_p, [c_int32]),
    "marline_version": (c_char_p, []),
    "marline_last_os_error": (c_int32, []),
    "marline_set_log_callback": (_S, [log_cb, P]),
    # reactor
    "reactor_new": (_S, [POINTER(c_void_p)]),
    "reactor_free": (_S, [P]),
    "reactor_run": (_S, [P]),
    "reactor_run_once": (_S, [P, c_double]),
    "reactor_stop": (_S, [P]),
    "reactor_call_from_thread": (_S, [P, reactor_cb, P]),
    "reactor_backend_fd": (_S, [P, POINTER(c_int32)]),
    "reactor_next_timeout": (_S, [P, POINTER(c_double)]),
    "reactor_call_later": (_S, [P, c_double, reactor_cb, P, POINTER(c_void_p)]),
    "delayed_call_cancel": (_S, [P]),
    "delayed_call_reset": (_S, [P, c_double]),
    "delayed_call_delay": (_S, [P, c_double]),
    "delayed_call_active": (c_bool, [P]),
    "delayed_call_get_time_left": (_S, [P, POINTER(c_double)]),
    # tcp
    "reactor_listen_tcp": (_S, [P, c_char_p, c_int32, c_int32, POINTER(marline_protocol_t), P, POINTER(c_void_p)]),
    "reactor_connect_tcp": (_S, [P, c_char_p, c_int32, c_double, POINTER(marline_protocol_t), P, POINTER(c_void_p)]),
    "listening_port_get_host": (_S, [P, POINTER(c_void_p)]),
    "listening_port_get_port": (_S, [P, POINTER(c_int32)]),
    "listening_port_stop": (_S, [P]),
    "transport_get_tcp_nodelay": (_S, [P, POINTER(c_bool)]),
    "transport_set_tcp_nodelay": (_S, [P, c_bool]),
    "transport_set_tcp_keepalive": (_S, [P, c_bool]),
    # transport
    "transport_write": (_S, [P, c_char_p, c_size_t]),
    "transport_write_sequence": (_S, [P, POINTER(marline_iovec_t), c_size_t]),
    "transport_lose_connection": (_S, [P]),
    "transport_lose_write_connection": (_S, [P]),
    "transport_abort_connection": (_S, [P]),
    "transport_get_host": (_S, [P, POINTER(c_void_p)]),
    "transport_get_peer": (_S, [P, POINTER(c_void_p)]),
    "transport_set_user": (_S, [P, P]),
    "transport_get_write_queue_size": (_S, [P, POINTER(c_size_t)]),
    "transport_pause_producing": (_S, [P]),
    "transport_resume_producing": (_S, [P]),
    "transport_stop_producing": (_S, [P]),
    "transport_register_producer": (_S, [P, POINTER(marline_producer_t), P, c_bool]),
    "transport_register_reading_as_producer": (_S, [P]),
    "transport_unregister_producer": (_S, [P]),
    "transport_write_urgent": (_S, [P, c_char_p, c_size_t]),
    "transport_set_write_high_water": (_S, [P, c_size_t]),
    # addresses and reasons
    "marline_address_family": (c_int, [P]),
    "marline_address_port": (c_int64, [P]),
    "marline_address_string": (c_char_p, [P]),
    "marline_address_free": (None, [P]),
    "marline_reason_kind": (c_int, [P]),
    "marline_reason_errno": (c_int32, [P]),
    "marline_reason_message": (c_char_p, [P]),
    "marline_reason_exit_code": (_S, [P, POINTER(c_int32)]),
    "marline_reason_signal": (_S, [P, POINTER(c_int32)]),
    # telnet
    "reactor_listen_telnet": (_S, [P, c_char_p, c_int32, c_int32, POINTER(telnet_protocol_t), P, POINTER(c_void_p)]),
    "reactor_connect_telnet": (_S, [P, c_char_p, c_int32, c_double, POINTER(telnet_protocol_t), P, POINTER(c_void_p)]),
    "telnet_will": (_S, [P, c_uint8, completion_cb, P]),
    "telnet_wont": (_S, [P, c_uint8, completion_cb, P]),
    "telnet_do": (_S, [P, c_uint8, completion_cb, P]),
    "telnet_dont": (_S, [P, c_uint8, completion_cb, P]),
    "telnet_get_option_state": (_S, [P, c_uint8, c_int32, POINTER(c_int)]),
    "telnet_is_enabled": (_S, [P, c_uint8, c_int32, POINTER(c_bool)]),
    "telnet_set_policy": (_S, [P, c_uint8, c_int32, c_int32]),
    "telnet_request_negotiation": (_S, [P, c_uint8, c_char_p, c_size_t]),
    "telnet_send_command": (_S, [P, c_uint8]),
    "telnet_set_negotiation_timeout": (_S, [P, c_double]),
    "telnet_set_max_subnegotiation": (_S, [P, c_size_t]),
    "telnet_send_window_size": (_S, [P, c_uint16, c_uint16]),
    "telnet_request_terminal_type": (_S, [P]),
    "telnet_set_terminal_type": (_S, [P, c_char_p]),
    # processes
    "reactor_spawn_process": (_S, [P, c_char_p, POINTER(c_char_p), POINTER(c_char_p), c_char_p,
                                   POINTER(marline_child_fd_t), c_size_t, c_bool,
                                   POINTER(marline_process_protocol_t), P, POINTER(c_void_p)]),
    "process_write_to_child": (_S, [P, c_int32, c_char_p, c_size_t]),
    "process_close_child_fd": (_S, [P, c_int32]),
    "process_close_stdin": (_S, [P]),
    "process_signal": (_S, [P, c_int32]),
    "process_signal_by_name": (_S, [P, c_char_p]),
    "process_get_pid": (_S, [P, POINTER(c_int32)]),
    "process_set_window_size": (_S, [P, c_uint16, c_uint16]),
    # process bridges
    "process_bridge": (_S, [P, c_bool, POINTER(marline_bridge_callbacks_t), P, POINTER(c_void_p)]),
    "process_bridge_feed": (_S, [P, c_char_p, c_size_t]),
    "process_bridge_remote_eof": (_S, [P]),
    "process_bridge_spawn": (_S, [P, c_char_p, POINTER(c_char_p), POINTER(c_char_p), c_char_p, c_bool,
                                  POINTER(c_void_p)]),
    "process_bridge_spawn_pty": (_S, [P, c_char_p, POINTER(c_char_p), POINTER(c_char_p), c_char_p, c_uint16,
                                      c_uint16, POINTER(c_void_p)]),
    "process_bridge_close": (_S, [P]),
    # blocking streams
    "tcp_stream_new": (_S, [POINTER(c_void_p)]),
    "tcp_stream_free": (_S, [P]),
    "tcp_stream_set_asr": (_S, [P, stream_asr_cb, P]),
    "tcp_stream_passive_open": (_S, [P, c_int32]),
    "tcp_stream_passive_open_on": (_S, [P, c_char_p, c_int32]),
    "tcp_stream_set_ulp_timeout": (_S, [P, c_double, c_int32]),
    "tcp_stream_wait": (_S, [P, c_double]),
    "tcp_stream_isdone": (_S, [P, POINTER(c_bool)]),
    "tcp_stream_get_sock_name": (_S, [P, POINTER(c_void_p)]),
    "tcp_stream_active_open": (_S, [P, c_int32, c_char_p, c_int32, c_double]),
    "tcp_stream_send": (_S, [P, c_char_p, c_size_t, c_bool, c_bool]),
    "tcp_stream_rcv": (_S, [P, c_double, c_void_p, c_size_t, POINTER(c_size_t), POINTER(c_bool),
                            POINTER(c_bool)]),
    "tcp_stream_close": (_S, [P, c_double]),
    "tcp_stream_abort": (_S, [P]),
    "tcp_stream_status": (_S, [P, POINTER(tcp_stream_status_t)]),
}

for _name, (_res, _args) in _prototypes.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args


