"""Blocking TCP streams in the style of MacTCP (tcp_stream_*): no reactor, no callbacks
to run; each call blocks (ctypes releases the GIL meanwhile), and each stream has threads
of its own: one that owns the socket and one on which its notification routine (``asr``)
runs.

    with marline.stream.TcpStream() as server:
        server.passive_open(0)                      # returns at once
        port = server.get_sock_name().port
        ...                                         # a client connects to port
        server.wait(5)                              # the passive open completed
        data, urgent, mark = server.rcv(5)
        server.send(b"reply", push=True)
        server.close(5)

A stream may be used from any thread: one receive and one send (or close) may be in
progress at once, from two threads; a second call of the same kind fails with
Status.STREAM_BUSY. ``abort`` ends whatever is in progress, ``free`` cancels it.
"""

import enum
import traceback
from ctypes import byref, c_bool, c_size_t, c_void_p, create_string_buffer, sizeof

from . import _lib
from ._core import Address, _forget, _lookup, _register, call
from ._lib import lib


class StreamEvent(enum.IntEnum):
    """tcp_stream_event_t: what the asr is told (MacTCP's numbers)."""
    CLOSING = 1
    ULP_TIMEOUT = 2
    TERMINATE = 3
    DATA_ARRIVAL = 4
    URGENT = 5
    ICMP_RECEIVED = 6
    PASSIVE_OPEN_DONE = 32766


class TerminateReason(enum.IntEnum):
    """TCP_STREAM_REASON_*: the detail of StreamEvent.TERMINATE."""
    REMOTE_ABORT = 2
    NETWORK_FAILURE = 3
    ULP_TIMEOUT = 5
    ULP_ABORT = 6
    ULP_CLOSE = 7
    SERVICE_ERROR = 8


# tcp_stream_set_ulp_timeout's actions.
ULP_REPORT, ULP_ABORT = 0, 1


class StreamState(enum.IntEnum):
    """TCP_STREAM_STATE_*: StreamStatus.state."""
    CLOSED = 0
    LISTEN = 2
    SYN_RECEIVED = 4
    SYN_SENT = 6
    ESTABLISHED = 8
    FIN_WAIT_1 = 10
    FIN_WAIT_2 = 12
    CLOSING = 16
    CLOSE_WAIT = 18
    TIME_WAIT = 20
    LAST_ACK = 22


class StreamStatus:
    """A copy of tcp_stream_status_t: every field by name; ``state`` a StreamState,
    ``local_host`` / ``remote_host`` the address bytes (4 for IPv4, 16 for IPv6)."""

    def __init__(self, st):
        for name, _ in _lib.tcp_stream_status_t._fields_:
            setattr(self, name, getattr(st, name))
        n = 4 if st.family == 4 else 16
        self.local_host = bytes(st.local_host)[:n]
        self.remote_host = bytes(st.remote_host)[:n]
        self.state = StreamState(st.state)

    def __repr__(self):
        return f"<StreamStatus {self.state.name} {self.local_port}->{self.remote_port}>"


