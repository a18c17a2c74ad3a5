"""Reactor, transports, protocols and delayed calls over the C API.

How callbacks stay safe
-----------------------
C keeps function pointers and ``void *user`` values, never Python objects. So:

* every ctypes callback object (CFUNCTYPE instance) the binding hands to C is created
  once, at import, and kept in this module for the life of the process: C can never call
  a freed trampoline;
* ``user`` is a small integer *token*, looked up in a table (``_objects``) that holds the
  Python objects; an entry leaves the table only when C can no longer name it (after a
  connection's connection_lost / connection_failed, after a delayed call ran or was
  cancelled, after a telnet completion was delivered, when the reactor is closed);
* an exception raised by Python code inside a callback cannot unwind through C: it is
  kept, the reactor is stopped, and ``Reactor.run()`` / ``run_once()`` re-raise it.
"""

import enum
import itertools
import os
import threading
from ctypes import (byref, c_bool, c_double, c_int32, c_size_t, c_void_p, cast, create_string_buffer,
                    string_at)

from . import _lib
from ._lib import lib

# ----- statuses and errors -----


class Status(enum.IntEnum):
    """marline_status_t: stable numbers."""
    OK = 0
    NULL_POINTER = 100
    INVALID_ARGUMENT = 101
    STALE_HANDLE = 102
    WRONG_HANDLE_TYPE = 103
    WRONG_THREAD = 104
    REENTRANT = 105
    PANIC = 106
    CLOSED = 107
    PRODUCER_ALREADY_REGISTERED = 108
    NO_PRODUCER = 109
    NOT_SUPPORTED = 110
    NOT_ACTIVE = 111
    OS = 112
    BUFFER_TOO_SMALL = 113
    TIMED_OUT = 114
    EXHAUSTED = 115
    NO_MEMORY = 116
    ADDRESS_IN_USE = 200
    BAD_ADDRESS = 201
    PERMISSION_DENIED = 202
    NOT_CONNECTED = 203
    REFUSED = 204
    CONNECTION_RESET = 205
    PROCESS_EXITED_ALREADY = 300
    NO_SUCH_CHILD_FD = 301
    BAD_EXECUTABLE = 302
    BAD_WORKING_DIRECTORY = 303
    UNKNOWN_SIGNAL = 304
    BAD_CHILD_FD_MAP = 305
    ALREADY_ENABLED = 400
    ALREADY_DISABLED = 401
    ALREADY_NEGOTIATING = 402
    PASSIVE_OPEN_IN_PROGRESS = 500
    INVALID_STATE = 501
    TERMINATED = 502
    CONNECTION_CLOSING = 503
    STREAM_BUSY = 504


def strerror(status):
    """marline_strerror: the library's description of a status number."""
    return lib.marline_strerror(int(status)).decode()


class MarlineError(Exception):
    """A C call failed. ``status`` is a :class:`Status` (or the raw number if unknown),
    ``function`` the C function that returned it, ``errno`` the operating-system error
    behind it (marline_last_os_error; 0 when no system call failed). Made right after
    the failed call, on its thread."""

    def __init__(self, function, status):
        try:
            status = Status(status)
            name = f"MARLINE_ERR_{status.name}"
        except ValueError:
            name = str(status)
        self.function = function
        self.status = status
        self.errno = lib.marline_last_os_error()
        cause = f"; {os.strerror(self.errno)}" if self.errno else ""
        super().__init__(f"{function}: {strerror(status)} ({name}{cause})")


def check(function, status):
    if status != 0:
        raise MarlineError(function, status)


def call(name, *args):
    check(name, getattr(lib, name)(*args))
    if _schedule_listeners:
        _scheduled()


# ----- embedding: who must hear that marline may have work due -----

# Drivers that run a reactor inside another event loop (marline.asyncio). A call from
# Python may give the loop work that is due without any event on its descriptor: a
# timer, or a callback deferred to the next turn (connection_made of a new process,
# connection_lost after lose_connection). Each call that reaches marline tells them, so
# that they recompute when to run the next turn.
_schedule_listeners = []


def _scheduled():
    for listener in _schedule_listeners:
        listener()


def version():
    """The library's version string (marline_version)."""
    return lib.marline_version().decode()


# ----- plain values -----


