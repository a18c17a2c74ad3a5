"""Telnet over marline: TelnetProtocol (callbacks) and TelnetTransport (negotiation).

Negotiation requests (will / wont / do / dont) return at once; their outcome arrives
later, from the loop, through the callback you pass: ``callback(result, reason)`` with a
:class:`Result` (OK, OPTION_REFUSED, CONNECTION_LOST with a Reason, TIMED_OUT). A request
that cannot even start (the option is already in that state, a negotiation is already
under way, the connection is closing) raises MarlineError instead, and then the callback
is never called.
"""

import enum
from ctypes import byref, c_bool, c_int, c_void_p, string_at

from . import _core, _lib
from ._core import Protocol, Reason, Transport, _connection, _forget, _guarded, _lookup, _register, call
from ._lib import lib

# Options (TELNET_OPT_*).
BINARY, ECHO, SGA, STATUS, TIMING_MARK = 0, 1, 3, 5, 6
TTYPE, EOR, NAWS, TSPEED, LFLOW, LINEMODE, NEW_ENVIRON = 24, 25, 31, 32, 33, 34, 39

# Commands (TELNET_CMD_*).
CMD_EOR, CMD_NOP, CMD_DM, CMD_BRK, CMD_IP, CMD_AO, CMD_AYT, CMD_EC, CMD_EL, CMD_GA = (
    239, 241, 242, 243, 244, 245, 246, 247, 248, 249)


class Result(enum.IntEnum):
    """marline_telnet_result_t: how a request ended."""
    OK = 0
    OPTION_REFUSED = 1
    ALREADY_ENABLED = 2
    ALREADY_DISABLED = 3
    ALREADY_NEGOTIATING = 4
    CONNECTION_LOST = 5
    TIMED_OUT = 6


class OptionState(enum.IntEnum):
    """marline_telnet_option_state_t (RFC 1143)."""
    NO = 0
    YES = 1
    WANTNO = 2
    WANTNO_OPPOSITE = 3
    WANTYES = 4
    WANTYES_OPPOSITE = 5


class Side(enum.IntEnum):
    LOCAL = 0   # ours: WILL / WONT
    REMOTE = 1  # the peer's: DO / DONT


class Policy(enum.IntEnum):
    ASK = 0     # call enable_local / enable_remote (the default)
    ACCEPT = 1
    REFUSE = 2


class TelnetProtocol(Protocol):
    """A Protocol with telnet's events. data_received gets application data only
    (unescaped, CR LF -> LF). The peer asking to enable an option asks
    enable_local / enable_remote (default: refuse) unless a policy says otherwise."""

    def enable_local(self, option):
        """The peer sent DO option: return True to agree (WILL)."""
        return False

    def enable_remote(self, option):
        """The peer sent WILL option: return True to agree (DO)."""
        return False

    def disable_local(self, option):
        pass

    def disable_remote(self, option):
        pass

    def unhandled_command(self, command):
        pass

    def unhandled_subnegotiation(self, option, data):
        pass

    def window_size(self, width, height):
        pass

    def terminal_type(self, name):
        pass


class _Completion:
    def __init__(self, reactor, fn):
        self.reactor, self.fn = reactor, fn


@_guarded
def _on_completion(_t, option, result, reason, user):
    done = _lookup(user)
    if done is None:
        return
    _forget(user)
    done.reactor._timers.discard(user)
    if done.fn is not None:
        try:
            result = Result(result)
        except ValueError:
            pass
        done.fn(result, Reason._from_c(reason) if reason else None)


_C_COMPLETION = _lib.completion_cb(_on_completion)


