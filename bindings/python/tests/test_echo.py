"""TCP: a Python echo server driven by the C echo_client example, Python to Python,
refused connections, and the runnable example's contract."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import marline


class Echo(marline.Protocol):
    connections = 0

    def connection_made(self):
        Echo.connections += 1
        self.transport.set_tcp_nodelay(True)
        self.transport.register_reading_as_producer()

    def data_received(self, data):
        self.transport.write(data)


def run_client(reactor, argv, stdin=None):
    """Runs the C client as a subprocess while the reactor serves it."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    import threading
    result = {}

    def communicate():
        result["out"], result["err"] = proc.communicate(stdin, timeout=30)

    t = threading.Thread(target=communicate)
    t.start()
    assert reactor.run_until(lambda: not t.is_alive(), timeout=30)
    t.join()
    return proc.returncode, result["out"], result["err"]


def test_python_echo_server_with_the_c_client(reactor, echo_client):
    port = reactor.listen_tcp(0, Echo)
    assert port.port > 0
    assert port.get_host() == marline.Address(4, "127.0.0.1", port.port, f"127.0.0.1:{port.port}")
    code, out, err = run_client(reactor, [echo_client, str(port.port), "hello", "from", "python"])
    assert (code, out) == (0, b"hello from python\n"), err

    data = os.urandom(1 << 20)
    code, out, err = run_client(reactor, [echo_client, str(port.port)], stdin=data)
    assert code == 0, err
    assert out == data


def test_python_client_and_server(reactor):
    events = []

    class Client(marline.Protocol):
        def connection_made(self):
            events.append(("made", self.transport.get_peer().port))
            self.transport.write_sequence([b"one ", b"two ", b"three"])
            self.received = b""

        def data_received(self, data):
            self.received += data
            if self.received == b"one two three":
                self.transport.lose_connection()

        def connection_lost(self, reason):
            events.append(("lost", reason.kind, self.received))

    port = reactor.listen_tcp(0, Echo)
    t = reactor.connect_tcp("127.0.0.1", port.port, Client, timeout=5)
    assert isinstance(t, marline.Transport)
    assert reactor.run_until(lambda: len(events) == 2)
    assert events == [("made", port.port), ("lost", marline.ReasonKind.DONE, b"one two three")]


def test_connection_refused(reactor):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    free = s.getsockname()[1]
    s.close()
    failures = []

    class Client(marline.Protocol):
        def connection_failed(self, reason):
            failures.append(reason)

    reactor.connect_tcp("127.0.0.1", free, Client, timeout=5)
    assert reactor.run_until(lambda: failures)
    assert failures[0].kind == marline.ReasonKind.REFUSED
    assert not failures[0].clean


def test_factory_objects_and_close_delivers_shutdown(reactor):
    lost = []

    class Held(marline.Protocol):
        def connection_lost(self, reason):
            lost.append(reason.kind)

    class Factory:
        def build_protocol(self, addr):
            return Held()

    port = reactor.listen_tcp(0, Factory())
    c = socket.create_connection(("127.0.0.1", port.port))
    reactor.run_until(lambda: False, timeout=0.2)
    reactor.close()
    c.close()
    assert lost == [marline.ReasonKind.SHUTDOWN]


def test_example_echo_server_contract():
    example = Path(__file__).resolve().parents[1] / "examples" / "echo_server.py"
    proc = subprocess.Popen([sys.executable, str(example), "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("listening on 127.0.0.1:"), (line, proc.stderr.read() if proc.poll() is not None else "")
        port = int(line.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"through the example\n")
            s.shutdown(socket.SHUT_WR)
            back = b""
            while chunk := s.recv(4096):
                back += chunk
        assert back == b"through the example\n"
        busy = subprocess.run([sys.executable, str(example), str(port)], capture_output=True, timeout=30)
        assert busy.returncode == 1
        assert b"the address is already in use" in busy.stderr
        usage = subprocess.run([sys.executable, str(example), "x"], capture_output=True, timeout=30)
        assert usage.returncode == 2
        assert b"usage: echo_server.py [PORT]" in usage.stderr
    finally:
        proc.kill()
        proc.wait()


def test_reading_as_producer_pauses_a_peer_that_does_not_read(reactor):
    port = reactor.listen_tcp(0, Echo)
    peer = socket.create_connection(("127.0.0.1", port.port))
    peer.setblocking(False)
    data = os.urandom(1 << 20) * 128
    sent, stalled = 0, 0
    while sent < len(data) and stalled < 200:
        try:
            sent += peer.send(data[sent:sent + 65536])
            stalled = 0
        except BlockingIOError:
            stalled += 1
        reactor.run_once(0.001)
    assert sent < len(data), "the server read everything: no flow control"
    peer.setblocking(True)
    got = bytearray()

    def read_all():
        while len(got) < sent:
            chunk = peer.recv(1 << 20)
            if not chunk:
                break
            got.extend(chunk)

    import threading
    reader = threading.Thread(target=read_all)
    reader.start()
    assert reactor.run_until(lambda: not reader.is_alive(), timeout=30)
    assert bytes(got) == data[:sent]
    peer.close()