class ReasonKind(enum.IntEnum):
    """marline_reason_kind_t."""
    INVALID = -1
    DONE = 0
    LOST = 1
    ABORTED = 2
    REFUSED = 3
    TIMED_OUT = 4
    UNREACHABLE = 5
    RESOLVE_FAILED = 6
    CANCELLED = 7
    SHUTDOWN = 8
    TERMINATED = 9
    PROTOCOL_VIOLATION = 10
    EXIT_STATUS_UNKNOWN = 11
    CONNECT_FAILED = 12


class Reason:
    """Why a connection ended, copied out of the C callback (safe to keep)."""

    def __init__(self, kind, message, errno=0, exit_code=None, signal=None):
        self.kind = kind
        self.message = message
        self.errno = errno
        self.exit_code = exit_code
        self.signal = signal

    @classmethod
    def _from_c(cls, ptr):
        kind = lib.marline_reason_kind(ptr)
        try:
            kind = ReasonKind(kind)
        except ValueError:
            pass
        code, sig = c_int32(), c_int32()
        exit_code = code.value if lib.marline_reason_exit_code(ptr, byref(code)) == 0 else None
        signal = sig.value if lib.marline_reason_signal(ptr, byref(sig)) == 0 else None
        return cls(kind, (lib.marline_reason_message(ptr) or b"").decode(errors="replace"),
                   lib.marline_reason_errno(ptr), exit_code, signal)

    @property
    def clean(self):
        """True for a clean close (ReasonKind.DONE), like Twisted's ConnectionDone."""
        return self.kind == ReasonKind.DONE

    def __repr__(self):
        return f"Reason({self.kind!r}, {self.message!r})"


class Address:
    """An endpoint: ``host`` (text), ``port`` (int; the pid for a process)."""

    def __init__(self, family, host, port, text):
        self.family, self.host, self.port, self.text = family, host, port, text

    @classmethod
    def _take(cls, ptr):
        try:
            text = lib.marline_address_string(ptr).decode()
            family = lib.marline_address_family(ptr)
            port = lib.marline_address_port(ptr)
        finally:
            lib.marline_address_free(ptr)
        host = text.rsplit(":", 1)[0].strip("[]") if family in (4, 6) else text
        return cls(family, host, port, text)

    def __iter__(self):
        return iter((self.host, self.port))

    def __eq__(self, other):
        return isinstance(other, Address) and self.text == other.text

    def __hash__(self):
        return hash(self.text)

    def __repr__(self):
        return f"Address({self.text!r})"


# ----- the token table -----

_tokens = itertools.count(1)
_objects = {}  # token -> object C may name through a `user` pointer
_lock = threading.Lock()  # for registrations from other threads (call_from_thread)


def _register(obj):
    with _lock:
        token = next(_tokens)
        _objects[token] = obj
    return token


def _forget(token):
    with _lock:
        _objects.pop(token, None)


def _lookup(user):
    return _objects.get(user or 0)


# ----- protocols and transports -----


class Protocol:
    """Twisted-shaped protocol: override what you need. ``self.transport`` is set before
    connection_made and stays (stale) after connection_lost."""

    transport = None
    reactor = None

    def make_connection(self, transport):
        self.transport = transport
        self.connection_made()

    def connection_made(self):
        pass

    def data_received(self, data):
        pass

    def connection_lost(self, reason):
        pass

    def connection_failed(self, reason):
        """A client connection could not be made (instead of connection_lost)."""

    def urgent_data_received(self, data):
        """TCP urgent (out-of-band) data arrived: the urgent byte, outside the normal stream.
        Only protocols that override this receive it (the others skip the urgent-mark
        check marline would make, and an urgent byte may then be dropped)."""


