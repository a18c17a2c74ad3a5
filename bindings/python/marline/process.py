"""Child processes: ProcessProtocol (Twisted-shaped) and ProcessTransport.

    class Cat(marline.ProcessProtocol):
        def connection_made(self):
            self.transport.write(b"hello")
            self.transport.close_stdin()
        def out_received(self, data): ...
        def process_ended(self, reason): ...   # reason.exit_code / reason.signal

    reactor.spawn_process(Cat(), "cat", ["cat"])

``child_fds`` maps child descriptors as Twisted's does: ``"r"`` the child reads (we write
with write_to_child), ``"w"`` the child writes (child_data_received), an int: the child
gets a copy of that descriptor of ours. Default: {0: "r", 1: "w", 2: "w"}.
"""

from ctypes import byref, c_char_p, c_int32, c_void_p, string_at

from . import _core, _lib
from ._core import MarlineError, Reason, Transport, _forget, _guarded, _lookup, _register, call
from ._lib import lib

TO_CHILD, FROM_CHILD, INHERIT = 0, 1, 2


class ProcessProtocol:
    """Override what you need. ``self.transport`` (a ProcessTransport) is set before
    connection_made."""

    transport = None
    reactor = None

    def make_connection(self, transport):
        self.transport = transport
        self.connection_made()

    def connection_made(self):
        pass

    def child_data_received(self, fd, data):
        if fd == 1:
            self.out_received(data)
        elif fd == 2:
            self.err_received(data)

    def out_received(self, data):
        pass

    def err_received(self, data):
        pass

    def child_connection_lost(self, fd):
        pass

    def process_exited(self, reason):
        """The child was reaped (its pipes may still be open)."""

    def process_ended(self, reason):
        """The child was reaped and every pipe closed; the transport is stale after this."""


class ProcessTransport(Transport):
    """A child process: Transport.write goes to its stdin."""

    def write(self, data):
        self.write_to_child(0, data)

    def write_to_child(self, fd, data):
        data = bytes(data)
        call("process_write_to_child", self._h, int(fd), data, len(data))

    def close_child_fd(self, fd):
        call("process_close_child_fd", self._h, int(fd))

    def close_stdin(self):
        call("process_close_stdin", self._h)

    def signal_process(self, sig):
        """Sends a signal: a number, or a name ("TERM", "SIGKILL", "hup")."""
        if isinstance(sig, str):
            call("process_signal_by_name", self._h, sig.encode())
        else:
            call("process_signal", self._h, int(sig))

    @property
    def pid(self):
        pid = c_int32()
        call("process_get_pid", self._h, byref(pid))
        return pid.value

    def set_window_size(self, rows, cols):
        call("process_set_window_size", self._h, int(rows), int(cols))


def _proc(t, user):
    conn = _lookup(user)
    if conn is not None and conn.transport is None:
        conn.transport = ProcessTransport(conn.reactor, t)
    return conn


@_guarded
def _on_made(t, user):
    conn = _proc(t, user)
    if conn is not None:
        conn.protocol.make_connection(conn.transport)


@_guarded
def _on_child_data(t, fd, data, length, user):
    conn = _proc(t, user)
    if conn is not None:
        conn.protocol.child_data_received(fd, string_at(data, length))


@_guarded
def _on_child_lost(t, fd, user):
    conn = _proc(t, user)
    if conn is not None:
        conn.protocol.child_connection_lost(fd)


@_guarded
def _on_exited(t, reason, user):
    conn = _proc(t, user)
    if conn is not None:
        conn.protocol.process_exited(Reason._from_c(reason))


@_guarded
def _on_ended(t, reason, user):
    conn = _proc(t, user)
    if conn is None:
        return
    try:
        conn.protocol.process_ended(Reason._from_c(reason))
    finally:
        _forget(user)
        conn.reactor._connections.discard(user)


# Created once, kept for the life of the process.
_C = (_lib.made_cb(_on_made), _lib.child_data_cb(_on_child_data), _lib.child_lost_cb(_on_child_lost),
      _lib.lost_cb(_on_exited), _lib.lost_cb(_on_ended))
_TABLE = _lib.marline_process_protocol_t(*_C)


def _strings(items):
    if items is None:
        return None
    arr = (c_char_p * (len(items) + 1))()
    for i, s in enumerate(items):
        arr[i] = s if isinstance(s, bytes) else str(s).encode()
    arr[len(items)] = None
    return arr


def _env(env):
    return None if env is None else _strings([f"{k}={v}" for k, v in env.items()])


def _path(path):
    return None if path is None else str(path).encode()