class TelnetTransport(Transport):
    """A telnet connection: every Transport call (write escapes IAC) plus negotiation."""

    def _request(self, fn, option, callback):
        token = _register(_Completion(self.reactor, callback))
        status = getattr(lib, fn)(self._h, int(option), _C_COMPLETION, c_void_p(token))
        if status != 0:
            _forget(token)
            raise _core.MarlineError(fn, status)
        self.reactor._timers.add(token)

    def will(self, option, callback=None):
        """Offers to enable our side of ``option`` (IAC WILL)."""
        self._request("telnet_will", option, callback)

    def wont(self, option, callback=None):
        """Disables our side of ``option`` (IAC WONT)."""
        self._request("telnet_wont", option, callback)

    def do(self, option, callback=None):
        """Asks the peer to enable its side of ``option`` (IAC DO)."""
        self._request("telnet_do", option, callback)

    def dont(self, option, callback=None):
        """Asks the peer to disable its side of ``option`` (IAC DONT)."""
        self._request("telnet_dont", option, callback)

    def get_option_state(self, option, side):
        state = c_int()
        call("telnet_get_option_state", self._h, int(option), int(side), byref(state))
        return OptionState(state.value)

    def is_enabled(self, option, side):
        on = c_bool()
        call("telnet_is_enabled", self._h, int(option), int(side), byref(on))
        return on.value

    def set_policy(self, option, side, policy):
        call("telnet_set_policy", self._h, int(option), int(side), int(policy))

    def request_negotiation(self, option, data):
        data = bytes(data)
        call("telnet_request_negotiation", self._h, int(option), data, len(data))

    def send_command(self, command):
        call("telnet_send_command", self._h, int(command))

    def set_negotiation_timeout(self, seconds):
        call("telnet_set_negotiation_timeout", self._h, float(seconds))

    def set_max_subnegotiation(self, nbytes):
        """Bounds the peer's subnegotiation payloads; a peer exceeding it loses the
        connection (ReasonKind.PROTOCOL_VIOLATION) and a warning is logged."""
        call("telnet_set_max_subnegotiation", self._h, int(nbytes))

    def send_window_size(self, width, height):
        call("telnet_send_window_size", self._h, int(width), int(height))

    def request_terminal_type(self):
        call("telnet_request_terminal_type", self._h)

    def set_terminal_type(self, name):
        call("telnet_set_terminal_type", self._h, None if name is None else name.encode())


def _protocol_call(t, user, method, *args, default=None):
    conn = _connection(t, user)
    if conn is None or conn.protocol is None:
        return default
    return getattr(conn.protocol, method)(*args)


def _bool_guarded(fn):
    inner = _guarded(fn)

    def trampoline(*args):
        return bool(inner(*args))
    return trampoline


@_bool_guarded
def _on_enable_local(t, option, user):
    return bool(_protocol_call(t, user, "enable_local", option, default=False))


@_bool_guarded
def _on_enable_remote(t, option, user):
    return bool(_protocol_call(t, user, "enable_remote", option, default=False))


@_guarded
def _on_disable_local(t, option, user):
    _protocol_call(t, user, "disable_local", option)


@_guarded
def _on_disable_remote(t, option, user):
    _protocol_call(t, user, "disable_remote", option)


@_guarded
def _on_command(t, command, user):
    _protocol_call(t, user, "unhandled_command", command)


@_guarded
def _on_subnegotiation(t, option, data, length, user):
    _protocol_call(t, user, "unhandled_subnegotiation", option, string_at(data, length))


@_guarded
def _on_window(t, width, height, user):
    _protocol_call(t, user, "window_size", width, height)


@_guarded
def _on_terminal_type(t, name, length, user):
    _protocol_call(t, user, "terminal_type", string_at(name, length).decode(errors="replace"))


# Created once, kept for the life of the process.
_CALLBACKS = {
    "enable_local": _lib.option_bool_cb(_on_enable_local),
    "enable_remote": _lib.option_bool_cb(_on_enable_remote),
    "disable_local": _lib.option_cb(_on_disable_local),
    "disable_remote": _lib.option_cb(_on_disable_remote),
    "unhandled_command": _lib.option_cb(_on_command),
    "unhandled_subnegotiation": _lib.subneg_cb(_on_subnegotiation),
    "window_size": _lib.window_cb(_on_window),
    "terminal_type": _lib.bytes_cb(_on_terminal_type),
}

_TABLE = _lib.telnet_protocol_t()
_TABLE.connection_made = _core._C_MADE
_TABLE.data_received = _core._C_DATA
_TABLE.connection_lost = _core._C_LOST
_TABLE.connection_failed = _core._C_FAILED
for _name, _fn in _CALLBACKS.items():
    setattr(_TABLE, _name, _fn)