class TcpStream:
    """One blocking TCP stream (tcp_stream_t). ``free()`` (or leaving a ``with`` block)
    releases it; every call after that raises MarlineError (Status.STALE_HANDLE)."""

    def __init__(self):
        h = c_void_p()
        call("tcp_stream_new", byref(h))
        self._h = h
        self._token = None
        self._freed = False

    def set_asr(self, fn):
        """``fn(event: StreamEvent, detail: int)`` runs on the stream's engine thread for
        each notification; ``None`` removes it. An exception it raises is printed (it
        cannot reach the thread that made the call)."""
        token = None if fn is None else _register(_Asr(fn))
        call("tcp_stream_set_asr", self._h, _C_ASR if fn is not None else _lib.stream_asr_cb(), c_void_p(token))
        old, self._token = self._token, token
        if old is not None:
            _forget(old)

    def passive_open(self, port=0, interface=None):
        """Waits for one connection on ``port`` (0: a free one) of ``interface`` (an
        address of this host; None: every IPv4 interface); returns at once."""
        if interface is None:
            call("tcp_stream_passive_open", self._h, int(port))
        else:
            call("tcp_stream_passive_open_on", self._h, interface.encode(), int(port))

    def wait(self, timeout=0.0):
        """Blocks until the passive open completes (0: no limit)."""
        call("tcp_stream_wait", self._h, float(timeout))

    def is_done(self):
        done = c_bool()
        call("tcp_stream_isdone", self._h, byref(done))
        return done.value

    def get_sock_name(self):
        out = c_void_p()
        call("tcp_stream_get_sock_name", self._h, byref(out))
        return Address._take(out)

    def active_open(self, host, port, local_port=0, timeout=0.0):
        """Connects, blocking until established or failed (0: no limit)."""
        call("tcp_stream_active_open", self._h, int(local_port), host.encode(), int(port), float(timeout))

    def send(self, data, push=False, urgent=False):
        """Sends ``data``, blocking until the kernel took it all. ``urgent``: as TCP urgent
        data, the urgent pointer at its end."""
        data = bytes(data)
        call("tcp_stream_send", self._h, data, len(data), bool(push), bool(urgent))

    def rcv(self, timeout=0.0, cap=65536):
        """The next piece of data, at most ``cap`` bytes, waiting up to ``timeout`` seconds
        (0: no limit): ``(data, urgent, mark)``. Urgent data comes first, never merged
        with normal data: ``urgent`` is true for its first piece, ``mark`` for its last,
        the urgent byte itself (a lone urgent byte has both). At the peer's end of stream:
        MarlineError (Status.CONNECTION_CLOSING)."""
        buf = create_string_buffer(cap)
        n, urgent, mark = c_size_t(), c_bool(), c_bool()
        call("tcp_stream_rcv", self._h, float(timeout), buf, cap, byref(n), byref(urgent), byref(mark))
        return buf.raw[:n.value], urgent.value, mark.value

    def close(self, timeout=0.0):
        """Closes our side; blocks until the peer acknowledged all our data (0: no limit)."""
        call("tcp_stream_close", self._h, float(timeout))

    def set_ulp_timeout(self, seconds, abort=False):
        """When sent data stays unacknowledged for ``seconds`` (0: off, the default):
        abort the connection (``abort=True``) or tell the asr StreamEvent.ULP_TIMEOUT,
        again for every further ``seconds``."""
        call("tcp_stream_set_ulp_timeout", self._h, float(seconds), ULP_ABORT if abort else ULP_REPORT)

    def abort(self):
        """Resets the connection (RST) at once."""
        call("tcp_stream_abort", self._h)

    def status(self):
        st = _lib.tcp_stream_status_t(size=sizeof(_lib.tcp_stream_status_t))
        call("tcp_stream_status", self._h, byref(st))
        return StreamStatus(st)

    def free(self):
        """Frees the stream (closing a connection as close(2) does). Idempotent."""
        if self._freed:
            return
        call("tcp_stream_free", self._h)
        self._freed = True
        if self._token is not None:
            _forget(self._token)  # no asr runs once tcp_stream_free has returned
            self._token = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.free()
        return False


class _Asr:
    def __init__(self, fn):
        self.fn = fn


def _on_asr(_stream, event, detail, user):
    asr = _lookup(user)
    if asr is None:
        return
    try:
        try:
            event = StreamEvent(event)
        except ValueError:
            pass
        asr.fn(event, detail)
    except BaseException:  # noqa: B902 - nothing may unwind into C
        traceback.print_exc()


_C_ASR = _lib.stream_asr_cb(_on_asr)  # created once, kept for the life of the process

__all__ = ["StreamEvent", "StreamState", "StreamStatus", "TcpStream", "TerminateReason"]
