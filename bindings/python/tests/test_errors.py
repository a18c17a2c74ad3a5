"""Bad handles and other misuse raise MarlineError with the C status, never crash; a
library of another version is refused at import."""

import errno
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import marline
from marline import MarlineError, Status


def test_stale_transport_raises(reactor):
    lost = []

    class Quick(marline.Protocol):
        def connection_made(self):
            self.transport.lose_connection()

        def connection_lost(self, reason):
            lost.append(self.transport)

    port = reactor.listen_tcp(0, marline.Protocol)
    reactor.connect_tcp("127.0.0.1", port.port, Quick)
    assert reactor.run_until(lambda: lost)
    with pytest.raises(MarlineError) as e:
        lost[0].write(b"too late")
    assert e.value.status == Status.STALE_HANDLE
    assert e.value.function == "transport_write"
    assert "MARLINE_ERR_STALE_HANDLE" in str(e.value)
    assert "closed or was never valid" in str(e.value)
    for method in (lost[0].lose_connection, lost[0].abort_connection, lost[0].get_peer):
        with pytest.raises(MarlineError):
            method()


def test_forged_and_null_handles(reactor):
    with pytest.raises(MarlineError) as e:
        marline.Transport(reactor, 12345).write(b"x")
    assert e.value.status == Status.WRONG_HANDLE_TYPE
    with pytest.raises(MarlineError) as e:
        marline.Transport(reactor, None).write(b"x")
    assert e.value.status == Status.NULL_POINTER
    # A reactor handle where a transport is expected.
    with pytest.raises(MarlineError) as e:
        marline.Transport(reactor, reactor.handle).lose_connection()
    assert e.value.status == Status.WRONG_HANDLE_TYPE


def test_closed_reactor_raises():
    r = marline.Reactor()
    r.close()
    r.close()  # idempotent
    for action in (r.run, lambda: r.run_once(0), lambda: r.call_later(1, print), r.stop, r.backend_fd,
                   lambda: r.listen_tcp(0, marline.Protocol)):
        with pytest.raises(MarlineError) as e:
            action()
        assert e.value.status == Status.STALE_HANDLE


def test_reactor_from_another_thread(reactor):
    caught = []

    def other():
        try:
            reactor.call_later(1, print)
        except MarlineError as e:
            caught.append(e.status)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert caught == [Status.WRONG_THREAD]


def test_listen_errors(reactor):
    port = reactor.listen_tcp(0, marline.Protocol)
    with pytest.raises(MarlineError) as e:
        reactor.listen_tcp(port.port, marline.Protocol)
    assert e.value.status == Status.ADDRESS_IN_USE
    assert e.value.errno == errno.EADDRINUSE, "the errno behind the failure"
    assert str(e.value).endswith(f"(MARLINE_ERR_ADDRESS_IN_USE; {os.strerror(errno.EADDRINUSE)})")
    with pytest.raises(MarlineError) as e:
        reactor.listen_tcp(0, marline.Protocol, interface="not an address")
    assert e.value.status == Status.BAD_ADDRESS
    assert e.value.errno == 0, "no system call failed"
    with pytest.raises(MarlineError) as e:
        reactor.listen_tcp(70000, marline.Protocol)
    assert e.value.status == Status.INVALID_ARGUMENT
    port.stop_listening()
    with pytest.raises(MarlineError) as e:
        port.stop_listening()
    assert e.value.status == Status.STALE_HANDLE


def test_write_needs_bytes(reactor):
    with pytest.raises(TypeError):
        marline.Transport(reactor, 1).write("text is not bytes")


def test_strerror_and_version():
    assert marline.strerror(0) == "success"
    assert marline.strerror(99999) == "unknown status"
    assert marline.version().count(".") == 2


def import_with(lib):
    """`import marline` in a new interpreter with MARLINE_LIB=lib: (exit code, stderr)."""
    env = dict(os.environ, MARLINE_LIB=str(lib))
    out = subprocess.run([sys.executable, "-c", "import marline"], env=env, capture_output=True, text=True,
                         cwd=Path(marline.__file__).parents[1], timeout=60)
    return out.returncode, out.stderr


def test_a_library_of_another_version_is_refused(tmp_path):
    src = tmp_path / "other.c"
    src.write_text('const char *marline_version(void) { return "9.9.9"; }\n')
    other = tmp_path / "libother.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(other), str(src)], check=True)
    code, err = import_with(other)
    assert code == 1
    assert f"ImportError: marline: {other} is libmarline 9.9.9, but this binding is {marline.__version__}" in err


def test_a_library_without_marline_version_is_refused():
    code, err = import_with("libc.so.6")
    assert code == 1
    assert "ImportError: marline: libc.so.6 is libmarline none (no marline_version)" in err