class Transport:
    """A checked handle to one connection. After the connection is gone, every call
    raises MarlineError (Status.STALE_HANDLE); it never crashes."""

    def __init__(self, reactor, handle):
        self.reactor = reactor
        self._h = c_void_p(handle)
        self._producer_token = None  # a registered application producer's

    @property
    def handle(self):
        return self._h.value

    def write(self, data):
        data = bytes(data)
        call("transport_write", self._h, data, len(data))

    def write_sequence(self, chunks):
        """Writes several buffers as one gather write."""
        chunks = [bytes(c) for c in chunks]
        iov = (_lib.marline_iovec_t * len(chunks))()
        buffers = [create_string_buffer(c, len(c)) for c in chunks]  # alive during the call
        for i, (c, buf) in enumerate(zip(chunks, buffers)):
            iov[i].base = cast(buf, c_void_p)
            iov[i].len = len(c)
        call("transport_write_sequence", self._h, iov, len(chunks))

    def write_urgent(self, data):
        """Sends ``data`` as TCP urgent data after everything written before it; the
        urgent pointer marks its last byte (the peer's urgent_data_received gets it)."""
        data = bytes(data)
        call("transport_write_urgent", self._h, data, len(data))

    def lose_connection(self):
        call("transport_lose_connection", self._h)

    def lose_write_connection(self):
        call("transport_lose_write_connection", self._h)

    def abort_connection(self):
        call("transport_abort_connection", self._h)

    def get_host(self):
        out = c_void_p()
        call("transport_get_host", self._h, byref(out))
        return Address._take(out)

    def get_peer(self):
        out = c_void_p()
        call("transport_get_peer", self._h, byref(out))
        return Address._take(out)

    def get_write_queue_size(self):
        n = c_size_t()
        call("transport_get_write_queue_size", self._h, byref(n))
        return n.value

    def set_tcp_nodelay(self, on):
        call("transport_set_tcp_nodelay", self._h, bool(on))

    def get_tcp_nodelay(self):
        on = c_bool()
        call("transport_get_tcp_nodelay", self._h, byref(on))
        return on.value

    def set_tcp_keepalive(self, on):
        call("transport_set_tcp_keepalive", self._h, bool(on))

    def pause_producing(self):
        """Stops reading from the connection (the transport as a producer)."""
        call("transport_pause_producing", self._h)

    def resume_producing(self):
        call("transport_resume_producing", self._h)

    def stop_producing(self):
        """Stops reading for good and closes the connection."""
        call("transport_stop_producing", self._h)

    def register_producer(self, producer, streaming):
        """Twisted's registerProducer: ``producer`` has ``pause_producing()``,
        ``resume_producing()`` and ``stop_producing()`` (each optional). A streaming
        producer writes as it likes and is paused past the high-water mark, resumed once
        the queue drains; a pull producer (``streaming=False``) gets resume_producing each
        time the queue empties, the first time on the next loop turn, and writes one
        piece per call. stop_producing comes when the transport goes away; the producer
        is then unregistered."""
        entry = _ProducerEntry(self, producer)
        token = _register(entry)
        status = lib.transport_register_producer(self._h, byref(_PRODUCER_TABLE), c_void_p(token), bool(streaming))
        if status != 0:
            _forget(token)
            raise MarlineError("transport_register_producer", status)
        self._producer_token = token
        _scheduled()

    def register_reading_as_producer(self):
        """Flow control: stop reading while more than the high-water mark of
        written data waits to be sent; start again once it has gone."""
        call("transport_register_reading_as_producer", self._h)

    def unregister_producer(self):
        call("transport_unregister_producer", self._h)
        self._forget_producer()

    def _forget_producer(self):
        token, self._producer_token = self._producer_token, None
        if token is not None:
            _forget(token)

    def set_write_high_water(self, nbytes):
        call("transport_set_write_high_water", self._h, nbytes)

    def __repr__(self):
        return f"<{type(self).__name__} 0x{self.handle or 0:x}>"


class _Listener:
    def __init__(self, reactor, factory, transport_class):
        self.reactor, self.factory, self.transport_class = reactor, factory, transport_class


class _Connection:
    def __init__(self, reactor, protocol, transport_class):
        self.reactor, self.protocol, self.transport_class = reactor, protocol, transport_class
        self.transport = None
        self.token = None


def _build(factory, addr=None):
    if hasattr(factory, "build_protocol"):
        return factory.build_protocol(addr)
    return factory()


def _connection(t, user):
    """The _Connection a callback is about. Accepted connections start with their port's
    _Listener token; the first callback builds the protocol and swaps in its own token."""
    obj = _lookup(user)
    if isinstance(obj, _Connection):
        if obj.transport is None:
            obj.transport = obj.transport_class(obj.reactor, t)
        return obj
    if isinstance(obj, _Listener):
        conn = _Connection(obj.reactor, None, obj.transport_class)
        conn.transport = obj.transport_class(obj.reactor, t)
        conn.token = _register(conn)
        lib.transport_set_user(c_void_p(t), c_void_p(conn.token))
        conn.protocol = _build(obj.factory)
        conn.protocol.reactor = obj.reactor
        return conn
    return None