def spawn(reactor, protocol, executable, args, env, path, use_pty, child_fds):
    args = list(args) if args else [executable]
    envp = _env(env)
    fd_map, n = None, 0
    if child_fds is not None:
        n = len(child_fds)
        fd_map = (_lib.marline_child_fd_t * max(n, 1))()
        for i, (child, how) in enumerate(sorted(child_fds.items())):
            if how == "r":
                fd_map[i] = _lib.marline_child_fd_t(child, TO_CHILD, -1)
            elif how == "w":
                fd_map[i] = _lib.marline_child_fd_t(child, FROM_CHILD, -1)
            else:
                fd_map[i] = _lib.marline_child_fd_t(child, INHERIT, int(how))
    protocol.reactor = reactor
    conn = _core._Connection(reactor, protocol, ProcessTransport)
    conn.token = _register(conn)
    out = c_void_p()
    status = lib.reactor_spawn_process(
        reactor._h, executable.encode(), _strings(args), envp,
        _path(path), fd_map, n, bool(use_pty), byref(_TABLE), c_void_p(conn.token), byref(out))
    if status != 0:
        _forget(conn.token)
        raise MarlineError("reactor_spawn_process", status)
    reactor._connections.add(conn.token)
    if conn.transport is None:
        conn.transport = ProcessTransport(reactor, out.value)
    _core._scheduled()
    return conn.transport


# ----- bridges -----


class Bridge:
    """Runs a command for a connection, as an SSH session does (process_bridge): what
    the connection sends is fed to the command's stdin (``feed``, ``remote_eof``), what
    the command writes goes to the connection, flow-controlled both ways; when the
    command ends, the connection is closed after its output. Subclass it for what the
    bridge reports: ``extended_data`` (stderr, unless merged), ``exit_status`` or
    ``exit_signal``, then ``process_ended``.

        class Session(marline.Protocol):
            def connection_made(self):
                self.bridge = marline.process.Bridge(self.transport)
                self.bridge.spawn("/bin/sh", ["sh", "-c", "tr a-z A-Z"])
            def data_received(self, data):
                self.bridge.feed(data)
            def connection_lost(self, reason):
                self.bridge.close()

    (A protocol that half-closes would call ``remote_eof`` on its read side's end.)
    """

    def __init__(self, transport, merge_stderr=False):
        self.reactor = transport.reactor
        self.remote = transport
        self._token = _register(self)
        self._spawned = False
        out = c_void_p()
        status = lib.process_bridge(transport._h, bool(merge_stderr), byref(_BRIDGE_TABLE), c_void_p(self._token),
                                    byref(out))
        if status != 0:
            _forget(self._token)
            raise MarlineError("process_bridge", status)
        self._h = out
        self.reactor._connections.add(self._token)

    def feed(self, data):
        """Data from the connection for the command's stdin (buffered until spawn)."""
        data = bytes(data)
        call("process_bridge_feed", self._h, data, len(data))

    def remote_eof(self):
        """The connection sent EOF: the command's stdin closes once what was fed is written."""
        call("process_bridge_remote_eof", self._h)

    def spawn(self, executable, args=None, env=None, path=None, use_pty=False, window_size=None):
        """Starts the command (once) and returns its ProcessTransport. ``window_size``
        (rows, cols) starts it on a pty of that size."""
        args = list(args) if args else [executable]
        out = c_void_p()
        if window_size is not None:
            rows, cols = window_size
            status = lib.process_bridge_spawn_pty(self._h, executable.encode(), _strings(args), _env(env),
                                                  _path(path), int(rows), int(cols), byref(out))
        else:
            status = lib.process_bridge_spawn(self._h, executable.encode(), _strings(args), _env(env), _path(path),
                                              bool(use_pty), byref(out))
        if status != 0:
            raise MarlineError("process_bridge_spawn", status)
        self._spawned = True
        _core._scheduled()
        return ProcessTransport(self.reactor, out.value)

    def close(self):
        """The connection is gone: closes the command's pipes (no signal). The bridge still
        reports the command's end."""
        call("process_bridge_close", self._h)
        if not self._spawned:  # nothing left to report
            self._forget()

    def _forget(self):
        _forget(self._token)
        self.reactor._connections.discard(self._token)

    # What the bridge reports; override what you need.

    def extended_data(self, data):
        """The command wrote ``data`` on stderr (when not merged)."""

    def exit_status(self, code):
        """The command exited with ``code``."""

    def exit_signal(self, signal_name, core_dumped):
        """A signal (its name without "SIG") killed the command."""

    def process_ended(self, reason):
        """The command ended; the connection is closed next."""


@_guarded
def _on_bridge_data(_b, _remote, data, length, user):
    bridge = _lookup(user)
    if bridge is not None:
        bridge.extended_data(string_at(data, length))


@_guarded
def _on_bridge_status(_b, _remote, code, user):
    bridge = _lookup(user)
    if bridge is not None:
        bridge.exit_status(code)


@_guarded
def _on_bridge_signal(_b, _remote, name, core_dumped, user):
    bridge = _lookup(user)
    if bridge is not None:
        bridge.exit_signal(name.decode(), bool(core_dumped))


@_guarded
def _on_bridge_ended(_b, _remote, reason, user):
    bridge = _lookup(user)
    if bridge is None:
        return
    try:
        bridge.process_ended(Reason._from_c(reason))
    finally:
        bridge._forget()  # C reports nothing after this


_BRIDGE_TABLE = _lib.marline_bridge_callbacks_t(
    _lib.bridge_data_cb(_on_bridge_data), _lib.bridge_status_cb(_on_bridge_status),
    _lib.bridge_signal_cb(_on_bridge_signal), _lib.bridge_ended_cb(_on_bridge_ended))


__all__ = ["Bridge", "ProcessProtocol", "ProcessTransport"]
