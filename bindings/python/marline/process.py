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


if _lib.HAVE_PROCESS:
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


def spawn(reactor, protocol, executable, args, env, path, use_pty, child_fds):
    if not _lib.HAVE_PROCESS:
        raise NotImplementedError("this libmarline has no process API (reactor_spawn_process)")
    args = list(args) if args else [executable]
    envp = None if env is None else _strings([f"{k}={v}" for k, v in env.items()])
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
        None if path is None else str(path).encode(),
        fd_map, n, bool(use_pty), byref(_TABLE), c_void_p(conn.token), byref(out))
    if status != 0:
        _forget(conn.token)
        raise MarlineError("reactor_spawn_process", status)
    reactor._connections.add(conn.token)
    if conn.transport is None:
        conn.transport = ProcessTransport(reactor, out.value)
    return conn.transport


__all__ = ["ProcessProtocol", "ProcessTransport"]