def _guarded(fn):
    """Wraps a trampoline body: exceptions are kept by the reactor and stop it."""
    def trampoline(*args):
        user = args[-1]
        obj = _lookup(user)
        reactor = obj.reactor if obj is not None else None
        try:
            return fn(*args)
        except BaseException as e:  # noqa: B902 - nothing may unwind into C
            if reactor is not None:
                reactor._fail(e)
            else:
                import traceback
                traceback.print_exc()
            return None
    trampoline.__name__ = fn.__name__
    return trampoline


@_guarded
def _on_made(t, user):
    conn = _connection(t, user)
    if conn is not None and conn.protocol is not None:
        conn.protocol.make_connection(conn.transport)


@_guarded
def _on_data(t, data, length, user):
    conn = _connection(t, user)
    if conn is not None and conn.protocol is not None:
        conn.protocol.data_received(string_at(data, length))


def _ended(t, reason, user, failed):
    conn = _connection(t, user)
    if conn is None:
        return
    try:
        if conn.protocol is not None:
            r = Reason._from_c(reason)
            if failed:
                conn.protocol.connection_failed(r)
            else:
                conn.protocol.connection_lost(r)
    finally:
        # C never names this connection, nor its producer, again.
        conn.transport._forget_producer()
        _forget(conn.token)
        conn.reactor._connections.discard(conn.token)


@_guarded
def _on_lost(t, reason, user):
    _ended(t, reason, user, False)


@_guarded
def _on_failed(t, reason, user):
    _ended(t, reason, user, True)


# The trampolines, created once and kept for the life of the process.
_C_MADE = _lib.made_cb(_on_made)
_C_DATA = _lib.data_cb(_on_data)
_C_LOST = _lib.lost_cb(_on_lost)
_C_FAILED = _lib.lost_cb(_on_failed)


@_guarded
def _on_urgent(t, data, length, user):
    conn = _connection(t, user)
    if conn is not None and conn.protocol is not None:
        conn.protocol.urgent_data_received(string_at(data, length))


_C_URGENT = _lib.data_cb(_on_urgent)

# Two tables: with urgent_data_received for protocols that override it, without for the
# others (marline then skips the urgent-mark check).
_TCP_TABLE = _lib.marline_protocol_t(connection_made=_C_MADE, data_received=_C_DATA, connection_lost=_C_LOST,
                                     connection_failed=_C_FAILED)
_TCP_URGENT_TABLE = _lib.marline_protocol_t(connection_made=_C_MADE, data_received=_C_DATA,
                                            connection_lost=_C_LOST, connection_failed=_C_FAILED,
                                            urgent_data_received=_C_URGENT)


def _tcp_table(factory):
    """The table for connections whose protocols `factory` builds (a Protocol subclass,
    a Protocol, or any other callable, which may build anything: urgent data on)."""
    cls = factory if isinstance(factory, type) else type(factory) if isinstance(factory, Protocol) else None
    if cls is not None and cls.urgent_data_received is Protocol.urgent_data_received:
        return _TCP_TABLE
    return _TCP_URGENT_TABLE


# ----- application producers -----


class _ProducerEntry:
    def __init__(self, transport, producer):
        self.transport, self.producer, self.reactor = transport, producer, transport.reactor


def _producer_call(name):
    @_guarded
    def trampoline(_t, user):
        entry = _lookup(user)
        if entry is None:
            return
        try:
            method = getattr(entry.producer, name, None)
            if method is not None:
                method()
        finally:
            if name == "stop_producing":  # unregistered when this returns
                entry.transport._forget_producer()
    trampoline.__name__ = f"_on_{name}"
    return _lib.made_cb(trampoline)


_PRODUCER_TABLE = _lib.marline_producer_t(*(_producer_call(n) for n in
                                            ("pause_producing", "resume_producing", "stop_producing")))


# ----- delayed calls -----


class DelayedCall:
    """What Reactor.call_later returns (Twisted's IDelayedCall)."""

    def __init__(self, reactor, handle, token):
        self.reactor, self._h, self._token = reactor, c_void_p(handle), token

    def cancel(self):
        """Cancels the call; MarlineError (Status.NOT_ACTIVE) if it already ran or was
        cancelled."""
        call("delayed_call_cancel", self._h)
        _forget(self._token)
        self.reactor._timers.discard(self._token)

    def active(self):
        return bool(lib.delayed_call_active(self._h))

    def reset(self, seconds_from_now):
        call("delayed_call_reset", self._h, float(seconds_from_now))

    def delay(self, seconds):
        call("delayed_call_delay", self._h, float(seconds))

    def time_left(self):
        left = c_double()
        call("delayed_call_get_time_left", self._h, byref(left))
        return left.value


