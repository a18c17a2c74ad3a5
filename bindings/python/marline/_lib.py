"""Loading libmarline and declaring the C functions the binding calls (ctypes).

The library is looked up, in order:

1. ``$MARLINE_LIB``: a path to libmarline.so (or any file name ctypes can load);
2. the repository's ``target/release/libmarline.so``, then ``target/debug/libmarline.so``
   (this file lives in ``bindings/python/marline/`` of the repository);
3. the system: ``libmarline.so.0`` through the dynamic loader (``make install``), or what
   ``ctypes.util.find_library("marline")`` finds.
"""

import ctypes
import ctypes.util
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char_p, c_double, c_int,
                    c_int32, c_int64, c_size_t, c_uint8, c_uint16, c_void_p)
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def _candidates():
    env = os.environ.get("MARLINE_LIB")
    if env:
        yield env
        return
    for profile in ("release", "debug"):
        p = REPO_ROOT / "target" / profile / "libmarline.so"
        if p.is_file():
            yield str(p)
    yield "libmarline.so.0"
    found = ctypes.util.find_library("marline")
    if found:
        yield found


def _load():
    errors = []
    for name in _candidates():
        try:
            return ctypes.CDLL(name), name
        except OSError as e:
            errors.append(f"{name}: {e}")
    raise ImportError(
        "marline: cannot load libmarline.so; build it with `make` (or `cargo build --release`), "
        "install it with `make install`, or point MARLINE_LIB at it. Tried:\n  " + "\n  ".join(errors or ["nothing"]))


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


class marline_protocol_t(Structure):
    _fields_ = [
        ("connection_made", made_cb),
        ("data_received", data_cb),
        ("connection_lost", lost_cb),
        ("connection_failed", lost_cb),
        ("read_connection_lost", made_cb),
        ("write_connection_lost", made_cb),
        ("urgent_data_received", data_cb),
    ]


class telnet_protocol_t(Structure):
    _fields_ = [
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
    "transport_register_reading_as_producer": (_S, [P]),
    "transport_unregister_producer": (_S, [P]),
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
}

for _name, (_res, _args) in _prototypes.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args


# ----- processes -----
child_data_cb = CFUNCTYPE(None, c_void_p, c_int32, c_void_p, c_size_t, c_void_p)
child_lost_cb = CFUNCTYPE(None, c_void_p, c_int32, c_void_p)


class marline_child_fd_t(Structure):
    _fields_ = [("child_fd", c_int32), ("kind", c_int32), ("parent_fd", c_int32)]


class marline_process_protocol_t(Structure):
    _fields_ = [
        ("connection_made", made_cb),
        ("child_data_received", child_data_cb),
        ("child_connection_lost", child_lost_cb),
        ("process_exited", lost_cb),
        ("process_ended", lost_cb),
    ]


_process_prototypes = {
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
}

# The process API is optional so that the binding still loads an older library.
HAVE_PROCESS = hasattr(lib, "reactor_spawn_process")
if HAVE_PROCESS:
    for _name, (_res, _args) in _process_prototypes.items():
        _f = getattr(lib, _name)
        _f.restype = _res
        _f.argtypes = _args
