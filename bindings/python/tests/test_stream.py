"""Blocking MacTCP-style streams (marline.stream.TcpStream over tcp_stream_*): passive and
active open, data and urgent data with exact flags, the notification routine, close,
status and a freed handle. Ports cases of tests/stream_open.rs, stream_transfer.rs and
stream_ffi.rs to the binding."""

import threading
import time

import pytest

import marline
from marline.stream import StreamEvent, StreamState, TcpStream, TerminateReason


def eventually(predicate, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.005)


def connected():
    """A server stream (passive open, with a recording asr) and a client connected to it."""
    events = []
    server = TcpStream()
    server.set_asr(lambda event, detail: events.append((event, detail)))
    server.passive_open(0)
    assert not server.is_done()
    port = server.get_sock_name().port
    assert server.get_sock_name().host == "0.0.0.0" and port > 0
    client = TcpStream()
    client.active_open("127.0.0.1", port, timeout=5)
    server.wait(5)
    assert server.is_done()
    eventually(lambda: events, "PASSIVE_OPEN_DONE")
    return server, client, events


def test_open_send_receive_urgent_close():
    server, client, events = connected()
    with server, client:
        assert events == [(StreamEvent.PASSIVE_OPEN_DONE, 0)]
        st, cst = server.status(), client.status()
        assert (st.state, cst.state) == (StreamState.ESTABLISHED, StreamState.ESTABLISHED)
        assert st.local_host == st.remote_host == bytes([127, 0, 0, 1])
        assert (st.local_port, st.remote_port) == (cst.remote_port, cst.local_port)
        assert server.get_sock_name().port == st.local_port

        client.send(b"plain data", push=True)
        assert server.rcv(5) == (b"plain data", False, False)
        # Urgent: the data before the mark (the urgent flag on its first piece), then
        # the urgent byte alone (the mark flag); a lone urgent byte has both.
        client.send(b"hey", push=True, urgent=True)
        assert server.rcv(5, cap=8) == (b"he", True, False)
        assert server.rcv(5, cap=8) == (b"y", False, True)
        client.send(b"!", push=True, urgent=True)
        assert server.rcv(5, cap=8) == (b"!", True, True)
        server.send(b"back", push=True)
        assert client.rcv(5) == (b"back", False, False)

        with pytest.raises(marline.MarlineError) as e:
            server.rcv(0.01)
        assert e.value.status == marline.Status.TIMED_OUT

        client.close(5)
        with pytest.raises(marline.MarlineError) as e:
            client.send(b"late")
        assert e.value.status == marline.Status.CLOSED
        with pytest.raises(marline.MarlineError) as e:
            server.rcv(5)
        assert e.value.status == marline.Status.CONNECTION_CLOSING
        eventually(lambda: (StreamEvent.CLOSING, 0) in events, "CLOSING")
        server.close(5)
        eventually(lambda: events[-1][0] == StreamEvent.TERMINATE, "TERMINATE")
        assert events[-1] == (StreamEvent.TERMINATE, TerminateReason.ULP_CLOSE)


def test_a_call_blocked_in_another_thread_returns_when_the_stream_is_aborted():
    server, client, events = connected()
    with server, client:
        got = {}

        def receive():
            try:
                server.rcv(10)
            except marline.MarlineError as e:
                got["status"] = e.status

        t = threading.Thread(target=receive)  # blocks in rcv with the GIL released
        t.start()
        time.sleep(0.05)
        server.abort()  # before or after rcv began to wait: TERMINATED either way
        t.join(10)
        assert not t.is_alive()
        assert got["status"] == marline.Status.TERMINATED
        eventually(lambda: len(events) == 2, "TERMINATE")
        assert events == [(StreamEvent.PASSIVE_OPEN_DONE, 0), (StreamEvent.TERMINATE, TerminateReason.ULP_ABORT)]


def test_passive_open_on_one_interface_and_the_ulp_timeout_setting():
    with TcpStream() as s:
        s.passive_open(0, interface="127.0.0.1")
        assert s.get_sock_name().host == "127.0.0.1"
    with TcpStream() as s:
        with pytest.raises(marline.MarlineError) as e:
            s.passive_open(0, interface="localhost")
        assert e.value.status == marline.Status.BAD_ADDRESS
        s.set_ulp_timeout(30, abort=True)
        s.set_ulp_timeout(0)
        with pytest.raises(marline.MarlineError) as e:
            s.set_ulp_timeout(-1)
        assert e.value.status == marline.Status.INVALID_ARGUMENT


def test_refused_open_and_a_freed_stream():
    events = []
    s = TcpStream()
    s.set_asr(lambda event, detail: events.append((event, detail)))
    probe = TcpStream()
    probe.passive_open(0)
    port = probe.get_sock_name().port
    probe.free()  # nobody listens there now
    with pytest.raises(marline.MarlineError) as e:
        s.active_open("127.0.0.1", port, timeout=5)
    assert e.value.status == marline.Status.REFUSED
    eventually(lambda: events, "TERMINATE")
    assert events == [(StreamEvent.TERMINATE, TerminateReason.REMOTE_ABORT)]
    s.free()
    s.free()
    with pytest.raises(marline.MarlineError) as e:
        s.status()
    assert e.value.status == marline.Status.STALE_HANDLE