class _Timer:
    def __init__(self, reactor, fn, args, kwargs):
        self.reactor, self.fn, self.args, self.kwargs = reactor, fn, args, kwargs


@_guarded
def _on_timer(_r, user):
    timer = _lookup(user)
    if timer is None:
        return
    _forget(user)
    timer.reactor._timers.discard(user)
    timer.fn(*timer.args, **timer.kwargs)


_C_TIMER = _lib.reactor_cb(_on_timer)


class ListeningPort:
    """A listening TCP (or telnet) port."""

    def __init__(self, reactor, handle):
        self.reactor, self._h = reactor, c_void_p(handle)

    def get_host(self):
        out = c_void_p()
        call("listening_port_get_host", self._h, byref(out))
        return Address._take(out)

    @property
    def port(self):
        p = c_int32()
        call("listening_port_get_port", self._h, byref(p))
        return p.value

    def stop_listening(self):
        call("listening_port_stop", self._h)


# ----- the reactor -----


class Reactor:
    """The event loop (reactor_t). Belongs to the thread that creates it; only stop()
    and call_from_thread() may be called from other threads. Use it as a context manager
    or call close() to free it (open connections then get connection_lost with
    ReasonKind.SHUTDOWN)."""

    def __init__(self):
        h = c_void_p()
        call("reactor_new", byref(h))
        self._h = h
        self._pending = None
        self._timers = set()
        self._connections = set()
        self._listeners = set()
        self._closed = False

    @property
    def handle(self):
        return self._h.value

    # -- running --

    def _fail(self, exc):
        if self._pending is None:
            self._pending = exc
        lib.reactor_stop(self._h)

    def _raise_pending(self):
        if self._pending is not None:
            exc, self._pending = self._pending, None
            raise exc

    def run(self):
        """Runs until stop(); re-raises the first exception a callback raised."""
        status = lib.reactor_run(self._h)
        self._raise_pending()
        check("reactor_run", status)

    def run_once(self, timeout=0.0):
        """One loop turn, waiting up to ``timeout`` seconds (negative: no limit)."""
        status = lib.reactor_run_once(self._h, float(timeout))
        self._raise_pending()
        check("reactor_run_once", status)

    def run_until(self, predicate, timeout=10.0, step=0.01):
        """Runs turns until ``predicate()`` is true or ``timeout`` seconds pass; returns
        the predicate's last value (a testing convenience)."""
        import time
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            self.run_once(step)
        return predicate()

    def stop(self):
        """Makes run() return at its next turn. Thread-safe."""
        call("reactor_stop", self._h)

    def backend_fd(self):
        """The epoll descriptor: poll it for readability to embed marline in another loop."""
        fd = c_int32()
        call("reactor_backend_fd", self._h, byref(fd))
        return fd.value

    def next_timeout(self):
        """Seconds a foreign loop may wait before run_once(0) has work; None when nothing
        is scheduled."""
        t = c_double()
        call("reactor_next_timeout", self._h, byref(t))
        return None if t.value < 0 else t.value

    # -- scheduling --

    def call_later(self, delay, fn, *args, **kwargs):
        """Runs ``fn(*args, **kwargs)`` once, ``delay`` seconds from now. Calls due at the
        same time run in the order scheduled."""
        token = _register(_Timer(self, fn, args, kwargs))
        out = c_void_p()
        status = lib.reactor_call_later(self._h, float(delay), _C_TIMER, c_void_p(token), byref(out))
        if status != 0:
            _forget(token)
            raise MarlineError("reactor_call_later", status)
        self._timers.add(token)
        _scheduled()
        return DelayedCall(self, out.value, token)

    def call_from_thread(self, fn, *args, **kwargs):
        """Queues ``fn(*args, **kwargs)`` to run on the reactor's thread. Thread-safe."""
        token = _register(_Timer(self, fn, args, kwargs))
        status = lib.reactor_call_from_thread(self._h, _C_THREAD, c_void_p(token))
        if status != 0:
            _forget(token)
            raise MarlineError("reactor_call_from_thread", status)
        with _lock:
            self._timers.add(token)

    # -- TCP --

    def listen_tcp(self, port, factory, backlog=0, interface="127.0.0.1"):
        """Listens on ``interface``:``port`` (0: a free port; see ListeningPort.port).
        ``factory`` is a callable returning a Protocol (a Protocol subclass will do) or an
        object with ``build_protocol(addr)``."""
        return self._listen("reactor_listen_tcp", _tcp_table(factory), Transport, port, factory, backlog,
                            interface)

    def connect_tcp(self, host, port, factory, timeout=30.0):
        """Connects; returns the Transport at once (writes are queued until connected).
        The protocol gets connection_made, or connection_failed(reason)."""
        return self._connect("reactor_connect_tcp", _tcp_table, Transport, host, port, factory, timeout)

    def _listen(self, fn, table, transport_class, port, factory, backlog, interface):
        token = _register(_Listener(self, factory, transport_class))
        out = c_void_p()
        status = getattr(lib, fn)(self._h, interface.encode(), int(port), int(backlog), byref(table),
                                  c_void_p(token), byref(out))
        if status != 0:
            _forget(token)
            raise MarlineError(fn, status)
        self._listeners.add(token)  # kept until close(): accepted connections name it
        return ListeningPort(self, out.value)

    def _connect(self, fn, table_for, transport_class, host, port, factory, timeout):
        protocol = _build(factory)
        table = table_for(protocol)
        protocol.reactor = self
        conn = _Connection(self, protocol, transport_class)
        conn.token = _register(conn)
        out = c_void_p()
        status = getattr(lib, fn)(self._h, host.encode(), int(port), float(timeout), byref(table),
                                  c_void_p(conn.token), byref(out))
        if status != 0:
            _forget(conn.token)
            raise MarlineError(fn, status)
        self._connections.add(conn.token)
        conn.transport = transport_class(self, out.value)
        _scheduled()
        return conn.transport

    # -- telnet --

    def listen_telnet(self, port, factory, backlog=0, interface="127.0.0.1"):
        """As listen_tcp, for telnet: the factory's protocols should derive from
        marline.telnet.TelnetProtocol; their transport is a TelnetTransport."""
        from . import telnet
        return self._listen("reactor_listen_telnet", telnet._TABLE, telnet.TelnetTransport, port, factory,
                            backlog, interface)

    def connect_telnet(self, host, port, factory, timeout=30.0):
        """As connect_tcp, for telnet; returns a TelnetTransport."""
        from . import telnet
        return self._connect("reactor_connect_telnet", lambda _: telnet._TABLE, telnet.TelnetTransport, host,
                             port, factory, timeout)

    # -- processes --

    def spawn_process(self, protocol, executable, args=None, env=None, path=None, use_pty=False,
                      child_fds=None):
        """Starts a child process (Twisted's spawnProcess); see marline.process. Returns a
        ProcessTransport at once; failures (bad executable, directory or fd map) raise."""
        from . import process
        return process.spawn(self, protocol, executable, args, env, path, use_pty, child_fds)

    # -- freeing --

    def close(self):
        """Frees the reactor (reactor_free). Open connections get connection_lost (or
        connection_failed) first; pending calls are dropped. Idempotent."""
        if self._closed:
            return
        status = lib.reactor_free(self._h)
        if status == Status.REENTRANT:
            raise MarlineError("reactor_free", status)
        self._closed = True
        for token in list(self._timers) + list(self._connections) + list(self._listeners):
            _forget(token)
        self._timers.clear()
        self._connections.clear()
        self._listeners.clear()
        self._raise_pending()
        check("reactor_free", status)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


@_guarded
def _on_thread(_r, user):
    job = _lookup(user)
    if job is None:
        return
    _forget(user)
    with _lock:
        job.reactor._timers.discard(user)
    job.fn(*job.args, **job.kwargs)


_C_THREAD = _lib.reactor_cb(_on_thread)


# ----- logging -----

_log_state = threading.local()


class LogLevel(enum.IntEnum):
    """marline_log_level_t."""
    DEBUG = 0
    INFO = 1
    WARN = 2
    ERROR = 3


def set_log_callback(fn):
    """Delivers the library's log messages of reactors on the calling thread to
    ``fn(level: LogLevel, message: str)``; ``None`` removes it. Per thread, like
    marline_set_log_callback."""
    if fn is None:
        call("marline_set_log_callback", _lib.log_cb(), None)
        _log_state.cb = None
        return

    def deliver(level, message, _user):
        try:
            fn(LogLevel(level), message.decode(errors="replace"))
        except BaseException:  # noqa: B902 - nothing may unwind into C
            import traceback
            traceback.print_exc()

    c_fn = _lib.log_cb(deliver)
    call("marline_set_log_callback", c_fn, None)
    _log_state.cb = c_fn  # kept alive for as long as C may call it
